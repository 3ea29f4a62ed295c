#!/usr/bin/env bash
# Build ablate with the CUDA backend (docs/gpu.md) on a machine with the CUDA toolkit.
#
#   bash scripts/build-cuda.sh [extra cargo args...]
#
# - needs nvcc on PATH (or NVCC set): candle compiles its CUDA kernels at build time;
# - CUDA_COMPUTE_CAP (e.g. 90 for H100, 80 for A100, 89 for L4 / RTX 4090) is taken from
#   `nvidia-smi --query-gpu=compute_cap` when unset; on a machine without a GPU set it yourself;
# - builds into target-cuda (CARGO_TARGET_DIR), so the CPU build in target/ stays as it is,
#   and prints the binary's path.
# Without a CUDA toolkit, ../shared/tools/cuda-build/setup.sh prepares one from PyPI wheels
# (source it first; it sets NVCC, CUDA_ROOT and CUDA_COMPUTE_CAP=90).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

NVCC_BIN=${NVCC:-nvcc}
if ! command -v "$NVCC_BIN" >/dev/null 2>&1; then
    echo "error: nvcc not found on PATH (nor NVCC set): install the CUDA toolkit (12.x or 13.x, see docs/gpu.md)" >&2
    echo "       or, on a machine without one, source ../shared/tools/cuda-build/setup.sh first" >&2
    exit 2
fi
echo "nvcc: $(command -v "$NVCC_BIN") ($("$NVCC_BIN" --version | grep -o 'release [0-9.]*' || echo 'unknown version'))"

if [ -z "${CUDA_COMPUTE_CAP:-}" ]; then
    if command -v nvidia-smi >/dev/null 2>&1 &&
        cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n 1 | tr -d ' .') &&
        [[ $cap =~ ^[0-9]+$ ]]; then
        export CUDA_COMPUTE_CAP=$cap
        if [ "$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | sort -u | wc -l)" -gt 1 ]; then
            echo "warning: this machine's GPUs differ in compute capability; building for GPU 0's ($cap)" >&2
        fi
    else
        echo "error: CUDA_COMPUTE_CAP is unset and nvidia-smi cannot tell it; set it for the GPU that will run" >&2
        echo "       the binary, e.g. CUDA_COMPUTE_CAP=90 (H100), 80 (A100), 89 (L4, RTX 4090), 86 (A10, RTX 3090)" >&2
        exit 2
    fi
fi
echo "CUDA_COMPUTE_CAP=$CUDA_COMPUTE_CAP"

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target-cuda}
cargo build --release --features cuda -p ablate "$@"
bin="$CARGO_TARGET_DIR/release/ablate"
echo "built $(cd "$(dirname "$bin")" && pwd)/ablate"
