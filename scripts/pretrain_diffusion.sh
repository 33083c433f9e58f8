#!/usr/bin/env bash
# The recipe of pretrained:EFFECT-diffusion: a few-step diffusion model refining the shipped GAN
# pretrained:EFFECT (the U-Net reads the same scaled, balanced inputs), with a calibrated uncertainty.
# Usage: scripts/pretrain_diffusion.sh [EFFECT [OUT]] (EFFECT ao, fog or gi; default ao and
# pretrain_diffusion_out/EFFECT). Every step resumes when run again. AO: about 5 min of rendering
# and 26 min of training on 2 cores; fog and GI render their targets at 256 spp (about 20 min).
# Budget knobs (environment): ITERS steps, COUNT scenes per family, SHIP the folder the model is packed
# into (default neurender/pretrained), FIRST the GAN refined (default pretrained:EFFECT).
#
# The training scenes are seeds the GAN never saw (500..), so the residuals the U-Net learns are the
# GAN's errors on unseen scenes. The targets are rendered near convergence (AO at 512 spp with the
# other passes at 4 spp, since only the AO targets and the G-buffer are read; fog and GI at 256 spp,
# the fog-free RGB and the direct light being inputs): a diffusion model learns the distribution of
# its targets, Monte Carlo noise included, and 64-spp targets made its draws noisy (docs/models.md,
# "Few-step diffusion").
set -euo pipefail
EFFECT=${1:-ao}
OUT=${2:-pretrain_diffusion_out/$EFFECT}
ITERS=${ITERS:-8000}
COUNT=${COUNT:-8}
SHIP=${SHIP:-neurender/pretrained}
FIRST=${FIRST:-pretrained:$EFFECT}
NR=${NR:-.venv/bin/neurender}
CBOX=scenes/third_party/cbox/cbox-rgb.xml
FAMILIES="forest objects room studio"
declare -A BASELINE=([ao]=gtao [fog]=fog-analytic [gi]=gi-ambient)  # the classic method to beat
declare -A TRAIN_SPP=([ao]="--spp 4 --spp-direct 1 --spp-ao 512" [fog]="--spp 256" [gi]="--spp 256")
declare -A TEST_SPP=([ao]="--spp 4 --spp-direct 1 --spp-ao 1024" [fog]="--spp 512" [gi]="--spp 512")
[ -n "${BASELINE[$EFFECT]:-}" ] || { echo "error: EFFECT must be ao, fog or gi, got $EFFECT" >&2; exit 2; }
LOW="--res 128 --workers 2"

$NR generate $FAMILIES --count "$COUNT" --views 8 --step-deg 45 --seed 500 ${TRAIN_SPP[$EFFECT]} $LOW \
    --out "$OUT/train"
# validation (calibration) and test scenes: other seeds, converged references
$NR generate $FAMILIES --count 2 --views 2 --step-deg 180 --seed 2000 ${TEST_SPP[$EFFECT]} $LOW --out "$OUT/val"
$NR generate $FAMILIES --count 2 --views 2 --step-deg 180 --seed 1000 ${TEST_SPP[$EFFECT]} $LOW --out "$OUT/test"
$NR generate "$CBOX" --views 2 ${TEST_SPP[$EFFECT]} $LOW --out "$OUT/cbox"

name="$EFFECT-diffusion"
run="$OUT/runs/$name"
resume=(); [ -f "$run/checkpoint.safetensors" ] && resume=(--resume)
$NR train --model diffusion --effect "$EFFECT" --inputs scaled --first-guess "$FIRST" --data "$OUT/train" --out "$run" \
    --iters "$ITERS" --crop 64 --batch 8 --unet.base-channels 64 --unet.patch 4 --unet.channel-mults 1 2 2 \
    --unet.attention-levels 2 --diffusion.data-scale 5 --test-fraction 0.05 --sample-every 500 \
    --checkpoint-every 250 --sample-steps 4 --sampler mean "${resume[@]}"

shipped="$SHIP/$name"
notes=(); [ -f "$shipped/NOTES.md" ] && notes=(--notes "$shipped/NOTES.md")
$NR export --checkpoint "$run" --format shipped --out "$shipped" --card-sizes 256 512 1080p
$NR calibrate --checkpoint "$shipped" --data "$OUT/val" --samples 8
for data in test cbox; do
  $NR evaluate --data "$OUT/$data" --effect "$EFFECT" --method "${BASELINE[$EFFECT]}" "$FIRST" "$shipped" --samples 8 \
      --out "$OUT/eval/$name-$data"
done
$NR export --checkpoint "$run" --format shipped --out "$shipped" --card-sizes 256 512 1080p \
    --eval "$OUT/eval/$name-test" "$OUT/eval/$name-cbox" "${notes[@]}"
