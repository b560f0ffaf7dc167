#!/usr/bin/env bash
# What sharing one partial-denoise trajectory across training steps (`train.steps_per_trajectory`) costs in
# erasure and preservation on the testbed, and what it saves in training time: the demo's config
# (configs/testbed/erase-red.yaml) trained at each sharing and seed, then `evaluate --task testbed` with the
# gates facilitated transport computes and with the membrane always on (`--transport off`, the membrane alone).
# Usage: benchmarks/trajectory-sharing.sh ["SHARINGS"] ["SEEDS"] [OTHERS] [REPEATS]
#        (default: "1 4 8" "0 1" 80 2 — 42 prompts naming red, 80 others, each without and with the membrane)
set -euo pipefail
cd "$(dirname "$0")/.."
flags=(-c release -Xswiftc -enable-testing)
swift build "${flags[@]}" --product spm-workbench >/dev/null
workbench="$(swift build "${flags[@]}" --show-bin-path)/spm-workbench"
sharings="${1:-1 4 8}" seeds="${2:-0 1}" others="${3:-80}" repeats="${4:-2}"
folder=out/trajectory-sharing
mkdir -p "$folder"
number() { grep -m1 -o "\"$1\" : [0-9.]*" "$2" | cut -d' ' -f3; }
printf '%-8s %-5s %-9s %-22s %-22s\n' sharing seed train-s "gated erasure/kept" "always-on erasure/kept"
for sharing in $sharings; do
    for seed in $seeds; do
        name="$folder/n$sharing-seed$seed"
        sed "s/^train:$/train:\n  steps_per_trajectory: $sharing/" configs/testbed/erase-red.yaml > "$name.yaml"
        rm -f "$name.safetensors" "$name.checkpoint.safetensors" "$name.jsonl"
        start=$(date +%s.%N)
        "$workbench" train "$name.yaml" --seed "$seed" --out "$name.safetensors" 2>/dev/null
        seconds=$(echo "$(date +%s.%N) - $start" | bc)
        for transport in embeddings off; do
            "$workbench" evaluate --task testbed --membrane "$name.safetensors" --others "$others" \
                --repeats "$repeats" --transport "$transport" --json > "$name.$transport.json" 2>/dev/null
        done
        printf '%-8s %-5s %-9.1f %-22s %-22s\n' "$sharing" "$seed" "$seconds" \
            "$(number erasureRate "$name.embeddings.json") / $(number preservation "$name.embeddings.json")" \
            "$(number erasureRate "$name.off.json") / $(number preservation "$name.off.json")"
    done
done
