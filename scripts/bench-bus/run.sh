#!/usr/bin/env bash
# The bus's round trips for one or more daemon builds, in alternating rounds so that a slower stretch of the
# machine falls on all of them, each beside the raw relay (the baseline) in the same round: pipelined (64 in
# flight) unpinned, and with client, daemon and stub under `taskset -c 0` (there 1e6 / rate is the CPU per
# round trip), and optionally spread over many domains. Prints each run's line and, at the end, every
# variant's rates in round order (docs/BENCHMARK.md, "The bus, 2026-12-07").
#
# BUS_DAEMONS: rethink-runtimed binaries to compare (default the build's; copy another commit's build aside
# for a before/after). BUS_ROUNDS (3), BUS_REQUESTS (300000), BUS_DOMAINS (1: set 1000 for the spread),
# BUS_PIN (both | 1 | 0, as make bench's BENCH_PIN).
#
#   bash scripts/bench-bus/run.sh
#   BUS_DAEMONS="/tmp/before/rethink-runtimed /tmp/after/rethink-runtimed" BUS_ROUNDS=4 bash scripts/bench-bus/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${BUS_ROUNDS:-3}
requests=${BUS_REQUESTS:-300000}
domains=${BUS_DOMAINS:-1}
case "${BUS_PIN:-both}" in
    both) modes="unpinned pinned" ;;
    1) modes=pinned ;;
    0) modes=unpinned ;;
    *) echo "BUS_PIN is both, 1 or 0" >&2; exit 2 ;;
esac

source scripts/lib/bench-build.sh
daemons=${BUS_DAEMONS:-"$bin/rethink-runtimed"}

work=$(mktemp -d "${TMPDIR:-/tmp}/rethink-bench-bus.XXXXXX")
source scripts/lib/bench-cleanup.sh
# One directory per daemon, each with the spawn helper beside it (as installed).
index=0
for daemon in $daemons; do
    mkdir -p "$work/d$index"
    cp "$daemon" "$work/d$index/rethink-runtimed"
    cp "$bin/rethink-spawn-helper" "$work/d$index/"
    index=$((index + 1))
done
mkdir -p "$work/catalogue"
descriptor=$(printf '{"objectName":"echo-native","version":"1","language":"executable","sourcePackageURL":"%s"}' \
    "$bin/rethink-echo-stub")
for ((i = 0; i < domains; i++)); do echo "$descriptor" >"$work/catalogue/bus-$i.example.json"; done
echo '{}' >"$work/runtimed.json"
run_options=(--requests "$requests" --sequential-requests 1 --domains "$domains" --domain-prefix bus-)
# The relay has one stub: its baseline is the one-domain rate.
[ "$domains" = 1 ] && run_options=(--requests "$requests" --sequential-requests 1 --domain bus-0.example)

wait_for() { for _ in $(seq 100); do [ -S "$1" ] && return 0; sleep 0.1; done; echo "$1 did not appear" >&2; exit 1; }
# One server (its start command after the label and launcher), one run of the client, the server stopped.
measure() {
    local label=$1 launcher=$2
    shift 2
    rm -f "$work/server.sock"
    $launcher "$@" 2>>"$work/server.log" &
    local server=$!
    pids=("$server")
    wait_for "$work/server.sock"
    local rate
    rate=$($launcher "$bin/rethink-bench" run --socket "$work/server.sock" "${run_options[@]}" |
        awk '/^pipelined/ { print $6 }')
    echo "$label $rate"
    echo "$label $rate" >>"$work/rates"
    kill "$server"
    wait "$server" 2>/dev/null || true
    pids=()
}

for ((r = 1; r <= rounds; r++)); do
    for mode in $modes; do
        launcher=""
        [ "$mode" = pinned ] && launcher="taskset -c 0"
        [ "$domains" = 1 ] && measure "relay-$mode" "$launcher" "$bin/rethink-bench" relay --socket "$work/server.sock" \
            --stub "$bin/rethink-echo-stub"
        index=0
        for daemon in $daemons; do
            rm -rf "$work/state"
            mkdir -p "$work/state"
            measure "d$index-$mode" "$launcher" "$work/d$index/rethink-runtimed" --config "$work/runtimed.json" \
                --socket "$work/server.sock" --state-dir "$work/state" --catalogue "$work/catalogue" --log-level warning
            index=$((index + 1))
        done
    done
done
echo "== pipelined round trips/s by variant, in round order (d<i> is the i-th of: $daemons)"
awk '{ rates[$1] = rates[$1] " " $2 } END { for (k in rates) print k ":" rates[k] }' "$work/rates" | sort
