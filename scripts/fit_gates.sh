#!/usr/bin/env bash
# The trust gates of the shipped models (issue 46, neurender/models/gate.py): fitted on scenes of the
# pybullet family (third-party meshes none of the shipped networks was trained on), chosen on the
# out-of-distribution validation suite (scripts/ood_suite.sh), never on the report suite.
# Usage: scripts/fit_gates.sh [OUT [NAME...]] (default gates_out; every shipped model that reads a guess).
# Writes OUT/gate_a, OUT/gate_b, OUT/gate_black, OUT/gate_white (data: 24 scenes x 2 views each, 128 px,
# 128 spp; b with a smaller AO radius and denser fog; black and white with every diffuse albedo 0 or 1,
# --albedo) and OUT/runs/NAME (the shipped files + gate.safetensors + gate.json).
# Needs the assets extra. Resumes: data and fitted gates are kept; STEPS steps per gate (default 1000).
# GI's target does not depend on the AO radius its inputs read, so its gates also see every view with the
# radius at 1/8 and 8 times its value (--shift): where the network's input leaves its range, the target stays.
# The fog gates add 0.5 x (1 - SSIM) to their L1 loss (--ssim-weight): L1 alone kept corrections that gain
# PSNR where they lose structure (docs/models.md). The refiner gi-diffusion's gate scales its weight by the
# albedo (--albedo-scaled: a black surface keeps gi-ambient's answer, as the GI GAN's own scaling does).
set -euo pipefail
OUT=${1:-gates_out}
shift || true
NAMES=("$@"); [ ${#NAMES[@]} -eq 0 ] && NAMES=(ao ao-diffusion fog fog-diffusion fog-fast gi gi-diffusion gi-fast)
NR=${NR:-.venv/bin/neurender}
PY=${PY:-.venv/bin/python}
STEPS=${STEPS:-1000}
declare -A SHIFT=([gi]="ao_radius=0.125 ao_radius=8")
declare -A SSIM=([fog]=0.5)
declare -A SCALED=([gi-diffusion]=--albedo-scaled)
$NR generate pybullet --count 24 --views 2 --step-deg 180 --res 128 --spp 128 --seed 5000 --fov-deg 35:80 \
    --distance-scale 0.7:1.4 --workers 2 --out "$OUT/gate_a"
$NR generate pybullet --count 24 --views 2 --step-deg 180 --res 128 --spp 128 --seed 6000 --fov-deg 35:80 \
    --distance-scale 0.7:1.4 --ao-radius-fraction 0.03 --fog-scale 2.5 --workers 2 --out "$OUT/gate_b"
for albedo in black:0:5500 white:1:5600; do
  IFS=: read -r label value seed <<< "$albedo"
  $NR generate pybullet --count 24 --views 2 --step-deg 180 --res 128 --spp 128 --seed "$seed" --fov-deg 35:80 \
      --distance-scale 0.7:1.4 --albedo "$value" --workers 2 --out "$OUT/gate_$label"
done
for name in "${NAMES[@]}"; do
  [ -f "$OUT/runs/$name/gate.json" ] && continue
  read -r -a shift <<< "${SHIFT[${name%%-*}]:-}"
  $PY scripts/fit_gate.py "pretrained:$name" --data "$OUT/gate_a" "$OUT/gate_b" "$OUT/gate_black" "$OUT/gate_white" \
      --steps "$STEPS" --out "$OUT/runs/$name" --ssim-weight "${SSIM[${name%%-*}]:-0}" ${SCALED[$name]:-} \
      ${shift[@]+--shift "${shift[@]}"}
done
