#!/usr/bin/env bash
# Deploy throughput of spawner settings against the first one, in the same run (by default: the pool forking
# from the daemon itself, "default-direct", the baseline, against the pool with its spawn helpers, "default";
# "1-direct" is how the daemon spawned before the pool): a fresh release daemon per round deploys SPAWNERS_STUBS native echo
# stubs at once (64 first requests in flight, `rethink-bench deploy`), rounds alternating between the
# settings so that a slower stretch of the machine falls on both. docs/BENCHMARK.md has the figures.
#
#   bash scripts/bench-spawners/run.sh            # 500 stubs, 3 rounds each, confinement full
#   SPAWNERS_STUBS=1000 SPAWNERS_ROUNDS=5 SPAWNERS_CONFINEMENT=seccomp SPAWNERS_COUNTS="1-direct default-direct default" bash scripts/bench-spawners/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
stubs=${SPAWNERS_STUBS:-500}
rounds=${SPAWNERS_ROUNDS:-3}
confinement=${SPAWNERS_CONFINEMENT:-full}
counts=${SPAWNERS_COUNTS:-"default-direct default"}
command -v jq >/dev/null || { echo "jq is needed: apt-get install -y jq" >&2; exit 1; }

source scripts/lib/bench-build.sh

work=$(mktemp -d "${TMPDIR:-/tmp}/rethink-spawners.XXXXXX")
daemon=""
cleanup() {
    [ -z "$daemon" ] || { kill "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true; }
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/catalogue"
descriptor=$(printf '{"objectName":"echo-native","version":"1","language":"executable","sourcePackageURL":"%s"}' \
    "$bin/rethink-echo-stub")
for ((i = 0; i < stubs; i++)); do echo "$descriptor" >"$work/catalogue/d-$i.example.json"; done

# One round: a fresh daemon with `spawners` set (or left to its default; a "-direct" suffix turns the spawn
# helpers off, as before they existed), the deploy, its seconds on stdout.
round() {
    local setting=$1 config="$work/config-$1.json" count=${1%-direct} helpers=true
    [ "$count" = "$setting" ] || helpers=false
    if [ "$count" = default ]; then
        printf '{"sandbox": {"confinement": "%s", "spawnHelpers": %s}}' "$confinement" "$helpers" >"$config"
    else
        printf '{"sandbox": {"confinement": "%s", "spawners": %s, "spawnHelpers": %s}}' "$confinement" "$count" "$helpers" >"$config"
    fi
    rm -rf "$work/state" "$work/rt.sock"
    mkdir -p "$work/state"
    "$bin/rethink-runtimed" --config "$config" --socket "$work/rt.sock" --state-dir "$work/state" \
        --catalogue "$work/catalogue" --log-level warning 2>>"$work/runtimed.log" &
    daemon=$!
    for _ in $(seq 100); do [ -S "$work/rt.sock" ] && break; sleep 0.1; done
    "$bin/rethink-bench" deploy --socket "$work/rt.sock" --count "$stubs" --domain-prefix d- --window 64 \
        >"$work/out.txt" 2>"$work/bench.err" || { cat "$work/bench.err" "$work/runtimed.log" >&2; exit 1; }
    kill "$daemon"
    wait "$daemon" 2>/dev/null || true
    daemon=""
    tail -n 1 "$work/out.txt" | jq -r '.seconds'
}

declare -A results
for ((r = 1; r <= rounds; r++)); do
    for setting in $counts; do
        seconds=$(round "$setting")
        echo "round $r, spawners $setting: $stubs stubs deployed in $seconds s"
        results[$setting]+="$seconds "
    done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
base=""
for setting in $counts; do
    m=$(echo "${results[$setting]}" | median)
    [ -n "$base" ] || base=$m
    awk -v s="$setting" -v m="$m" -v b="$base" -v n="$stubs" -v c="$confinement" \
        'BEGIN { printf "spawners %-7s median %.3f s for %d stubs (%s), %.2f ms per stub, %.2fx the first setting\n", s, m, n, c, 1000 * m / n, b / m }'
done
