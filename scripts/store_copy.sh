# Sourced by scripts/refresh_results*.sh (not run on its own): the venv's tools as $py and
# $harness, and `copy_store STORE`, which reads STORE only through a dump (a grid may still be
# writing it) into a scratch store, $work/results.duckdb, removed when the script exits.
py=.venv/bin/python
harness=.venv/bin/harness
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

copy_store() {
    $harness store dump "$work/src" --db "$1"
    $harness store load "$work/src" --db "$work/results.duckdb"
}
