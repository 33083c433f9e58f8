#!/usr/bin/env bash
# The ablation of docs/training.md "What a network reads": the same AO GAN, data and steps with --inputs gbuffer
# and --inputs scaled, scored with GTAO on the held-out seeds and the Cornell box of scripts/pretrain.sh.
# Usage: scripts/ablate_inputs.sh [OUT] (the OUT of scripts/pretrain.sh, which renders the data; default
# pretrain_out). ITERS steps per arm (default 1000). Every step resumes when run again.
set -euo pipefail
OUT=${1:-pretrain_out}
ITERS=${ITERS:-1000}
NR=${NR:-.venv/bin/neurender}
for inputs in gbuffer scaled; do
  run="$OUT/ablation/ao-$inputs"
  $NR train --model acgan --effect ao --inputs "$inputs" --data "$OUT/train_a" "$OUT/train_b" "$OUT/train_c" \
      --out "$run" --iters "$ITERS" --crop 64 --batch 8 --downscale 1 2 --width 32 --ema 0.999 \
      --test-fraction 0.05 --sample-every 500 --checkpoint-every 250
done
for data in test cbox; do
  $NR evaluate --data "$OUT/$data" --effect ao --method gtao "$OUT/ablation/ao-gbuffer" "$OUT/ablation/ao-scaled" \
      --split all --no-path-tracer --out "$OUT/ablation/eval-$data"
done
