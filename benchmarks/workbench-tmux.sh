# Sourced by the workbench benchmarks (tui-latency.sh, tui-previews.sh) from the repository root, after they set
# $socket: the workbench binary ($binary: SPM_WORKBENCH, else the release build, built first) and helpers that drive
# it in a tmux server of its own, in a session named "bench".
binary="${SPM_WORKBENCH:-}"
if [[ -z "$binary" ]]; then
    flags=(-c release -Xswiftc -enable-testing)
    swift build "${flags[@]}" --product spm-workbench >&2
    binary="$(swift build "${flags[@]}" --show-bin-path)/spm-workbench"
fi
t() { tmux -u -L "$socket" -f /dev/null "$@"; }
screen() { t capture-pane -p -t bench; }
# Waits (up to $2 s) until the screen contains $1, polling back to back — or $poll_pause seconds apart when set.
wait_for() {
    local deadline=$(( EPOCHSECONDS + ${2:-30} ))
    until [[ "$(screen)" == *"$1"* ]]; do
        (( EPOCHSECONDS < deadline )) || { echo "timed out waiting for '$1'" >&2; screen >&2; exit 1; }
        if [[ -n "${poll_pause:-}" ]]; then sleep "$poll_pause"; fi
    done
}
