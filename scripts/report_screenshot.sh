#!/usr/bin/env bash
# A report page as a browser shows it: headless Chromium renders REPORT/index.html 1400 px wide into PNG
# (issue 50's browser check; the page is self-contained, so it is opened from a copy with nothing beside it).
# Usage: scripts/report_screenshot.sh REPORT_DIR OUT.png [HEIGHT_PX (default 6000)]
# Needs Chromium (Debian: apt-get install chromium; or CHROMIUM=/path/to/chrome).
set -euo pipefail
REPORT=${1:?usage: scripts/report_screenshot.sh REPORT_DIR OUT.png [HEIGHT_PX]}
OUT=${2:?usage: scripts/report_screenshot.sh REPORT_DIR OUT.png [HEIGHT_PX]}
HEIGHT=${3:-6000}
CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}
if [ -z "$CHROMIUM" ]; then
  echo "error: no Chromium found; install it (apt-get install chromium) or set CHROMIUM" >&2
  exit 2
fi
ALONE=$(mktemp -d)
trap 'rm -rf "$ALONE"' EXIT
cp "$REPORT/index.html" "$ALONE/index.html"  # alone: an image the page only links would not show
"$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --hide-scrollbars --user-data-dir="$ALONE/profile" \
  --window-size=1400,"$HEIGHT" --screenshot="$(realpath -m "$OUT")" "file://$ALONE/index.html" 2>/dev/null
echo "screenshot: $OUT (1400 x $HEIGHT px)"
