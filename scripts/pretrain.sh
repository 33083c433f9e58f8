#!/usr/bin/env bash
# The recipe of the shipped predictors (neurender/pretrained/*): data, training, evaluation, packing.
# Usage: scripts/pretrain.sh [OUT] (default pretrain_out). Every step resumes when run again.
# Budget knobs (environment): COUNT scenes per family, ITERS steps per model, WIDTH network width,
# TEST_SPP the spp of the held-out references. The defaults are the shipped models' recipe (about
# 1.5 h of rendering and 1 h of training per model on 2 cores).
set -euo pipefail
OUT=${1:-pretrain_out}
COUNT=${COUNT:-6}
ITERS=${ITERS:-8000}
WIDTH=${WIDTH:-32}
TEST_SPP=${TEST_SPP:-256}
NR=${NR:-.venv/bin/neurender}
CBOX=scenes/third_party/cbox/cbox-rgb.xml

# training data: COUNT seeds of every family, 8 views each, 128 px, 64 spp (two datasets: the
# studio family was added later, and `train --data` reads both)
$NR generate forest objects room --count "$COUNT" --views 8 --step-deg 45 --res 128 --spp 64 --seed 0 \
    --workers 1 --out "$OUT/train"
$NR generate studio --count "$COUNT" --views 8 --step-deg 45 --res 128 --spp 64 --seed 0 \
    --workers 1 --out "$OUT/studio"
# held-out test data: other seeds (1000) of the built-in families, and the Cornell box, at TEST_SPP
$NR generate forest objects room --count 2 --views 2 --step-deg 180 --res 128 --spp "$TEST_SPP" --seed 1000 \
    --workers 1 --out "$OUT/test"
$NR generate "$CBOX" --views 2 --res 128 --spp "$TEST_SPP" --workers 1 --out "$OUT/cbox"

declare -A BASELINE=([ao]=gtao [fog]=fog-analytic [gi]=gi-ambient)  # the classic method to beat
for effect in ao fog gi; do
  run="$OUT/runs/$effect"
  resume=(); [ -f "$run/checkpoint.safetensors" ] && resume=(--resume)
  $NR train --model acgan --effect "$effect" --data "$OUT/train" "$OUT/studio" --out "$run" --iters "$ITERS" \
      --crop 64 --batch 8 --width "$WIDTH" --test-fraction 0.05 --sample-every 500 --checkpoint-every 250 \
      "${resume[@]}"
  for data in test cbox; do
    $NR evaluate --data "$OUT/$data" --effect "$effect" --method "${BASELINE[$effect]}" "$run" --split all \
        --out "$OUT/eval/$effect-$data"
  done
  $NR export --checkpoint "$run" --format shipped --out "neurender/pretrained/$effect" \
      --eval "$OUT/eval/$effect-test" "$OUT/eval/$effect-cbox" --notes "neurender/pretrained/$effect/NOTES.md"
done
