# Sourced by scripts/bench.sh, scripts/bench-network.sh, the comparison scripts (scripts/bench-*/run.sh) and
# scripts/link-order/generate.sh: builds in release with scripts/lib/release-flags.sh the products named in
# `bench_products` if the caller set it, else the daemon, the echo stub, the spawn helper and rethink-bench
# (a heading each, quiet, but a failed build shows its output), waits for the build's writes to reach the disk,
# reads the binaries into the page cache, sets `bin` to their directory and raises the open-file limit as far
# as this shell may.
# BENCH_SCRATCH_PATH (default .build) is the build's scratch path.
scratch=${BENCH_SCRATCH_PATH:-.build}
source "$(dirname "${BASH_SOURCE[0]}")/release-flags.sh"
[ -n "${bench_products+set}" ] || bench_products=(rethink-runtimed rethink-echo-stub rethink-spawn-helper rethink-bench)
build_log=$(mktemp "${TMPDIR:-/tmp}/rethink-bench-build.XXXXXX")
for product in "${bench_products[@]}"; do
    echo "== building $product (release)"
    # Quiet when it builds; a failed build shows its output instead of ending the script without a word.
    swift build -c release "${release_flags[@]}" --scratch-path "$scratch" --product "$product" >"$build_log" 2>&1 ||
        { cat "$build_log" >&2; rm -f "$build_log"; echo "building $product failed" >&2; exit 1; }
done
rm -f "$build_log"
bin=$(swift build -c release --scratch-path "$scratch" --show-bin-path)
# The build's own writes (some hundred MiB of objects and binaries) are flushed before anything is timed, so
# that their writeback does not fall on the first phase.
sync
# And the binaries are read anew into the page cache, so that every run starts from the same cache, warm and
# as a daemon started after boot finds it. Warm: pages left untouched since the link may have been evicted
# already (the development VM's kernel pages out cached file pages unused for a minute, through DAMON), and
# the first deploy would then wait for the disk (5-62 ms instead of 3-5). Anew: a file written by cp or
# install, or read with read(2) (cat), is cached in large folios, which this kernel maps whole at a fault, and
# the idle daemon then holds up to 4 MiB more than one that reads its binary from the disk. So each file's
# cached pages are dropped (they are clean after the `sync`) and read again through a mapping, a byte a page,
# as the daemon's own faults read them. docs/BENCHMARK.md, "A cold page cache".
python3 -c '
import mmap, os, sys
for path in sys.argv[1:]:
    with open(path, "rb") as file:
        os.posix_fadvise(file.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        with mmap.mmap(file.fileno(), 0, prot=mmap.PROT_READ) as pages:
            sum(pages[offset] for offset in range(0, len(pages), mmap.PAGESIZE))
' "${bench_products[@]/#/$bin/}"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
