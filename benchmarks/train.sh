#!/usr/bin/env bash
# Seconds per SPM training iteration (rank 1, 4 isotropic anchors, 30 denoising steps, CFG 3 in the partial
# denoise) on models with seeded random weights: the 0.79 M-param tiny SD1 model at 64 px and at 256–448 px (the
# reference's dynamic resolution), and full-size SD1.5 at 256 px (one timed iteration). The ratio to the reference
# on the same model: benchmarks/train-vs-reference.sh.
# Usage: benchmarks/train.sh [threads]
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-2}"
swift build -c release -Xswiftc -enable-testing --product spm-bench >/dev/null
bench="$(swift build -c release -Xswiftc -enable-testing --show-bin-path)/spm-bench"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$bench" train --resolution 64 --iterations 5 --threads "$threads"
"$bench" train --dynamic 256,448 --iterations 2 --threads "$threads"
"$bench" train --model sd15 --resolution 256 --iterations 1 --threads "$threads"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
