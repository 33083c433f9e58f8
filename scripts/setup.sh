#!/usr/bin/env bash
# Create the virtual environment and install neurender with everything it needs.
# Usage: scripts/setup.sh [VENV]   (default .venv)
set -euo pipefail
VENV=${1:-.venv}
PYTHON=${PYTHON:-python3}

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/pip" install --quiet --disable-pip-version-check)
"${PIP[@]}" --upgrade pip
# every version pinned by constraints.txt (pyproject.toml has lower bounds only); torch first:
# its pinned version is a CPU build here, an unpinned torch pulls several GB
"${PIP[@]}" -c constraints.txt torch
"${PIP[@]}" -c constraints.txt -e ".[ray,test]"

# Mitsuba's fast CPU variant (llvm_ad_rgb) needs libLLVM 16+; LLVM 15 crashes in drjit 1.5.
have_llvm() { "$VENV/bin/python" -c "import sys; from neurender.base.variant import find_libllvm; sys.exit(find_libllvm() is None)"; }
if ! have_llvm; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing libllvm19 (Debian package)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libllvm19 >/dev/null) \
      || echo "setup: apt-get could not install libllvm19"
  fi
fi
if ! have_llvm; then
  # no system access: the karellen wheel ships libLLVM; wheel-axle-runtime restores its libc++ links
  echo "setup: installing libLLVM from the karellen-llvm-core wheel"
  "${PIP[@]}" -c constraints.txt karellen-llvm-core wheel-axle-runtime
  "$VENV/bin/python" -c "pass"  # first start: wheel-axle-runtime finishes the install
fi
"$VENV/bin/neurender" doctor
touch "$VENV/.installed"
