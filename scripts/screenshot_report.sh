#!/usr/bin/env bash
# Render a report's HTML in headless Chromium and save a full-page screenshot (bottom margin
# trimmed). Not a test: CI may have no browser. Debian: apt-get update && apt-get install chromium
#
#   scripts/screenshot_report.sh [REPORT.html] [OUT.png] [WIDTH]
#
# Without REPORT.html it builds the SYNTHETIC demo store (python -m harness.report.demo: made-up
# numbers, for trying the layout), renders the `paper` report with --ci into a temporary folder
# and shoots that. OUT defaults to reports/synthetic_report.png, WIDTH to 1280 (CSS pixels).
# It also prints how wide Table 3 renders in that window (it must fit: no horizontal scrolling).
# The docs show the real CPU run: scripts/screenshot_report.sh docs/results/cpu-smollm2/report/report.html
#   docs/results/cpu-smollm2/report_screenshot.png
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
[ -x "$py" ] || py=python3
html=${1:-}
out=${2:-reports/synthetic_report.png}
width=${3:-1280}
max_height=${MAX_HEIGHT:-12000}

browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
  echo "no chromium on PATH (Debian: apt-get update && apt-get install -y chromium)" >&2
  exit 2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ -z "$html" ]; then
  "$py" -m harness.report.demo "$work/demo.duckdb" >/dev/null
  "$py" -m harness.cli report --db "$work/demo.duckdb" --out "$work/report" --ci
  html="$work/report/report.html"
fi
[ -f "$html" ] || { echo "no such file: $html" >&2; exit 2; }
mkdir -p "$(dirname "$out")"
shot="$work/shot.png"

# A tall window catches the whole page; the blank part below it is trimmed afterwards.
"$browser" --headless --no-sandbox --disable-gpu --disable-background-networking \
  --disable-component-update --disable-sync --no-first-run --hide-scrollbars \
  --user-data-dir="$work/profile" --screenshot="$shot" --window-size="$width,$max_height" \
  "file://$(realpath "$html")" 2>"$work/chromium.log" \
  || { cat "$work/chromium.log" >&2; exit 1; }
[ -s "$shot" ] || { cat "$work/chromium.log" >&2; echo "chromium wrote no screenshot" >&2; exit 1; }

# Table 3's rendered width against the width it has, read back from the page's DOM.
sed 's#</main></body>#</main><script>var s=document.querySelector("\#table3 .scroll");if(s){document.body.setAttribute("data-fit",s.querySelector("table").scrollWidth+" "+s.clientWidth)}</script></body>#' \
  "$html" > "$work/measure.html"
fit=$("$browser" --headless --no-sandbox --disable-gpu --user-data-dir="$work/profile2" \
  --window-size="$width,900" --dump-dom "file://$work/measure.html" 2>/dev/null \
  | grep -o 'data-fit="[0-9]* [0-9]*"' | tr -dc '0-9 ' || true)
if [ -n "$fit" ]; then
  read -r table room <<<"$fit"
  echo "table3: $table px wide in $room px at a $width px window ($([ "$table" -le "$room" ] && echo fits || echo 'SCROLLS'))"
fi

"$py" - "$shot" "$out" <<'PY'
import sys
from PIL import Image, ImageChops

src, dst = sys.argv[1], sys.argv[2]
img = Image.open(src).convert("RGB")
blank = Image.new("RGB", img.size, (255, 255, 255))
box = ImageChops.difference(img, blank).getbbox()
if box:
    img = img.crop((0, 0, img.width, min(img.height, box[3] + 40)))

# 256 colours: text and flat charts look the same, the file is a fraction of the size.
img.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(dst, optimize=True)
print(f"wrote {dst} ({img.width}x{img.height})")
PY
