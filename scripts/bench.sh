#!/usr/bin/env bash
# Benchmarks rethink-runtimed against a raw relay baseline (docs/BENCHMARK.md): builds release, serves both
# on temporary sockets, measures round trips through each and first-contact deploy latency, prints a table.
#
# Tunables (environment): BENCH_SCRATCH_PATH (.build), BENCH_REQUESTS (200000), BENCH_WINDOW (64),
# BENCH_SEQUENTIAL_REQUESTS (20000), BENCH_FIRST_CONTACT (50), BENCH_BODY_BYTES (256), and for the JavaScript
# echo stub (reTHINK's classic shape, through the JavaScript stub host under node) BENCH_JS_REQUESTS (50000),
# BENCH_JS_SEQUENTIAL_REQUESTS (5000).
set -euo pipefail

cd "$(dirname "$0")/.."
scratch=${BENCH_SCRATCH_PATH:-.build}
requests=${BENCH_REQUESTS:-200000}
window=${BENCH_WINDOW:-64}
sequential=${BENCH_SEQUENTIAL_REQUESTS:-20000}
first_contact=${BENCH_FIRST_CONTACT:-50}
body_bytes=${BENCH_BODY_BYTES:-256}
js_requests=${BENCH_JS_REQUESTS:-50000}
js_sequential=${BENCH_JS_SEQUENTIAL_REQUESTS:-5000}

die() { echo "bench.sh: $*" >&2; exit 1; }
command -v jq >/dev/null || die "jq is needed for the summary table: apt-get install -y jq"

for product in rethink-runtimed rethink-echo-stub rethink-bench; do
    echo "== building $product (release)"
    swift build -c release --scratch-path "$scratch" --product "$product"
done
bin=$(swift build -c release --scratch-path "$scratch" --show-bin-path)

work=$(mktemp -d "${TMPDIR:-/tmp}/rethink-bench.XXXXXX")
source scripts/lib/bench-cleanup.sh

# The catalogue: bench-0.example for the round trips, one never-used domain per first contact.
mkdir -p "$work/catalogue" "$work/state"
descriptor=$(printf '{"objectName":"echo-native","version":"1","language":"executable","sourcePackageURL":"%s"}' \
    "$bin/rethink-echo-stub")
echo "$descriptor" >"$work/catalogue/bench-0.example.json"
for ((i = 0; i < first_contact; i++)); do
    echo "$descriptor" >"$work/catalogue/bench-first-$i.example.json"
done
# The JavaScript echo stub beside it: js-0.example for round trips, js-first-<i>.example for first contact.
js_descriptor=$(printf '{"objectName":"echo-js","version":"1","language":"javascript","sourcePackageURL":"%s"}' \
    "$PWD/stubkit/examples/echo_stub.js")
echo "$js_descriptor" >"$work/catalogue/js-0.example.json"
for ((i = 0; i < first_contact; i++)); do
    echo "$js_descriptor" >"$work/catalogue/js-first-$i.example.json"
done
# The host is named, not found from the binary's place: BENCH_SCRATCH_PATH may be outside the checkout.
echo "{\"javascriptHost\": \"$PWD/stubkit/js/rethink-stub-host.js\"}" >"$work/runtimed.json"

"$bin/rethink-runtimed" --config "$work/runtimed.json" --socket "$work/runtime.sock" --state-dir "$work/state" \
    --catalogue "$work/catalogue" --log-level warning 2>"$work/runtimed.log" &
pids+=($!)
# The same daemon with the isolation layer off (seccomp and rlimits only, as before it): what first contact
# costs without its own uid, namespaces, Landlock and the network supervisor.
echo '{"sandbox": {"confinement": "seccomp"}}' >"$work/seccomp-only.json"
mkdir -p "$work/state-seccomp"
"$bin/rethink-runtimed" --config "$work/seccomp-only.json" --socket "$work/runtime-seccomp.sock" \
    --state-dir "$work/state-seccomp" --catalogue "$work/catalogue" --log-level warning 2>"$work/runtimed-seccomp.log" &
pids+=($!)
"$bin/rethink-bench" relay --socket "$work/relay.sock" --stub "$bin/rethink-echo-stub" 2>"$work/relay.log" &
pids+=($!)

