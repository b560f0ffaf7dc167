#!/usr/bin/env bash
# One full-size UNet forward (random weights from the real config), ours and PyTorch's in the same window.
# Usage: benchmarks/unet.sh [sd15|sd21|sdxl] [latent] [batch] [onednn|openblas]
#        (default: sd15 64 1 onednn — SD1.5 at 512 px, convolutions on oneDNN)
# Writes benchmarks/results/unet-<model>-<latent>-b<batch>-<backend>.json and ...-torch.json. PyTorch (tools/bench_torch_unet.py)
# is skipped when it is not installed. Run on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:-sd15}" latent="${2:-64}" batch="${3:-1}" backend="${4:-onednn}"
out=benchmarks/results
mkdir -p "$out"
flags=(-c release -Xswiftc -enable-testing)
swift build "${flags[@]}" --product spm-bench
"$(swift build "${flags[@]}" --show-bin-path)/spm-bench" unet --model "$model" --latent "$latent" --batch "$batch" \
    --threads 2 --repeats 2 --backend "$backend" | tee "$out/unet-$model-$latent-b$batch-$backend.json"
if python3 -c "import torch, diffusers" 2>/dev/null; then
    python3 tools/bench_torch_unet.py "$model" "$latent" "$batch" 2 2 | tee "$out/unet-$model-$latent-b$batch-torch.json"
fi
