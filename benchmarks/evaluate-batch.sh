#!/usr/bin/env bash
# Testbed evaluation throughput by batch size: `spm-workbench evaluate --task testbed` with the demo's membrane
# (trains it first if out/demo-erase-red.safetensors is missing) at each --batch, wall seconds for the whole
# suite (21 prompts naming red, 40 others, each generated without and with the membrane: 122 images, 20 steps).
# Usage: benchmarks/evaluate-batch.sh [batch sizes…]   (default: 1 4 8 16)
set -euo pipefail
cd "$(dirname "$0")/.."
flags=(-c release -Xswiftc -enable-testing)
swift build "${flags[@]}" --product spm-workbench
workbench="$(swift build "${flags[@]}" --show-bin-path)/spm-workbench"
membrane=out/demo-erase-red.safetensors
[ -f "$membrane" ] || "$workbench" train configs/testbed/erase-red.yaml --out "$membrane"
for batch in "${@:-1 4 8 16}"; do
    for size in $batch; do
        start=$(date +%s.%N)
        "$workbench" evaluate --task testbed --membrane "$membrane" --others 40 --batch "$size" --json > /tmp/evaluate-batch-$size.json 2>/dev/null
        end=$(date +%s.%N)
        printf 'batch %2d: %6.1f s  (erasure %s, preservation %s)\n' "$size" "$(echo "$end - $start" | bc)" \
            "$(grep -m1 -o '"erasureRate" : [0-9.]*' /tmp/evaluate-batch-$size.json | cut -d' ' -f3)" \
            "$(grep -m1 -o '"preservation" : [0-9.]*' /tmp/evaluate-batch-$size.json | cut -d' ' -f3)"
    done
done
