#!/usr/bin/env bash
# GEMM throughput and the im2col convolution time behind BENCHMARKS.md ("GEMM and convolution").
# Usage: benchmarks/gemm-conv.sh [output-directory]   (default: benchmarks/results)
# Builds spm-bench in release mode, then writes gemm.json and conv.json. spm-bench picks OpenBLAS's fast
# kernels itself (it re-executes with OPENBLAS_CORETYPE set when the library chose its slow Prescott ones).
# Run it on an otherwise idle machine: both measurements use 1 and 2 threads.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-benchmarks/results}"
mkdir -p "$out"
swift build -c release --product spm-bench
bench="$(swift build -c release --show-bin-path)/spm-bench"
"$bench" gemm --threads 1,2 --repeats 5 | tee "$out/gemm.json"
"$bench" conv --threads 1,2 --repeats 7 | tee "$out/conv.json"
