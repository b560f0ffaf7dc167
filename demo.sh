#!/usr/bin/env bash
# The main job behind `make demo`, until the testbed model (a tiny text-to-image world we train ourselves) and
# the workbench TUI on it land: load a tiny random-weight SD1-layout pipeline, show what it holds, and generate
# with it through the same library calls the TUI will use. The image is noise-like: the weights are random.
set -euo pipefail
cd "$(dirname "$0")"
workbench="${1:-.build/release/spm-workbench}"
model=Tests/DiffusionTests/Golden/pipelines/sd1
mkdir -p out

echo "== spm-workbench inspect $model"
"$workbench" inspect "$model"
echo
echo "== spm-workbench generate (10 Euler steps, CFG 5, seed 42)"
"$workbench" generate --model "$model" --prompt "a cat painting" --negative "a dog" --steps 10 --guidance 5 \
    --size 32 --seed 42 --scheduler euler --out out/demo.png
echo
echo "The PNG's parameters chunk records how it was made (AUTOMATIC1111's layout)."
echo "Next: 'spm-workbench --help' lists every command; 'spm-workbench' alone opens the workbench (q quits)."
