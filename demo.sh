#!/usr/bin/env bash
# The main job behind `make demo`, until the testbed model (a tiny text-to-image world we train ourselves) lands:
# on a tiny random-weight SD1-layout pipeline, show what it holds, train a membrane for a few steps, and generate
# without and with it through the same library calls the workbench uses. The images are noise-like: the weights
# are random, so this shows the machinery, not erasure.
set -euo pipefail
cd "$(dirname "$0")"
workbench="${1:-.build/release/spm-workbench}"
model=Tests/Fixtures/tiny-sd1
mkdir -p out

echo "== spm-workbench inspect $model"
"$workbench" inspect "$model"

cat > out/demo-train.yaml <<YAML
model: {path: $model, family: sd1}
concepts:
  - {target: a red apple, anchors_per_step: 2, anchor_weight: 10}
train: {iterations: 20, learning_rate: 2.0e-2, warmup_steps: 2, resolution: 16, denoise_steps: 8, seed: 0}
save: {output: out, every: 10, name: demo-membrane}
YAML
echo
echo "== spm-workbench train out/demo-train.yaml (20 steps; loss per step in out/demo-membrane.jsonl)"
"$workbench" train out/demo-train.yaml
echo
echo "== spm-workbench inspect out/demo-membrane.safetensors"
"$workbench" inspect out/demo-membrane.safetensors | head -12
echo
echo "== spm-workbench generate without and with the membrane (same seed)"
"$workbench" generate --model "$model" --prompt "a red apple" --steps 10 --size 16 --seed 42 --out out/demo-original.png
"$workbench" generate --model "$model" --prompt "a red apple" --steps 10 --size 16 --seed 42 \
    --membrane out/demo-membrane.safetensors --transport off --out out/demo-membrane.png
echo
echo "The PNGs' parameters chunks record how they were made (AUTOMATIC1111's layout)."
echo "Next: 'spm-workbench --help' lists every command; 'spm-workbench --model $model' opens the workbench (q quits)."
