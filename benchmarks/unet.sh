#!/usr/bin/env bash
# One full-size UNet forward (random weights from the real config), ours and PyTorch's in the same window.
# Usage: benchmarks/unet.sh [sd15|sd21|sdxl] [latent] [batch] [onednn|openblas] [fp32|bf16]
#        (default: sd15 64 1 onednn fp32 — SD1.5 at 512 px, convolutions on oneDNN, single precision)
# Writes benchmarks/results/unet-<model>-<latent>-b<batch>-<backend>-<precision>.json and ...-torch-<precision>.json.
# PyTorch (tools/bench_torch_unet.py, the same precision) is skipped when it is not installed. Run on an otherwise
# idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:-sd15}" latent="${2:-64}" batch="${3:-1}" backend="${4:-onednn}" precision="${5:-fp32}"
out=benchmarks/results
mkdir -p "$out"
flags=(-c release -Xswiftc -enable-testing)
swift build "${flags[@]}" --product spm-bench
"$(swift build "${flags[@]}" --show-bin-path)/spm-bench" unet --model "$model" --latent "$latent" --batch "$batch" \
    --threads 2 --repeats 2 --backend "$backend" --precision "$precision" \
    | tee "$out/unet-$model-$latent-b$batch-$backend-$precision.json"
if python3 -c "import torch, diffusers" 2>/dev/null; then
    python3 tools/bench_torch_unet.py "$model" "$latent" "$batch" 2 2 "$precision" \
        | tee "$out/unet-$model-$latent-b$batch-torch-$precision.json"
fi
