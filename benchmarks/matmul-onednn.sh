#!/usr/bin/env bash
# OpenBLAS sgemm against oneDNN's fp32 matmul on SD1.5's linear-layer shapes (rows = tokens at 512 px), 1 and 2
# threads: whether the engine's linear layers should go through oneDNN (BENCHMARKS.md, "oneDNN matmul"); with
# `bf16` as the argument, oneDNN's bf16 matmul (bf16 operands, fp32 sums) against OpenBLAS's fp32 one.
# Usage: benchmarks/matmul-onednn.sh [fp32|bf16]   (needs the apt packages of `make setup`; run on an idle machine)
set -euo pipefail
cd "$(dirname "$0")/.."
precision="${1:-fp32}"
binary="$(mktemp -d)/matmul-onednn"
cc="$(dirname "$(command -v swift)")/clang"
"$cc" -O2 benchmarks/matmul-onednn.c -o "$binary" $(pkg-config --cflags --libs openblas) -ldnnl -lgomp
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
for threads in 1 2; do
    # attention projections (320), feed-forward up and down (320 ↔ 1280; GEGLU's up is 2 × 1280), level 2 (640)
    for shape in "4096 320 320" "4096 320 2560" "4096 1280 320" "1024 640 640" "1024 640 5120" "1024 2560 640"; do
        "$binary" "$threads" $shape "$precision"
    done
done
