#!/usr/bin/env bash
# Re-render docs/results/cpu-smollm2-v2/ from a results store of grids/cpu-paper-v2.yaml (its
# search, its stages on TALLRec's split and on the users split).
#
#   HARNESS_RAW_DIR=/path/to/datasets scripts/refresh_results_v2.sh STORE [OUT_DIR]
#
# Works on a copy: STORE (which a running grid may still be writing) is only read, through a
# dump. Writes OUT_DIR's report/ (harness report --ci: AUC, intervals resampling users where a
# split repeats them; figures also SVG/PDF, table3.tex), report-uauc/ (the same with --metric
# uauc), search-report/ (harness report --spec search), reading.md/json (scripts/study_reading.py,
# the first study's numbers beside from docs/results/cpu-smollm2/store), user_diagnostics-movie
# and -movie-users (scripts/user_diagnostics.py: pooled against within-user AUC, correlation
# with the like-rate) and the store as Parquet
# (store/: the search's trials and the study's).
set -euo pipefail
cd "$(dirname "$0")/.."
src=${1:?usage: scripts/refresh_results_v2.sh STORE [OUT_DIR]}
out=${2:-docs/results/cpu-smollm2-v2}
source scripts/store_copy.sh
copy_store "$src"

rm -rf "$out/store" "$out/search-store" "$out/report" "$out/report-uauc" "$out/search-report"
mkdir -p "$out"
$harness report --db "$work/results.duckdb" --grid cpu-paper-v2 --ci --out "$out/report"
$harness report --db "$work/results.duckdb" --grid cpu-paper-v2 --ci --metric uauc --png-only --out "$out/report-uauc"
$harness report --db "$work/results.duckdb" --spec search --grid cpu-paper-v2-search --out "$out/search-report"
$py scripts/study_reading.py --db "$work/results.duckdb" --grid cpu-paper-v2 \
    --beside docs/results/cpu-smollm2/store --beside-grid cpu-paper --out "$out/reading"
for domain in movie movie-users; do
    $py scripts/user_diagnostics.py --db "$work/results.duckdb" --grid cpu-paper-v2 --domain "$domain" \
        --out "$out/user_diagnostics-$domain"
done
$harness store dump "$out/store" --db "$work/results.duckdb"
