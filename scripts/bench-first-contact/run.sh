#!/usr/bin/env bash
# First contact (a message to a never-seen domain, native echo stub from the local catalogue, deployed on the
# fly, answered) for each spawn-helper variant and echo-stub binary, in alternating rounds so that a slower
# stretch of the machine falls on all of them. Each round starts a fresh confined release daemon and contacts
# FC_COUNT new domains one at a time; it prints the client's p50/p99, the median of each deploy phase and the
# three slowest contacts with their phases (docs/BENCHMARK.md, "First contact and idle memory").
#
# Variants (FC_VARIANTS, default "forked exec"): "exec", the daemon with rethink-spawn-helper beside it (its
# helpers exec it, as installed); "forked", the daemon alone in its directory (no helper program: the helpers
# stay forks of the daemon, as before it existed). FC_STUBS: echo-stub binaries to compare (default the
# build's; another commit's build of rethink-echo-stub gives a before/after of the stub itself).
#
#   bash scripts/bench-first-contact/run.sh
#   FC_COUNT=80 FC_ROUNDS=5 FC_VARIANTS=exec FC_STUBS="/tmp/old-echo-stub /tmp/new-echo-stub" bash scripts/bench-first-contact/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
count=${FC_COUNT:-60}
rounds=${FC_ROUNDS:-3}
variants=${FC_VARIANTS:-"forked exec"}

source scripts/lib/bench-build.sh
stubs=${FC_STUBS:-"$bin/rethink-echo-stub"}

work=$(mktemp -d "${TMPDIR:-/tmp}/rethink-first-contact.XXXXXX")
source scripts/lib/bench-cleanup.sh
# One directory per variant: the daemon finds its helper program beside its own executable (mktemp's 0700
# directory owned by this user passes the daemon's ownership check).
for variant in $variants; do
    mkdir -p "$work/$variant"
    cp "$bin/rethink-runtimed" "$work/$variant/"
    case "$variant" in
    exec) cp "$bin/rethink-spawn-helper" "$work/$variant/" ;;
    forked) ;;
    *) echo "FC_VARIANTS: exec or forked, not $variant" >&2; exit 2 ;;
    esac
done
echo '{}' >"$work/runtimed.json"

round() {
    local variant=$1 stub=$2 label=$3
    rm -rf "$work/state" "$work/catalogue" "$work/rt.sock"
    mkdir -p "$work/state" "$work/catalogue"
    local descriptor
    descriptor=$(printf '{"objectName":"echo-native","version":"1","language":"executable","sourcePackageURL":"%s"}' "$stub")
    for ((i = 0; i < count; i++)); do echo "$descriptor" >"$work/catalogue/fc-$i.example.json"; done
    "$work/$variant/rethink-runtimed" --config "$work/runtimed.json" --socket "$work/rt.sock" --state-dir "$work/state" \
        --catalogue "$work/catalogue" --log-level warning 2>>"$work/runtimed.log" &
    local daemon=$!
    pids=("$daemon")
    for _ in $(seq 100); do [ -S "$work/rt.sock" ] && break; sleep 0.1; done
    echo "== $label"
    "$bin/rethink-bench" first-contact --socket "$work/rt.sock" --count "$count" --domain-prefix fc- \
        | grep -E '^(first-contact|deploy phases|slowest)'
    kill "$daemon"
    wait "$daemon" 2>/dev/null || true
    pids=()
}

for ((r = 1; r <= rounds; r++)); do
    for variant in $variants; do
        for stub in $stubs; do round "$variant" "$stub" "round $r: helper $variant, stub $stub"; done
    done
done
