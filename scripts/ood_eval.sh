#!/usr/bin/env bash
# Every shipped model and its effect's classic methods on an out-of-distribution suite
# (scripts/ood_suite.sh), then the table of who beats the classic method on SSIM, PSNR and FLIP.
# Usage: scripts/ood_eval.sh DATA OUT [EFFECT...] (default ao fog gi); MORE=FOLDER adds the run
# folders FOLDER/EFFECT* (such as the gated copies of scripts/fit_gates.sh) to each effect's methods.
# Each evaluation resumes when run again.
set -euo pipefail
DATA=$1 OUT=$2
shift 2
EFFECTS=("$@"); [ ${#EFFECTS[@]} -eq 0 ] && EFFECTS=(ao fog gi)
NR=${NR:-.venv/bin/neurender}
PY=${PY:-.venv/bin/python}
declare -A CLASSIC=([ao]="gtao" [fog]="fog-analytic" [gi]="gi-ambient gi-flat")
for effect in "${EFFECTS[@]}"; do
  read -r -a classic <<< "${CLASSIC[$effect]}"
  more=()
  if [ -n "${MORE:-}" ]; then
    for run in "$MORE/$effect"*; do [ -f "$run/config.json" ] && more+=("$run"); done
  fi
  $NR evaluate --data "$DATA" --effect "$effect" --split all --no-path-tracer --out "$OUT/$effect" \
      --method "${classic[@]}" "pretrained:$effect" "pretrained:$effect-diffusion" "pretrained:$effect-fast" "${more[@]}"
done
$PY scripts/ood_table.py "${EFFECTS[@]/#/$OUT/}"
