#!/usr/bin/env bash
# The GPU check of issue #15, in one command on a bare GPU machine (torch, transformers, peft,
# accelerate, pandas, scikit-learn, pyyaml, rich preinstalled; no internet). Needs gpu_wheels/
# and gpu_assets/ from scripts/gpu_wheels.sh (carry them: see docs/gpu.md).
#   scripts/gpu_check.sh [bench.gpu_check options]       (PYTHON=... to pick the interpreter)
# Without CUDA it stops at once with one line (exit 3). Results: bench/results/gpu_check.json,
# and a copy in $OUT when that is a directory.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for cand in python3 python; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c "import torch" 2>/dev/null; then PY=$cand; break; fi
  done
fi
[ -n "$PY" ] || { echo "gpu_check: no python with torch found (set PYTHON=...)" >&2; exit 3; }
if ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  case " $* " in
    *" --device cpu "*) ;;   # a CPU rehearsal: go on
    *) echo "gpu_check: no CUDA GPU here (torch.cuda.is_available() is False); run it on a lent GPU machine" >&2
       exit 3 ;;
  esac
fi
export PYTHONPATH="$PWD/.gpu_site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false DS_BUILD_OPS=0
t0=$(date +%s)
if [ -d gpu_wheels ]; then
  "$PY" -m bench.gpu.install gpu_wheels .gpu_site || echo "gpu_check: installing wheels failed; going on" >&2
fi
export GPU_CHECK_INSTALL_S=$(( $(date +%s) - t0 ))
echo "[gpu_check] install: $GPU_CHECK_INSTALL_S s"
exec "$PY" -m bench.gpu_check "$@"
