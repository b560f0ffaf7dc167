#!/usr/bin/env bash
# Key-press-to-redraw latency of the workbench while it trains: opens `spm-workbench --config` in a detached tmux
# session on the tiny fixture model, starts a training run (r), waits until it is stepping, then sends N key presses
# that switch screens (4: config editor, 1: training monitor, alternately; the same before training, for comparison) and times each from send-keys until
# capture-pane shows the new screen. Prints the median, p95 and max in ms.
# Usage: benchmarks/tui-latency.sh [presses]   (default 100; SPM_WORKBENCH=path skips the build)
# The figure includes one tmux round trip per poll (spawning capture-pane, ~2-5 ms): it is an upper bound.
set -euo pipefail
cd "$(dirname "$0")/.."
presses="${1:-100}"
socket="tui-latency-$$"
source benchmarks/workbench-tmux.sh
work="$(mktemp -d)"
cleanup() { tmux -L "$socket" kill-server 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
cat > "$work/bench.yaml" <<YAML
model:
  path: $PWD/Tests/Fixtures/tiny-sd1
  family: sd1
concepts:
  - target: a red apple
    anchors_per_step: 2
train:
  iterations: 1000000
  learning_rate: 1.0e-4
  resolution: 16
  denoise_steps: 8
  seed: 1
save:
  output: $work/out
  every: 1000000
YAML
t new-session -d -x 120 -y 40 -s bench \
    "env LANG=C.UTF-8 LC_ALL=C.UTF-8 '$binary' --images symbols --config '$work/bench.yaml'"
# Median, p95 and max (µs in, ms out) of the numbers on stdin.
stats() {
    sort -n | awk '{ v[NR] = $1 } END {
        p95 = v[int(NR * 0.95 + 0.999)]; if (p95 == "") p95 = v[NR]
        printf "median %.1f ms, p95 %.1f ms, max %.1f ms", v[int((NR + 1) / 2)] / 1000, p95 / 1000, v[NR] / 1000 }'
}
# Times $1 screen switches (4 and 1 alternately), one line of µs each.
switches() {
    for (( i = 0; i < $1; i++ )); do
        if (( i % 2 == 0 )); then key=4 expect="Training config ·"; else key=1 expect="Loss"; fi
        start=${EPOCHREALTIME/./}
        t send-keys -t bench "$key"
        wait_for "$expect" 10
        echo $(( ${EPOCHREALTIME/./} - start ))
    done
}
wait_for "✓ valid"
polls=$(for (( i = 0; i < 50; i++ )); do start=${EPOCHREALTIME/./}; screen > /dev/null; echo $(( ${EPOCHREALTIME/./} - start )); done | stats)
idle=$(switches "$presses" | stats)
t send-keys -t bench r
wait_for "running (p x)" 120
wait_for "it/s" 120
first=$(screen | grep -oE 'step +[0-9]+' | grep -oE '[0-9]+' | head -1)
training=$(switches "$presses" | stats)
last=$(screen | grep -oE 'step +[0-9]+' | grep -oE '[0-9]+' | head -1)
t send-keys -t bench q
echo "one capture-pane poll:           $polls"
echo "idle, $presses screen switches:     $idle"
echo "training, $presses screen switches: $training (training went from step $first to $last meanwhile)"
