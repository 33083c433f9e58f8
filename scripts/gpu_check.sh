#!/usr/bin/env bash
# The GPU check (issue 23): run on a machine with PyTorch and CUDA, from the repository root, with
# the project's other wheels installed or carried. The device tests (tests/neurender/test_device.py
# take cuda where torch sees it), then scripts/gpu_check.py. Usage: scripts/gpu_check.sh [OUT_DIR]
set -euo pipefail
OUT=${1:-gpu_check_out}
PY=${PY:-python3}
mkdir -p "$OUT"
$PY -m pytest -q tests/neurender/test_device.py | tee "$OUT/device_tests.txt"
$PY scripts/gpu_check.py "$OUT/gpu_check.json" "${DEVICE:-cuda}" | tee "$OUT/gpu_check.txt"
