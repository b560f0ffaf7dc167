#!/usr/bin/env bash
# Whole text-to-image generations, ours and PyTorch's in the same window: SD1.5 (random weights from the real
# config), REFERENCE.md's pipeline settings by default — 512 px, 4 Euler steps, guidance 7.5 — one warm-up, then
# the median of the timed ones; prompt encoding, the guided steps and the VAE decode all count.
# Usage: benchmarks/generate.sh [fp32|bf16] [resolution] [steps]   (PyTorch skipped when it is not installed)
set -euo pipefail
cd "$(dirname "$0")/.."
precision="${1:-fp32}" resolution="${2:-512}" steps="${3:-4}"
flags=(-c release -Xswiftc -enable-testing)
swift build "${flags[@]}" --product spm-bench >&2
"$(swift build "${flags[@]}" --show-bin-path)/spm-bench" generate --model sd15 --resolution "$resolution" \
    --steps "$steps" --guidance 7.5 --precision "$precision"
if python3 -c "import torch, diffusers, transformers" 2>/dev/null; then
    python3 tools/bench_torch_pipeline.py sd15 "$resolution" "$steps" 7.5 2 1 "$precision"
fi
