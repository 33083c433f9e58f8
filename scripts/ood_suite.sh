#!/usr/bin/env bash
# The out-of-distribution suites (issue 46): scenes of dm_control's meshes (a source no training
# family draws from), at references of 512 spp. Needs the ood extra (pip install -e ".[ood]").
#   OUT/val     every design and checkpoint decision is taken on it (12 scenes x 2 views = 24 views)
#   OUT/report  the figures of the cards; never used to choose anything (other seeds, same recipe)
# Usage: scripts/ood_suite.sh [OUT] (default ood_out). Resumes when run again; about 40 min per set on 2 cores.
set -euo pipefail
OUT=${1:-ood_out}
NR=${NR:-.venv/bin/neurender}
SPP=${SPP:-512}
for set_seed in val:7000 report:9000; do
  $NR generate dmcontrol --count 12 --views 2 --step-deg 180 --res 128 --spp "$SPP" --seed "${set_seed#*:}" \
      --fov-deg 35:80 --distance-scale 0.7:1.4 --workers 2 --out "$OUT/${set_seed%%:*}"
done