wait_for_socket() {
    for _ in $(seq 100); do
        [ -S "$1" ] && return 0
        sleep 0.1
    done
    die "$1 did not appear within 10 s; see the logs below"
}
wait_for_socket "$work/runtime.sock"
wait_for_socket "$work/relay.sock"
wait_for_socket "$work/runtime-seccomp.sock"

# Both daemons fresh, before the throughput phases: first contact with the same new domains on each (each
# deploys its own stubs), request by request in turn, so that a slower stretch of the machine falls on both.
echo "== first contact: $first_contact new domains, confined and seccomp only in turn"
"$bin/rethink-bench" first-contact --socket "$work/runtime.sock" --compare-socket "$work/runtime-seccomp.sock" \
    --count "$first_contact" --body-bytes "$body_bytes" | tee "$work/first.out"

run_options=(--requests "$requests" --window "$window" --sequential-requests "$sequential" --body-bytes "$body_bytes")
echo "== baseline: raw relay"
"$bin/rethink-bench" run --socket "$work/relay.sock" --label relay "${run_options[@]}" | tee "$work/relay.out"
echo "== rethink-runtimed"
"$bin/rethink-bench" run --socket "$work/runtime.sock" --label runtimed "${run_options[@]}" | tee "$work/runtimed.out"
echo "== rethink-runtimed, JavaScript echo stub (stub host under node)"
"$bin/rethink-bench" run --socket "$work/runtime.sock" --label runtimed-js --domain js-0.example \
    --requests "$js_requests" --window "$window" --sequential-requests "$js_sequential" --body-bytes "$body_bytes" \
    | tee "$work/runtimed-js.out"
echo "== first contact, fully confined, JavaScript echo stub: $first_contact new domains, deployed on the fly"
"$bin/rethink-bench" first-contact --socket "$work/runtime.sock" --count "$first_contact" --domain-prefix js-first- \
    --body-bytes "$body_bytes" | tee "$work/first-js.out"

relay=$(tail -n 1 "$work/relay.out")
daemon=$(tail -n 1 "$work/runtimed.out")
first=$(tail -n 1 "$work/first.out")
daemon_js=$(tail -n 1 "$work/runtimed-js.out")
first_js=$(tail -n 1 "$work/first-js.out")
number() { jq -r "$2" <<<"$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f%%", (b > 0 ? 100 * a / b : 0) }'; }

echo
echo "== summary ($(nproc) cores, body $body_bytes bytes, window $window)"
printf '%-30s %14s %14s %10s\n' "" "rethink-runtimed" "raw relay" "ratio"
for phase in pipelined oneAtATime; do
    d=$(number "$daemon" ".$phase.roundTripsPerSecond")
    r=$(number "$relay" ".$phase.roundTripsPerSecond")
    printf '%-30s %14.0f %14.0f %10s\n' "$phase round trips/s" "$d" "$r" "$(ratio "$d" "$r")"
    for p in p50Ms p99Ms; do
        printf '%-30s %14s %14s\n' "$phase $p" "$(number "$daemon" ".$phase.$p")" "$(number "$relay" ".$phase.$p")"
    done
done
printf '%-30s %14s %14s %10s\n' "" "confined" "seccomp only" "cost"
for p in p50Ms p99Ms; do
    c=$(number "$first" ".firstContact.$p")
    b=$(number "$first" ".compared.$p")
    printf '%-30s %14s %14s %10s\n' "first contact $p" "$c" "$b" "$(awk -v c="$c" -v b="$b" 'BEGIN { printf "%+.2f ms", c - b }')"
done
printf '%-30s %14s %14s %10s\n' "" "javascript" "native" "ratio"
for phase in pipelined oneAtATime; do
    j=$(number "$daemon_js" ".$phase.roundTripsPerSecond")
    n=$(number "$daemon" ".$phase.roundTripsPerSecond")
    printf '%-30s %14.0f %14.0f %10s\n' "echo stub $phase round trips/s" "$j" "$n" "$(ratio "$j" "$n")"
    printf '%-30s %14s %14s\n' "echo stub $phase p50Ms" "$(number "$daemon_js" ".$phase.p50Ms")" \
        "$(number "$daemon" ".$phase.p50Ms")"
done
for p in p50Ms p99Ms; do
    printf '%-30s %14s %14s\n' "echo stub first contact $p" "$(number "$first_js" ".firstContact.$p")" \
        "$(number "$first" ".firstContact.$p")"
done
