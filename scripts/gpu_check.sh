#!/usr/bin/env bash
# The GPU check, one command (about 8 minutes on one GPU; not yet run with the per-model table): the CUDA tests (host syncs per sharpness-aware step,
# Hessian-vector products against the CPU, a search on the device), then the search-step benchmark on the GPU.
#   bash scripts/gpu_check.sh            (from the repository root, after `make setup`)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name(0))"
"$PY" -m pytest -q -p no:cacheprovider -m cuda tests/test_cuda.py
"$PY" benchmarks/search_step.py --device cuda
# per model (ResNet-20, ResNet-18, MobileNetV2): EdMIPS and ASGA steps eager / compiled / bf16 + channels-last,
# the ASGA / EdMIPS ratio, peak memory, a Hessian-vector product against a gradient, one grid cell
"$PY" benchmarks/gpu_models.py --device cuda
