#!/usr/bin/env bash
# UNet forward+backward as membrane training runs it: a rank-1 adapter on every membrane layer (192 for SD1.5),
# gates [batch, 1], gradients with respect to the sample and every adapter factor (random weights from the
# real config). Usage: benchmarks/unet-backward.sh [sd15|sd21|sdxl] [latent] [batch] [threads]
#        (default: sd15 32 10 2 — SD1.5 at 256 px, batch 10, the trainer's backward)
# Writes benchmarks/results/unet-backward-<model>-<latent>-b<batch>.json. Run on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:-sd15}" latent="${2:-32}" batch="${3:-10}" threads="${4:-2}"
out=benchmarks/results
mkdir -p "$out"
flags=(-c release -Xswiftc -enable-testing)
swift build "${flags[@]}" --product spm-bench
"$(swift build "${flags[@]}" --show-bin-path)/spm-bench" unet --backward --model "$model" --latent "$latent" \
    --batch "$batch" --threads "$threads" --repeats 1 | tee "$out/unet-backward-$model-$latent-b$batch.json"
