#!/usr/bin/env bash
# Every shipped model and its classic method on issue 46's stress sets (scripts/stress_suite.sh); each
# set's table marks in bold a model that beats its classic method on SSIM, PSNR and FLIP.
# Usage: scripts/stress_eval.sh STRESS OUT [SET...] (default: every set). Resumes when run again.
set -euo pipefail
STRESS=$1 OUT=$2
shift 2
SETS=("$@"); [ ${#SETS[@]} -eq 0 ] && SETS=(scale10 scale0.1 ao-1px ao-40px fog-x20 white black)
declare -A EFFECTS=([ao-1px]="ao" [ao-40px]="ao" [fog-x20]="fog")
for set in "${SETS[@]}"; do
  read -r -a effects <<< "${EFFECTS[$set]:-ao fog gi}"
  echo "## $set"
  scripts/ood_eval.sh "$STRESS/$set" "$OUT/$set" "${effects[@]}"
done
