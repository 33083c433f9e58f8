#!/usr/bin/env bash
# The recipe of pretrained:ao-diffusion: a few-step diffusion model refining pretrained:ao (the scaled
# GAN; the U-Net reads the same scaled inputs), with a calibrated uncertainty. Usage: scripts/pretrain_diffusion.sh [OUT] (default pretrain_diffusion_out).
# Every step resumes when run again. About 25 min of rendering and 50 min of training on 2 cores.
#
# The training scenes are seeds the GAN never saw (500..), so the residuals the U-Net learns are the
# GAN's errors on unseen scenes. AO targets are rendered at 512 spp (the other passes at 4 spp: only
# the AO targets and the G-buffer are read): a diffusion model learns the distribution of its targets,
# Monte Carlo noise included, and 64-spp targets made its draws noisy (docs/models.md, "Few-step diffusion").
set -euo pipefail
OUT=${1:-pretrain_diffusion_out}
ITERS=${ITERS:-8000}
NR=${NR:-.venv/bin/neurender}
CBOX=scenes/third_party/cbox/cbox-rgb.xml
LOW="--res 128 --spp 4 --spp-direct 1 --workers 2"

$NR generate forest objects room studio --count 8 --views 8 --step-deg 45 --spp-ao 512 --seed 500 $LOW --out "$OUT/train"
# validation (calibration) and test scenes: other seeds, converged AO references
$NR generate forest objects room studio --count 2 --views 2 --step-deg 180 --spp-ao 1024 --seed 2000 $LOW --out "$OUT/val"
$NR generate forest objects room studio --count 2 --views 2 --step-deg 180 --spp-ao 1024 --seed 1000 $LOW --out "$OUT/test"
$NR generate "$CBOX" --views 2 --spp-ao 1024 $LOW --out "$OUT/cbox"

run="$OUT/runs/ao-diffusion"
resume=(); [ -f "$run/checkpoint.safetensors" ] && resume=(--resume)
$NR train --model diffusion --effect ao --inputs scaled --first-guess pretrained:ao --data "$OUT/train" --out "$run" --iters "$ITERS" \
    --crop 64 --batch 8 --unet.base-channels 64 --unet.patch 4 --unet.channel-mults 1 2 2 --unet.attention-levels 2 \
    --diffusion.data-scale 5 --test-fraction 0.05 --sample-every 500 --checkpoint-every 250 --sample-steps 4 --sampler mean \
    "${resume[@]}"

shipped=${SHIP:-neurender/pretrained}/ao-diffusion
$NR export --checkpoint "$run" --format shipped --out "$shipped"
$NR calibrate --checkpoint "$shipped" --data "$OUT/val" --samples 8
for data in test cbox; do
  $NR evaluate --data "$OUT/$data" --effect ao --method gtao pretrained:ao "$shipped" --samples 8 \
      --out "$OUT/eval/ao-diffusion-$data"
done
$NR export --checkpoint "$run" --format shipped --out "$shipped" \
    --eval "$OUT/eval/ao-diffusion-test" "$OUT/eval/ao-diffusion-cbox" --notes "$shipped/NOTES.md"
