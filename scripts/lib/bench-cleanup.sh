# Sourced by the benchmark scripts after they set `work` (their scratch directory): on exit, stop the
# background processes whose PIDs they appended to `pids`, show the logs' last lines if the script
# failed, and remove the scratch directory.
pids=()
bench_cleanup() {
    local status=$?
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ "$status" -ne 0 ]; then
        echo "$(basename "$0"): failed; last lines of the logs:" >&2
        tail -n 20 "$work"/*.log >&2 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap bench_cleanup EXIT
