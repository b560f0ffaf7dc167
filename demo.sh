#!/usr/bin/env bash
# The main job behind `make demo`, on the testbed model shipped in models/testbed (a tiny text-to-image world our
# engine trained, whose images the testbed's detectors can read): train a membrane that erases "red", show what
# the model draws without and with it for prompts that name red (and its synonyms crimson and scarlet), and
# measure erasure and preservation — the same library calls the workbench's screens make.
set -euo pipefail
cd "$(dirname "$0")"
workbench="${1:-.build/release/spm-workbench}"
model=models/testbed
config=configs/testbed/erase-red.yaml
membrane=out/demo-erase-red.safetensors
mkdir -p out

echo "== spm-workbench inspect $model"
"$workbench" inspect "$model"
echo
echo "== spm-workbench train $config (loss per step in ${membrane%.safetensors}.jsonl)"
# A fresh run each time: the demo shows training, not resuming an earlier demo's checkpoint.
rm -f "$membrane" "${membrane%.safetensors}.checkpoint.safetensors" "${membrane%.safetensors}.jsonl"
"$workbench" train "$config" --out "$membrane"
echo
echo "== spm-workbench evaluate --task testbed (same seeds without and with the membrane)"
"$workbench" evaluate --task testbed --model "$model" --membrane "$membrane" --others 40 \
    --show 4 --sheet out/demo-pairs.png --report out/reports/demo
echo
echo "Every pair above and in out/demo-pairs.png: the base model's image, then the membrane's (same seed)."
echo "The report, with every prompt's images, gates and the training loss: out/reports/demo/index.html."
echo "'$workbench --help' lists every command."
# On a terminal the job ends in the workbench, on the testbed model with the new membrane in the rack (5 is the
# rack, m toggles the membrane, 3 generates, c compares original and membrane side by side, 6 shows the report,
# q quits). Scripts and
# CI (no terminal), or SPM_DEMO_NO_TUI=1, stop here.
if [ -t 0 ] && [ -t 1 ] && [ -z "${SPM_DEMO_NO_TUI:-}" ]; then
    echo "Opening the workbench with $membrane attached (q quits) …"
    sleep 2
    exec "$workbench" --membrane "$membrane"
fi
echo "Next: '$workbench --membrane $membrane' opens the workbench on the testbed model with the membrane in its"
echo "rack: 5 is the rack (m toggles it), 3 generates, c draws original and membrane side by side, 6 shows the"
echo "report, q quits."
