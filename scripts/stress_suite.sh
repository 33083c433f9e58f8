#!/usr/bin/env bash
# Issue 46's stress sets: inputs well outside the training range, each predictor scored against its
# classic method on them (scripts/stress_eval.sh).
#   OUT/scale10, OUT/scale0.1   the val suite scaled by 10 and by 1/10 (scripts/stress_views.py: targets exact)
#   OUT/ao-1px, OUT/ao-40px     new dm_control scenes whose AO radius projects to about 1 and 40 pixels
#                               (medians over the views; the val suite's 0.05 of the diagonal projects to a median of 23 px)
#   OUT/fog-x20                 new dm_control scenes in fog 20 times as dense as the default
#   OUT/white, OUT/black        new dm_control scenes with every diffuse albedo 1 or 0 (--albedo)
# Usage: scripts/stress_suite.sh VAL OUT (VAL: the val suite of scripts/ood_suite.sh). Resumes when run again;
# about 40 minutes on 2 cores.
set -euo pipefail
VAL=$1 OUT=$2
NR=${NR:-.venv/bin/neurender}
PY=${PY:-.venv/bin/python}
for s in 10 0.1; do [ -f "$OUT/scale$s/views.jsonl" ] || $PY scripts/stress_views.py "$VAL" "$OUT/scale$s" --scale "$s"; done
common=(dmcontrol --count 8 --views 1 --res 128 --seed 7500 --fov-deg 35:80 --distance-scale 0.7:1.4 --workers 2)
$NR generate "${common[@]}" --spp 16 --spp-ao 1024 --ao-radius-fraction 0.0044 --out "$OUT/ao-1px"
$NR generate "${common[@]}" --spp 16 --spp-ao 1024 --ao-radius-fraction 0.18 --out "$OUT/ao-40px"
$NR generate "${common[@]}" --spp 256 --sigma-s 19 --out "$OUT/fog-x20"
$NR generate "${common[@]}" --spp 256 --albedo 1 --out "$OUT/white"
$NR generate "${common[@]}" --spp 256 --albedo 0 --out "$OUT/black"
