#!/usr/bin/env bash
# Re-render docs/results/cpu-smollm2/ from a results store of grids/cpu-paper.yaml.
#
#   HARNESS_RAW_DIR=/path/to/datasets scripts/refresh_results.sh STORE [OUT_DIR]
#
# Works on a copy: STORE (which a running grid may still be writing) is only read, through a
# dump. Into the copy it adds the user ids predictions stored before schema 2 lack (`harness store
# users`: from the sample ids), runs the stages added after the run began (`references`:
# seconds), then writes OUT_DIR's report/ (harness report --ci: AUC, intervals resampling users
# where a split repeats them; figures also SVG/PDF, table3.tex), report-uauc/ (the same with --metric uauc), reading.md/json,
# user_diagnostics.md/json, the store as Parquet (store/) and report_screenshot.png (skipped
# without Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
src=${1:?usage: scripts/refresh_results.sh STORE [OUT_DIR]}
out=${2:-docs/results/cpu-smollm2}
source scripts/store_copy.sh
copy_store "$src"
$harness store users --db "$work/results.duckdb"
$py scripts/run_in_stages.py grids/cpu-paper.yaml grids/cpu-paper.stages.yaml \
    --db "$work/results.duckdb" --harness "$harness" --only references

rm -rf "$out/store" "$out/report" "$out/report-uauc"
mkdir -p "$out"
$harness report --db "$work/results.duckdb" --grid cpu-paper --ci --out "$out/report"
$harness report --db "$work/results.duckdb" --grid cpu-paper --ci --metric uauc --png-only --out "$out/report-uauc"
$py scripts/paper_reading.py --db "$work/results.duckdb" --grid cpu-paper --out "$out/reading"
$py scripts/user_diagnostics.py --db "$work/results.duckdb" --grid cpu-paper --out "$out/user_diagnostics"
$harness store dump "$out/store" --db "$work/results.duckdb"
if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
    scripts/screenshot_report.sh "$out/report/report.html" "$out/report_screenshot.png"
else
    echo "no Chromium: $out/report_screenshot.png left as it was"
fi
