#!/usr/bin/env bash
# Merging membranes as `spm-workbench merge` does: read N rank-1 membranes of a real model's shape, concatenate
# them exactly, write the result. Usage: benchmarks/merge.sh [sd1|sdxl] [count]   (default: sd1 100)
# Writes benchmarks/results/merge-<family>-<count>.json.
set -euo pipefail
cd "$(dirname "$0")/.."
family="${1:-sd1}" count="${2:-100}"
mkdir -p benchmarks/results
flags=(-c release -Xswiftc -enable-testing)
swift build "${flags[@]}" --product spm-bench
"$(swift build "${flags[@]}" --show-bin-path)/spm-bench" merge --family "$family" --count "$count" \
    | tee "benchmarks/results/merge-$family-$count.json"
