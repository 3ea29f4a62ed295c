#!/usr/bin/env bash
# Packs what scripts/gpu-check.sh needs on a GPU machine that has no cargo into gpu/
# (git-ignored): the CUDA build and the CPU build, stripped and gzipped (the CUDA binary
# is ~175 MB with line tables, ~61 MB stripped, ~17 MB gzipped; the device tool carries
# 64 MiB in all), and the kit's run-on-gpu.sh. Build first:
#   source ../shared/tools/cuda-build/setup.sh && bash scripts/build-cuda.sh   # target-cuda/
#   cargo build --release                                                      # target/
# then `bash scripts/pack-gpu.sh` and carry ["gpu"]; on the GPU machine run
#   bash scripts/gpu-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
for f in target-cuda/release/ablate target/release/ablate; do
    [ -x "$f" ] || { echo "error: $f is missing; build it first (see the top of this script)" >&2; exit 2; }
done
mkdir -p gpu
pack() { strip -o "gpu/$2" "$1" && gzip -9 -f "gpu/$2"; }
pack target-cuda/release/ablate ablate
pack target/release/ablate ablate-cpu
KIT=../shared/tools/cuda-build/run-on-gpu.sh
if [ -f "$KIT" ]; then cp "$KIT" gpu/run-on-gpu.sh; fi
du -ch gpu/* | sed 's/^/  /'
