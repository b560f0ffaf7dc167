#!/usr/bin/env bash
# Key-press-to-redraw latency of the workbench while it trains: opens `spm-workbench --config` in a detached tmux
# session on the tiny fixture model, starts a training run (r), waits until it is stepping, then sends N key presses
# that switch screens (4: config editor, 1: training monitor, alternately) and times each from send-keys until
# capture-pane shows the new screen. Prints the median, p95 and max in ms.
# Usage: benchmarks/tui-latency.sh [presses]   (default 100; SPM_WORKBENCH=path skips the build)
# The figure includes one tmux round trip per poll (spawning capture-pane, ~2-5 ms): it is an upper bound.
set -euo pipefail
cd "$(dirname "$0")/.."
presses="${1:-100}"
binary="${SPM_WORKBENCH:-}"
if [[ -z "$binary" ]]; then
    flags=(-c release -Xswiftc -enable-testing)
    swift build "${flags[@]}" --product spm-workbench >&2
    binary="$(swift build "${flags[@]}" --show-bin-path)/spm-workbench"
fi
work="$(mktemp -d)"
socket="tui-latency-$$"
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
t() { tmux -u -L "$socket" -f /dev/null "$@"; }
screen() { t capture-pane -p -t bench; }
# Waits (up to $2 s) until the screen contains $1.
wait_for() {
    local deadline=$(( $(date +%s) + ${2:-30} ))
    until screen | grep -qF -- "$1"; do
        (( $(date +%s) < deadline )) || { echo "timed out waiting for '$1'" >&2; screen >&2; exit 1; }
    done
}
t new-session -d -x 120 -y 40 -s bench \
    "env LANG=C.UTF-8 LC_ALL=C.UTF-8 '$binary' --images symbols --config '$work/bench.yaml'"
wait_for "✓ valid"
t send-keys -t bench r
wait_for "running (p x)" 120
wait_for "it/s" 120
samples=()
for (( i = 0; i < presses; i++ )); do
    if (( i % 2 == 0 )); then key=4 expect="Training config ·"; else key=1 expect="Loss ·"; fi
    start=$(date +%s%N)
    t send-keys -t bench "$key"
    until screen | grep -qF -- "$expect"; do :; done
    samples+=($(( ($(date +%s%N) - start) / 1000 )))
done
step=$(screen | grep -oE 'step +[0-9]+ / ' | head -1 || true)
t send-keys -t bench q
printf '%s\n' "${samples[@]}" | sort -n | awk -v presses="$presses" -v step="$step" '
    { v[NR] = $1 }
    END {
        p50 = v[int((NR + 1) / 2)]; p95 = v[int(NR * 0.95 + 0.999)]; if (p95 == "") p95 = v[NR]
        printf "key-press-to-redraw while training (%d presses, training at %s): median %.1f ms, p95 %.1f ms, max %.1f ms\n",
            presses, step, p50 / 1000, p95 / 1000, v[NR] / 1000
    }'
