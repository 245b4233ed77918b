# Sourced by the comparison scripts (scripts/bench-*/run.sh): builds the daemon, the echo stub, the spawn helper
# and rethink-bench in release (quietly), sets `bin` to their directory and raises the open-file limit as far
# as this shell may. BENCH_SCRATCH_PATH (default .build) is the build's scratch path.
scratch=${BENCH_SCRATCH_PATH:-.build}
for product in rethink-runtimed rethink-echo-stub rethink-spawn-helper rethink-bench; do
    swift build -c release --scratch-path "$scratch" --product "$product" >/dev/null 2>&1
done
bin=$(swift build -c release --scratch-path "$scratch" --show-bin-path)
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
