#!/usr/bin/env bash
# Issue 8's training goal: SD1.5 membrane iterations (random weights from the real config, the reference's
# settings: rank 1, 4 isotropic anchors, 30 DDIM steps, CFG 3) at bf16 with a partial-denoise trajectory shared by
# 4 steps and activation checkpointing — seconds per iteration, UNet samples per iteration and peak RSS; then
# PyTorch's bf16 SD1.5 forward at 512 px in the same window, to place this machine against REFERENCE.md's.
# Usage: benchmarks/train-sd15.sh [iterations] [resolution]   (default 16 256; 4 warm-up steps come first)
set -euo pipefail
cd "$(dirname "$0")/.."
iterations="${1:-16}" resolution="${2:-256}"
flags=(-c release -Xswiftc -enable-testing)
swift build "${flags[@]}" --product spm-bench >&2
"$(swift build "${flags[@]}" --show-bin-path)/spm-bench" train --model sd15 --resolution "$resolution" \
    --iterations "$iterations" --precision bf16 --steps-per-trajectory 4 --checkpoint-activations
if python3 -c "import torch, diffusers" 2>/dev/null; then
    python3 tools/bench_torch_unet.py sd15 64 1 2 2 bf16
fi
