#!/usr/bin/env bash
# The recipe of the shipped scaled GANs (neurender/pretrained/{ao,fog,gi}): data, training, evaluation, packing.
# Usage: scripts/pretrain.sh [OUT [EFFECT...]] (default pretrain_out, ao fog gi). Every step
# resumes when run again. Once the data is rendered (the first run renders it; about 15 min on 2
# cores), one run per effect can go in parallel: scripts/pretrain.sh OUT ao & scripts/pretrain.sh OUT fog &
# Budget knobs (environment): ITERS steps per model, WIDTH network width, TEST_SPP the spp of the
# held-out references; SHIP the folder the models are packed into (default neurender/pretrained).
# The fast tier (pretrained:NAME-fast, docs/models.md "Fast tier"): MODEL=fast INPUTS=derived SUFFIX=-fast
# EXTRA="--lr 1e-3" scripts/pretrain.sh OUT ao (EXTRA: more train flags; SUFFIX: of the run and shipped name;
# ao-fast: ITERS=6000 DATASETS="train_a train_b train_c train_p" EXTRA="--lr 1e-3 --betas 0.9 0.999");
# fog-fast and gi-fast: the same with ITERS=12000 and EXTRA="--lr 1e-3 --betas 0.9 0.999 --fast.context-blocks 4"
# (fog: and --fast.attention-pool 4), recipes in their NOTES.md.
# The shipped fog and GI GANs: ITERS=4000 OMP_NUM_THREADS=1 scripts/pretrain.sh OUT fog (and gi), side by side.
# The shipped AO GAN (pretrained:ao) is this recipe's ao run fine-tuned twice, over GTAO and then over
# gtao-half (INPUTS=derived, --init): the commands are in the cards of pretrained:ao-gtao and pretrained:ao.
# The shipped GI GAN (pretrained:gi) is this recipe's gi run fine-tuned twice, with its correction scaled by the
# albedo over gi-ambient and then over gi-flat (INPUTS=derived): the commands are in the cards of pretrained:gi-gtao and pretrained:gi.
#
# The networks read scaled inputs (neurender/training/inputs.py): the G-buffer, the AO radius in
# pixels or the fog's optical depth and transmittance, and the classic method's answer, over which
# they predict a residual. The data varies what decides the answer: field of view (30-90 deg),
# camera distance, AO radius (3, 5 and 8 % of the scene diagonal), fog density (fog scale 0.5, 1,
# 2.5) and resolution (96, 128, 160 px, and every view at half size too: --downscale 1 2).
set -euo pipefail
OUT=${1:-pretrain_out}
shift || true
EFFECTS=("$@"); [ ${#EFFECTS[@]} -eq 0 ] && EFFECTS=(ao fog gi)
ITERS=${ITERS:-5000}
WIDTH=${WIDTH:-32}
TEST_SPP=${TEST_SPP:-256}
SHIP=${SHIP:-neurender/pretrained}
MODEL=${MODEL:-acgan}
INPUTS=${INPUTS:-scaled}
SUFFIX=${SUFFIX:-}
read -r -a EXTRA <<< "${EXTRA:-}"
NR=${NR:-.venv/bin/neurender}
CBOX=scenes/third_party/cbox/cbox-rgb.xml
FAMILIES="forest objects room studio"

# training data (DATASETS, default train_a train_b train_c): datasets that differ in AO radius, fog density,
# resolution and framing; train_p holds third-party meshes (the pybullet family, the `assets` extra),
# train_pb/train_pw those meshes with every albedo 0 or 1, train_ps/train_pl with a small or large AO radius,
# train_pf in dense fog
DATASETS=${DATASETS:-train_a train_b train_c}
render() {
  case $1 in
    train_a) $NR generate $FAMILIES --count 5 --views 8 --step-deg 45 --res 128 --spp 64 --seed 0 --fov-deg 35:80 \
        --distance-scale 0.7:1.4 --workers 2 --out "$OUT/train_a" ;;
    train_b) $NR generate $FAMILIES --count 2 --views 6 --step-deg 60 --res 96 --spp 64 --seed 100 --fov-deg 30:70 \
        --distance-scale 0.6:1.2 --ao-radius-fraction 0.03 --fog-scale 2.5 --workers 2 --out "$OUT/train_b" ;;
    train_c) $NR generate $FAMILIES --count 2 --views 6 --step-deg 60 --res 160 --spp 64 --seed 200 --fov-deg 40:90 \
        --distance-scale 0.8:1.6 --ao-radius-fraction 0.08 --fog-scale 0.5 --workers 2 --out "$OUT/train_c" ;;
    train_p) $NR generate pybullet --count 32 --views 4 --step-deg 90 --res 128 --spp 64 --seed 3000 --fov-deg 35:80 \
        --distance-scale 0.7:1.4 --workers 2 --out "$OUT/train_p" ;;
    train_pb|train_pw) # the pybullet family with every diffuse albedo 0 (black) or 1 (white): issue 46's stress sets
      albedo=0; seed=3100; [ "$1" = train_pw ] && albedo=1 && seed=3200
      $NR generate pybullet --count 12 --views 4 --step-deg 90 --res 128 --spp 64 --seed "$seed" --fov-deg 35:80 \
        --distance-scale 0.7:1.4 --albedo "$albedo" --workers 2 --out "$OUT/$1" ;;
    train_ps|train_pl) # the pybullet family with an AO radius of 0.5 % and 15 % of the scene diagonal (issue 46)
      fraction=0.005; seed=3300; [ "$1" = train_pl ] && fraction=0.15 && seed=3400
      $NR generate pybullet --count 12 --views 4 --step-deg 90 --res 128 --spp 64 --seed "$seed" --fov-deg 35:80 \
        --distance-scale 0.7:1.4 --ao-radius-fraction "$fraction" --workers 2 --out "$OUT/$1" ;;
    train_pf) # the pybullet family in fog 15 times as dense as the default (issue 46)
      $NR generate pybullet --count 12 --views 4 --step-deg 90 --res 128 --spp 64 --seed 3500 --fov-deg 35:80 \
        --distance-scale 0.7:1.4 --fog-scale 15 --workers 2 --out "$OUT/train_pf" ;;
    *) echo "unknown dataset $1 (train_a, train_b, train_c, train_p, train_pb, train_pw, train_ps, train_pl, train_pf)" >&2; exit 2 ;;
  esac
}
DATA=()
for dataset in $DATASETS; do render "$dataset"; DATA+=("$OUT/$dataset"); done
# held-out test data: other seeds (1000) of every built-in family, and the Cornell box, at TEST_SPP
$NR generate $FAMILIES --count 2 --views 2 --step-deg 180 --res 128 --spp "$TEST_SPP" --seed 1000 --workers 2 \
    --out "$OUT/test"
