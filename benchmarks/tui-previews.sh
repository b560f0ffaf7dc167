#!/usr/bin/env bash
# Finished previews per second in the workbench on the shipped testbed model (issue 8: "≥ 2 previews per
# second"): opens `spm-workbench --images symbols` in a detached tmux session, goes to the generate screen (3),
# and presses g N times, timing each from send-keys until the screen shows the finished image ("done in"),
# having seen it running ("step k / n") in between. Prints each time with the workbench's own "done in" figure,
# the median, and images per second.
# Usage: benchmarks/tui-previews.sh [generations] [extra workbench flags…]   (default 10; SPM_WORKBENCH=path skips
# the build). The screen is polled every 20 ms (each poll spawns a tmux client, which takes CPU the workbench
# would use): the times are upper bounds by up to one poll.
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-10}"
shift || true
socket="tui-previews-$$" poll_pause=0.02
source benchmarks/workbench-tmux.sh
cleanup() { tmux -L "$socket" kill-server 2>/dev/null || true; }
trap cleanup EXIT
t new-session -d -x 160 -y 50 -s bench "env LANG=C.UTF-8 LC_ALL=C.UTF-8 '$binary' --images symbols $*"
t send-keys -t bench 3
wait_for "ready: press g" 60
times=()
for (( i = 0; i < count; i++ )); do
    start=${EPOCHREALTIME/./}
    t send-keys -t bench g
    wait_for "step " 10
    wait_for "done in" 30
    elapsed=$(( ${EPOCHREALTIME/./} - start ))
    times+=( "$elapsed $(screen | grep -oE 'done in [0-9.]+ s' | grep -oE '[0-9.]+')" )
done
t send-keys -t bench q
printf '%s\n' "${times[@]}" | sort -n | awk '
    { v[NR] = $1; sum += $1; own += $2; printf "%.3f s (workbench: %s s)\n", $1 / 1e6, $2 }
    END { printf "median %.3f s, mean %.3f s: %.2f previews per second (by the workbench'"'"'s own times: %.2f)\n",
          v[int((NR + 1) / 2)] / 1e6, sum / NR / 1e6, NR / (sum / 1e6), NR / own }'
