#!/usr/bin/env bash
# Issue 4's speed goal, measured against the reference on the same model, on this machine, in one window: the
# reference's work per iteration replayed in PyTorch (tools/bench_reference_spm.py: k + 5 UNet calls over 2k + 22
# samples, a backward over 10) beside `spm-bench train` (rank 1, 4 isotropic anchors, 30 DDIM steps, CFG 3), at
# 64 px on the tiny SD1 shapes in benchmarks/models:
#   tiny-sd1-reference         0.79 M parameters, cross-attention at the 32×32 level (1,024 tokens)
#   tiny-sd1-diffusers         1.43 M, hf-internal-testing/tiny-stable-diffusion-torch's UNet (cross-attention at
#                              the 16×16 level, two layers per block)
#   tiny-sd1-diffusers-1layer  0.99 M, the same with one layer per block
#   tiny-sd1-reference-vae8    tiny-sd1-reference's UNet behind a VAE that downsamples 8× (as SD's does), the shape
#                              whose replay fits REFERENCE.md's 256–448 px figure — also at 256 and 448 px
# Ours: the exact objective (a fresh trajectory every step) and trajectories shared by 4 and 8 steps, fp32 and bf16.
# Usage: benchmarks/train-vs-reference.sh [iterations] [threads]   (default 16 2; one warm-up iteration first;
#        about 25 minutes at 16, most of it the replay at 448 px)
set -euo pipefail
cd "$(dirname "$0")/.."
iterations="${1:-16}" threads="${2:-2}"
flags=(-c release -Xswiftc -enable-testing)
swift build "${flags[@]}" --product spm-bench >&2
bench="$(swift build "${flags[@]}" --show-bin-path)/spm-bench"
seconds() {
    python3 -c 'import json, sys; r = json.load(sys.stdin)
print("%.3f s (%.1f UNet samples, %.2f GiB)" % (r["meanSeconds"], r["meanUNetSamples"], r["peakRSSGiB"]))'
}
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
# compare MODEL RESOLUTION ITERATIONS SHARINGS: the replay, then ours at fp32 and bf16 for each sharing.
compare() {
    local folder="benchmarks/models/$1"
    echo "$1 at $2 px, reference replayed in PyTorch: $(python3 tools/bench_reference_spm.py "$folder" "$2" "$3" "$threads" 1 2>/dev/null | seconds)"
    for precision in fp32 bf16; do
        for sharing in $4; do
            echo "$1 at $2 px, ours $precision, steps per trajectory $sharing: $("$bench" train --model "$folder" \
                --resolution "$2" --iterations "$3" --threads "$threads" --precision "$precision" \
                --steps-per-trajectory "$sharing" | seconds)"
        done
    done
}
for model in tiny-sd1-reference tiny-sd1-diffusers tiny-sd1-diffusers-1layer tiny-sd1-reference-vae8; do
    compare "$model" 64 "$iterations" "1 4 8"
done
for resolution in 256 448; do
    compare tiny-sd1-reference-vae8 "$resolution" "$iterations" "1 4"
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
