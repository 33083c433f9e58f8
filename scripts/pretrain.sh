#!/usr/bin/env bash
# The recipe of the shipped predictors (neurender/pretrained/*): data, training, evaluation, packing.
# Usage: scripts/pretrain.sh [OUT] (default pretrain_out). Every step resumes when run again.
# Budget knobs (environment): COUNT scenes per family, ITERS steps per model, WIDTH network width.
set -euo pipefail
OUT=${1:-pretrain_out}
COUNT=${COUNT:-6}
ITERS=${ITERS:-6000}
WIDTH=${WIDTH:-32}
FAMILIES=${FAMILIES:-forest objects room}
NR=${NR:-.venv/bin/neurender}
CBOX=../shared/scenes/third_party/cbox/cbox-rgb.xml

# training data: COUNT seeds of every family, 8 views each, 128 px, 64 spp
$NR generate $FAMILIES --count "$COUNT" --views 8 --step-deg 45 --res 128 --spp 64 --seed 0 \
    --workers 1 --out "$OUT/train"
# held-out test data with converged references: other seeds (seed 1000), and the Cornell box, 512 spp
$NR generate $FAMILIES --count 1 --views 4 --step-deg 90 --res 128 --spp 512 --seed 1000 \
    --workers 1 --out "$OUT/test"
$NR generate "$CBOX" --views 4 --res 128 --spp 512 --workers 1 --out "$OUT/cbox"

declare -A BASELINE=([ao]=gtao [fog]=fog-analytic [gi]=gi-ambient)  # the classic method to beat
for effect in ao fog gi; do
  run="$OUT/runs/$effect"
  resume=(); [ -f "$run/checkpoint.safetensors" ] && resume=(--resume)
  $NR train --model acgan --effect "$effect" --data "$OUT/train" --out "$run" --iters "$ITERS" \
      --res 64 --batch 8 --width "$WIDTH" --test-fraction 0.05 --sample-every 500 --checkpoint-every 250 \
      "${resume[@]}"
  for data in test cbox; do
    $NR evaluate --data "$OUT/$data" --effect "$effect" --method "${BASELINE[$effect]}" "$run" --split all \
        --out "$OUT/eval/$effect-$data"
  done
  $NR export --checkpoint "$run" --format shipped --out "neurender/pretrained/$effect" \
      --eval "$OUT/eval/$effect-test" "$OUT/eval/$effect-cbox"
done