$NR generate "$CBOX" --views 2 --res 128 --spp "$TEST_SPP" --workers 2 --out "$OUT/cbox"

declare -A BASELINE=([ao]=gtao [fog]=fog-analytic [gi]=gi-ambient)  # the classic method to beat
for effect in "${EFFECTS[@]}"; do
  name="$effect$SUFFIX"
  run="$OUT/runs/$name"
  resume=(); [ -f "$run/checkpoint.safetensors" ] && resume=(--resume)
  $NR train --model "$MODEL" --effect "$effect" --inputs "$INPUTS" --data "${DATA[@]}" \
      --out "$run" --iters "$ITERS" --crop 64 --batch 8 --downscale 1 2 --width "$WIDTH" --ema 0.999 \
      --test-fraction 0.05 --sample-every 500 --checkpoint-every 250 "${EXTRA[@]}" "${resume[@]}"
  for data in test cbox; do
    $NR evaluate --data "$OUT/$data" --effect "$effect" --method "${BASELINE[$effect]}" "$run" --split all \
        --out "$OUT/eval/$name-$data"
  done
  notes=(); [ -f "$SHIP/$name/NOTES.md" ] && notes=(--notes "$SHIP/$name/NOTES.md")
  $NR export --checkpoint "$run" --format shipped --out "$SHIP/$name" --card-sizes 256 512 1080p \
      --eval "$OUT/eval/$name-test" "$OUT/eval/$name-cbox" "${notes[@]}"
done
