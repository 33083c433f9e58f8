#!/usr/bin/env bash
# Temporal stability of every method (docs/evaluation.md, "Temporal stability"): held-out camera paths
# of every built-in family (seed 1000, never trained on) and of the Cornell box, then every classic
# method, every shipped model, the path tracer and PT + OIDN per effect, with tWE per method and level.
# Usage: scripts/temporal_check.sh [OUT] (default temporal_out); resumes when run again.
# Knobs (environment): FRAMES per path, STEP_DEG between frames, RES, SPP of the references, EFFECTS,
# BLEND (weights, such as "0.2 0.5": every method also scored through evaluate --temporal-blend).
set -euo pipefail
OUT=${1:-temporal_out}
FRAMES=${FRAMES:-6}
STEP_DEG=${STEP_DEG:-1}
RES=${RES:-96}
SPP=${SPP:-256}
EFFECTS=${EFFECTS:-ao fog gi}
read -r -a BLEND <<< "${BLEND:-}"
NR=${NR:-.venv/bin/neurender}
CBOX=scenes/third_party/cbox/cbox-rgb.xml

$NR generate forest objects room studio --path orbit --views "$FRAMES" --step-deg "$STEP_DEG" --res "$RES" \
    --spp "$SPP" --seed 1000 --workers 2 --out "$OUT/paths"
$NR generate "$CBOX" --path orbit --views "$FRAMES" --step-deg "$STEP_DEG" --res "$RES" --spp "$SPP" \
    --workers 2 --out "$OUT/cbox"
declare -A METHODS=([ao]="ssao hbao gtao pretrained:ao pretrained:ao-gtao pretrained:ao-diffusion pretrained:ao-fast"
                   [fog]="fog-analytic pretrained:fog pretrained:fog-diffusion pretrained:fog-fast"
                   [gi]="gi-ambient gi-flat pretrained:gi pretrained:gi-gtao pretrained:gi-diffusion pretrained:gi-fast")
for data in paths cbox; do
  for effect in $EFFECTS; do
    # shellcheck disable=SC2086  # the method list splits into words
    $NR evaluate --data "$OUT/$data" --effect "$effect" --method ${METHODS[$effect]} --out "$OUT/eval_${data}_$effect" \
        ${BLEND[0]:+--temporal-blend "${BLEND[@]}"}
  done
done
$NR report "$OUT"/eval_* --out "$OUT/report"
.venv/bin/python - "$OUT" <<'PY'
import json, sys, glob, os
from neurender.evaluation.path_tracer import curve_at_quality
for path in sorted(glob.glob(os.path.join(sys.argv[1], "eval_*", "summary.json"))):
    s = json.load(open(path))
    if "noise_floor" not in s:
        continue  # an evaluation without the path tracer's curves
    floor = s["noise_floor"]["temporal"]["twe"]
    print(f"\n{os.path.basename(os.path.dirname(path))}: reference's own tWE {floor:.4f}")
    denoised = [p | {"twe": p["temporal"]["twe"]} for p in s["pt_oidn"]["curve"]]
    for name, m in s["methods"].items():
        spp = curve_at_quality(denoised, m["mean"]["ssim"], "ssim", key="spp")
        twe = curve_at_quality(denoised, m["mean"]["ssim"], "ssim", key="twe")  # log-linear between levels
        match = f"PT+OIDN at its SSIM ({spp:.1f} spp): tWE {twe:.4f}" if spp else "beyond the PT+OIDN curve"
        print(f"  {name:24s} SSIM {m['mean']['ssim']:.3f} tWE {m['temporal']['twe']:.4f} "
              f"({m['temporal']['twe'] / floor:.2f}x the reference's); {match}")
PY
