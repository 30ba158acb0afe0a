#!/usr/bin/env bash
# On a lent GPU machine (no network): install the wheels bench/gpu_wheels.sh prepared, check that
# the GPU is there and that torch sees it, then run the GPU benchmark. Its JSON lines go to
# stdout and to $OUT/gpu_smoke.jsonl (when $OUT is set). Under 8 minutes all told:
# gpu_smoke's own budget (default 360 s) never starts a run it cannot finish.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d .whl ] || { echo "no .whl/: run bench/gpu_wheels.sh first (here, with the package index)" >&2; exit 2; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 - <<'PY'
import torch, transformers, trl, trl_r1, trl_r1_rewards
assert torch.cuda.is_available(), "torch sees no GPU"
print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(),
      "| transformers", transformers.__version__, "| trl", trl.__version__)
PY
python3 bench/gpu_smoke.py "$@" | tee "${OUT:-/tmp}/gpu_smoke.jsonl"
