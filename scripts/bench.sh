#!/usr/bin/env bash
# Benchmarks rethink-runtimed against a raw relay baseline (docs/BENCHMARK.md): builds release, serves both
# on temporary sockets, measures round trips through each (unpinned, and with client, server and stubs pinned
# to one CPU), first-contact deploy latency, deploying and using many domains' stubs at once, the daemon's
# memory (VmRSS) idle, after each phase, per live stub and per idle client, and prints a summary and a table
# of the goals (issue 13) met or missed.
#
# Tunables (environment): BENCH_SCRATCH_PATH (.build), BENCH_REQUESTS (200000), BENCH_WINDOW (64),
# BENCH_SEQUENTIAL_REQUESTS (20000), BENCH_FIRST_CONTACT (50), BENCH_BODY_BYTES (256), and for the JavaScript
# echo stub (reTHINK's classic shape, through the JavaScript stub host under node) BENCH_JS_REQUESTS (50000),
# BENCH_JS_SEQUENTIAL_REQUESTS (5000).
# BENCH_PIN (both): the relay and daemon round-trip phases unpinned then pinned (`both`), only pinned (`1`)
# or only unpinned (`0`); pinned, a separate daemon and relay run under `taskset -c 0` (util-linux), their
# stubs inherit it, and so does the client.
# BENCH_DOMAINS (1000, 0 skips): stubs deployed at once (one first request to each of bench-d-<i>.example,
# pipelined), then BENCH_REQUESTS spread round-robin over them, on the unpinned daemon after its other phases.
# BENCH_CLIENTS (10000, 0 skips): idle client connections held on the unpinned daemon, last.
# BENCH_JSON_OUT (unset): also write the summary, every phase's numbers and the goals, as one JSON object there.
set -euo pipefail

# BENCH_JSON_OUT is the caller's path: made absolute before the cd below.
json_out=${BENCH_JSON_OUT:-}
case "$json_out" in "" | /*) ;; *) json_out="$PWD/$json_out" ;; esac
cd "$(dirname "$0")/.."
requests=${BENCH_REQUESTS:-200000}
window=${BENCH_WINDOW:-64}
sequential=${BENCH_SEQUENTIAL_REQUESTS:-20000}
first_contact=${BENCH_FIRST_CONTACT:-50}
body_bytes=${BENCH_BODY_BYTES:-256}
js_requests=${BENCH_JS_REQUESTS:-50000}
js_sequential=${BENCH_JS_SEQUENTIAL_REQUESTS:-5000}
pin=${BENCH_PIN:-both}
domains=${BENCH_DOMAINS:-1000}
clients=${BENCH_CLIENTS:-10000}

die() { echo "bench.sh: $*" >&2; exit 1; }
command -v jq >/dev/null || die "jq is needed for the summary table: apt-get install -y jq"
case "$pin" in
    both) unpinned=1 pinned=1 ;;
    1) unpinned=0 pinned=1 ;;
    0) unpinned=1 pinned=0 ;;
    *) die "BENCH_PIN is both, 1 (only pinned) or 0 (only unpinned), not '$pin'" ;;
esac
[ "$pinned" = 0 ] || command -v taskset >/dev/null ||
    die "taskset (util-linux) is needed for the pinned phases: apt-get install -y util-linux, or BENCH_PIN=0"
[[ "$domains" =~ ^[0-9]+$ && "$clients" =~ ^[0-9]+$ ]] || die "BENCH_DOMAINS and BENCH_CLIENTS are counts (0 skips)"

# Open files: the clients phase holds BENCH_CLIENTS sockets in the client and as many in the daemon, beside
# the daemon's six descriptors per stub (it raises its own soft limit to the hard one). 65536 where this shell
# may raise the hard limit, else as far as the hard limit goes.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
open_files=$(ulimit -n)

source scripts/lib/bench-build.sh

work=$(mktemp -d "${TMPDIR:-/tmp}/rethink-bench.XXXXXX")
source scripts/lib/bench-cleanup.sh
source scripts/lib/bench-goals.sh

# The catalogue: bench-0.example for the round trips, one never-used domain per first contact, and
# bench-d-<i>.example for the many-domains phase.
mkdir -p "$work/catalogue" "$work/state"
descriptor=$(printf '{"objectName":"echo-native","version":"1","language":"executable","sourcePackageURL":"%s"}' \
    "$bin/rethink-echo-stub")
echo "$descriptor" >"$work/catalogue/bench-0.example.json"
for ((i = 0; i < first_contact; i++)); do
    echo "$descriptor" >"$work/catalogue/bench-first-$i.example.json"
done
for ((i = 0; i < domains; i++)); do
    echo "$descriptor" >"$work/catalogue/bench-d-$i.example.json"
done
# The JavaScript echo stub beside it: js-0.example for round trips, js-first-<i>.example for first contact.
js_descriptor=$(printf '{"objectName":"echo-js","version":"1","language":"javascript","sourcePackageURL":"%s"}' \
    "$PWD/stubkit/examples/echo_stub.js")
echo "$js_descriptor" >"$work/catalogue/js-0.example.json"
for ((i = 0; i < first_contact; i++)); do
    echo "$js_descriptor" >"$work/catalogue/js-first-$i.example.json"
done
# The host is named, not found from the binary's place: BENCH_SCRATCH_PATH may be outside the checkout.
# No stub limit to raise for the many-domains phase: the daemon has none besides its open files (above) and
# its range of stub uids (65536 by default).
echo "{\"javascriptHost\": \"$PWD/stubkit/js/rethink-stub-host.js\"}" >"$work/runtimed.json"

# The daemon's resident memory in KiB, from /proc (VmRSS: what it holds in RAM, shared pages included).
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
wait_for_socket() {
    for _ in $(seq 100); do
        [ -S "$1" ] && return 0
        sleep 0.1
    done
    die "$1 did not appear within 10 s; see the logs below"
}
# Says whether a process and all its descendants (a server's stubs) may run on CPU 0 only: taskset's affinity
# is inherited, unless something on the way sets its own.
check_pinned() {
    local name=$1 todo=("$2") pid allowed others=()
    local count=0
    while [ "${#todo[@]}" -gt 0 ]; do
        pid=${todo[0]}
        todo=("${todo[@]:1}")
        allowed=$(awk '/^Cpus_allowed_list:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
        [ -z "$allowed" ] || [ "$allowed" = 0 ] || others+=("$pid on CPUs $allowed")
        count=$((count + 1))
        mapfile -t -O "${#todo[@]}" todo < <(pgrep -P "$pid" || true)
    done
    if [ "${#others[@]}" -eq 0 ] && [ "$count" -eq 1 ]; then
        echo "pinned: $name on CPU 0 (no child left to check: its stubs have exited)"
    elif [ "${#others[@]}" -eq 0 ]; then
        echo "pinned: $name and its $((count - 1)) descendant(s) all on CPU 0"
    else
        echo "bench.sh: warning: $name is not all pinned: ${others[*]}" >&2
    fi
}
# Stops a server this script started (SIGTERM; the daemon stops its stubs) and waits for it.
stop() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# Starts a daemon on $work/runtime<suffix>.sock with its own state directory and log, under the launcher
# words given after the config (none, or taskset); its PID is in `started`.
start_daemon() {
    local suffix=$1 config=$2
    shift 2
    mkdir -p "$work/state$suffix"
    "$@" "$bin/rethink-runtimed" --config "$config" --socket "$work/runtime$suffix.sock" --state-dir "$work/state$suffix" \
        --catalogue "$work/catalogue" --log-level warning 2>"$work/runtimed$suffix.log" &
    started=$!
    pids+=("$started")
}
# Starts the raw relay on $work/relay<suffix>.sock, likewise, with that many echo children shared by every
# connection (its --fanout; 0: one child per connection).
start_relay() {
    local suffix=$1 fanout=$2
    shift 2
    "$@" "$bin/rethink-bench" relay --socket "$work/relay$suffix.sock" --stub "$bin/rethink-echo-stub" \
        --fanout "$fanout" 2>"$work/relay$suffix.log" &
    started=$!
    pids+=("$started")
}
# The round-trip phases through the relay (the baseline) and then the daemon started with the same suffix,
# the client under the same launcher words; their numbers go to relay<suffix>.out and runtimed<suffix>.out.
round_trips() {
    local suffix=$1 heading=$2
    shift 2
    echo "== ${heading}baseline: raw relay"
    "$@" "$bin/rethink-bench" run --socket "$work/relay$suffix.sock" --label "relay$suffix" "${run_options[@]}" \
        | tee "$work/relay$suffix.out"
    echo "== ${heading}rethink-runtimed"
    "$@" "$bin/rethink-bench" run --socket "$work/runtime$suffix.sock" --label "runtimed$suffix" "${run_options[@]}" \
        | tee "$work/runtimed$suffix.out"
}

start_daemon "" "$work/runtimed.json"
daemon_pid=$started
# The same daemon with the isolation layer off (seccomp and rlimits only, as before it): what first contact
# costs without its own uid, namespaces, Landlock and the network supervisor.
echo '{"sandbox": {"confinement": "seccomp"}}' >"$work/seccomp-only.json"
start_daemon -seccomp "$work/seccomp-only.json"
if [ "$unpinned" = 1 ]; then
    start_relay "" 0
    wait_for_socket "$work/relay.sock"
fi
wait_for_socket "$work/runtime.sock"
wait_for_socket "$work/runtime-seccomp.sock"
# Memory points of the (unpinned) daemon, in KiB; an empty one is a phase that did not run.
rss_idle=$(rss_kib "$daemon_pid")
rss_first_contact="" rss_run="" rss_js="" rss_pinned_run="" rss_before_deploy="" rss_deployed="" rss_domains=""
rss_before_clients="" rss_clients=""

# Both daemons fresh, before the throughput phases: first contact with the same new domains on each (each
# deploys its own stubs), request by request in turn, so that a slower stretch of the machine falls on both.
echo "== first contact: $first_contact new domains, confined and seccomp only in turn"
"$bin/rethink-bench" first-contact --socket "$work/runtime.sock" --compare-socket "$work/runtime-seccomp.sock" \
    --count "$first_contact" --body-bytes "$body_bytes" | tee "$work/first.out"
rss_first_contact=$(rss_kib "$daemon_pid")

run_options=(--requests "$requests" --window "$window" --sequential-requests "$sequential" --body-bytes "$body_bytes")
if [ "$unpinned" = 1 ]; then
    round_trips "" ""
    rss_run=$(rss_kib "$daemon_pid")
    # The ceiling of sharding the bus by domain on this machine (docs/BENCHMARK.md, "Many cores"): two
    # daemons, one event loop each, pipelined at once with a client and a stub each, against one alone above.
    echo "== two daemons at once (one loop each): pipelined, $requests requests each"
    shard_pids=()
    for suffix in "" -seccomp; do
        "$bin/rethink-bench" run --socket "$work/runtime$suffix.sock" --label "shard$suffix" --requests "$requests" \
            --window "$window" --sequential-requests 1 --body-bytes "$body_bytes" >"$work/shard$suffix.out" &
        shard_pids+=("$!")
        pids+=("$!")
    done
    for shard in "${shard_pids[@]}"; do wait "$shard" || die "a two-daemon run failed (see above)"; done
    grep -h "^pipelined" "$work/shard.out" "$work/shard-seccomp.out"
fi
# Pinned: a daemon and a relay of their own under taskset -c 0 (their stubs inherit the affinity), the client
# too, so that one CPU does everything and the wall time of a phase is the CPU time it took. Before the
# JavaScript phases: their fifty idle node stubs wake now and then, and their wake-ups on CPU 0 were counted in
# the pinned cost (186k/s there, 227k/s before them, same build).
if [ "$pinned" = 1 ]; then
    start_daemon -pinned "$work/runtimed.json" taskset -c 0
    pinned_pid=$started
    start_relay -pinned 0 taskset -c 0
    pinned_relay_pid=$started
    wait_for_socket "$work/runtime-pinned.sock"
    wait_for_socket "$work/relay-pinned.sock"
    round_trips -pinned "pinned to CPU 0 (taskset -c 0): " taskset -c 0
    rss_pinned_run=$(rss_kib "$pinned_pid")
    check_pinned rethink-runtimed "$pinned_pid"
    check_pinned "the relay" "$pinned_relay_pid"
    stop "$pinned_relay_pid"
    stop "$pinned_pid"
fi

echo "== rethink-runtimed, JavaScript echo stub (stub host under node)"
"$bin/rethink-bench" run --socket "$work/runtime.sock" --label runtimed-js --domain js-0.example \
    --requests "$js_requests" --window "$window" --sequential-requests "$js_sequential" --body-bytes "$body_bytes" \
    | tee "$work/runtimed-js.out"
rss_js=$(rss_kib "$daemon_pid")
echo "== first contact, fully confined, JavaScript echo stub: $first_contact new domains, deployed on the fly"
"$bin/rethink-bench" first-contact --socket "$work/runtime.sock" --count "$first_contact" --domain-prefix js-first- \
    --body-bytes "$body_bytes" | tee "$work/first-js.out"

if [ "$domains" -gt 0 ]; then
    echo "== $domains domains: $domains stubs deployed at once, then $requests requests round-robin over them"
    rss_before_deploy=$(rss_kib "$daemon_pid")
    "$bin/rethink-bench" deploy --socket "$work/runtime.sock" --count "$domains" --domain-prefix bench-d- \
        --window "$window" --body-bytes "$body_bytes" | tee "$work/deploy.out"
    rss_deployed=$(rss_kib "$daemon_pid")
    "$bin/rethink-bench" run --socket "$work/runtime.sock" --label "runtimed-$domains-domains" --domains "$domains" \
        --domain-prefix bench-d- "${run_options[@]}" | tee "$work/domains.out"
    rss_domains=$(rss_kib "$daemon_pid")
    # Its baseline: the raw relay spreading the same requests over as many echo processes, started once
    # (FanoutRelay): what a process per destination costs on this machine, without the daemon.
    if [ "$unpinned" = 1 ]; then
        echo "== baseline: raw relay over $domains echo processes"
        start_relay -fanout "$domains"
        fanout_pid=$started
        wait_for_socket "$work/relay-fanout.sock"
        "$bin/rethink-bench" run --socket "$work/relay-fanout.sock" --label "relay-$domains-domains" \
            --domains "$domains" --domain-prefix bench-d- "${run_options[@]}" | tee "$work/relay-domains.out"
        stop "$fanout_pid"
    fi
fi

# Idle clients, last: the client holds them until its stdin (a fifo) ends, and says on another fifo when
# every greeting is read, which is when the daemon's memory is read.
clients_skipped=""
if [ "$clients" -gt 0 ]; then
    daemon_fds=$(ls "/proc/$daemon_pid/fd" | wc -l)
    if [ "$open_files" != unlimited ] && [ $((clients + daemon_fds + 64)) -gt "$open_files" ]; then
        clients_skipped="the open-file limit is $open_files, $clients clients need $((clients + daemon_fds + 64))"
        echo "== $clients idle clients: skipped, $clients_skipped (raise the hard limit, or lower BENCH_CLIENTS)"
    else
        echo "== $clients idle client connections"
        mkfifo "$work/clients-hold" "$work/clients-ready"
        rss_before_clients=$(rss_kib "$daemon_pid")
        "$bin/rethink-bench" clients --socket "$work/runtime.sock" --count "$clients" <"$work/clients-hold" \
            >"$work/clients-ready" 2>"$work/clients.log" &
        clients_pid=$!
        pids+=("$clients_pid")
        exec 3>"$work/clients-hold" 4<"$work/clients-ready"
        read -r -t 300 connected <&4 || die "the clients phase ended before every connection was greeted"
        read -r -t 10 clients_json <&4 || die "the clients phase printed no JSON line"
        rss_clients=$(rss_kib "$daemon_pid")
        echo "$connected"
        echo "$clients_json" >"$work/clients.out"
        exec 3>&-
        wait "$clients_pid" || die "rethink-bench clients failed closing its connections"
        exec 4<&-
    fi
fi

last_json() { if [ -s "$1" ]; then tail -n 1 "$1"; else echo null; fi; }
relay=$(last_json "$work/relay.out")
daemon=$(last_json "$work/runtimed.out")
first=$(last_json "$work/first.out")
daemon_js=$(last_json "$work/runtimed-js.out")
first_js=$(last_json "$work/first-js.out")
relay_pinned=$(last_json "$work/relay-pinned.out")
daemon_pinned=$(last_json "$work/runtimed-pinned.out")
deploy=$(last_json "$work/deploy.out")
many=$(last_json "$work/domains.out")
relay_many=$(last_json "$work/relay-domains.out")
shard_a=$(last_json "$work/shard.out")
shard_b=$(last_json "$work/shard-seccomp.out")
clients_report=$(last_json "$work/clients.out")
number() { jq -r "$2" <<<"$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f%%", (b > 0 ? 100 * a / b : 0) }'; }
# CPU time per round trip in µs of a pipelined phase run on one CPU, which is never idle then: wall time is CPU
# time, so 1e6 / rate.
cpu_us() { awk -v r="$1" 'BEGIN { printf "%.2f", (r > 0 ? 1e6 / r : 0) }'; }
# Per-item memory cost in KiB between two VmRSS readings (KiB), or empty when either is missing.
per_item_kib() { [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { printf "%.2f", (b - a) / n }'; }

echo
echo "== summary ($(nproc) cores, body $body_bytes bytes, window $window)"
printf '%-30s %14s %14s %10s\n' "" "rethink-runtimed" "raw relay" "ratio"
if [ "$unpinned" = 1 ]; then
    for phase in pipelined oneAtATime; do
        d=$(number "$daemon" ".$phase.roundTripsPerSecond")
        r=$(number "$relay" ".$phase.roundTripsPerSecond")
        printf '%-30s %14.0f %14.0f %10s\n' "$phase round trips/s" "$d" "$r" "$(ratio "$d" "$r")"
        for p in p50Ms p99Ms; do
            printf '%-30s %14s %14s\n' "$phase $p" "$(number "$daemon" ".$phase.$p")" "$(number "$relay" ".$phase.$p")"
        done
    done
fi
if [ "$pinned" = 1 ]; then
    for phase in pipelined oneAtATime; do
        d=$(number "$daemon_pinned" ".$phase.roundTripsPerSecond")
        r=$(number "$relay_pinned" ".$phase.roundTripsPerSecond")
        printf '%-30s %14.0f %14.0f %10s\n' "pinned $phase round trips/s" "$d" "$r" "$(ratio "$d" "$r")"
        [ "$phase" != pipelined ] ||
            printf '%-30s %14s %14s\n' "pinned CPU us per round trip" "$(cpu_us "$d")" "$(cpu_us "$r")"
        for p in p50Ms p99Ms; do
            printf '%-30s %14s %14s\n' "pinned $phase $p" "$(number "$daemon_pinned" ".$phase.$p")" \
                "$(number "$relay_pinned" ".$phase.$p")"
        done
    done
fi
if [ "$domains" -gt 0 ]; then
    m=$(number "$many" ".pipelined.roundTripsPerSecond")
    if [ "$unpinned" = 1 ]; then
        r=$(number "$relay_many" ".pipelined.roundTripsPerSecond")
        printf '%-30s %14.0f %14.0f %10s\n' "$domains domains pipelined rt/s" "$m" "$r" "$(ratio "$m" "$r")"
        printf '%-30s %14s %14s\n' "$domains domains / one domain" \
            "$(ratio "$m" "$(number "$daemon" ".pipelined.roundTripsPerSecond")")" \
            "$(ratio "$r" "$(number "$relay" ".pipelined.roundTripsPerSecond")")"
    else
        printf '%-30s %14.0f\n' "$domains domains pipelined rt/s" "$m"
    fi
    for p in p50Ms p99Ms; do printf '%-30s %14s\n' "$domains domains pipelined $p" "$(number "$many" ".pipelined.$p")"; done
fi
if [ "$unpinned" = 1 ]; then
    a=$(number "$shard_a" ".pipelined.roundTripsPerSecond")
    b=$(number "$shard_b" ".pipelined.roundTripsPerSecond")
    one=$(number "$daemon" ".pipelined.roundTripsPerSecond")
    sum=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.0f", a + b }')
    printf '%-30s %14s %14s %10s\n' "" "two daemons" "one alone" "ratio"
    printf '%-30s %14.0f %14.0f %10s\n' "pipelined rt/s (sum of both)" "$sum" "$one" "$(ratio "$sum" "$one")"
fi
printf '%-30s %14s %14s %10s\n' "" "confined" "seccomp only" "cost"
for p in p50Ms p99Ms; do
    c=$(number "$first" ".firstContact.$p")
    b=$(number "$first" ".compared.$p")
    printf '%-30s %14s %14s %10s\n' "first contact $p" "$c" "$b" "$(awk -v c="$c" -v b="$b" 'BEGIN { printf "%+.2f ms", c - b }')"
done
# Where first contact's time goes: the median of each deploy phase the daemon timed (the registry's deployMs),
# and what is left of each latency once they are taken off (the request reaching the deploy, the queued
# request's delivery, the stub's answer and its way back).
for phase in catalogue package spawn attach handshake statuses firstAnswer; do
    c=$(number "$first" ".breakdown.$phase")
    b=$(number "$first" ".comparedBreakdown.$phase")
    printf '%-30s %14s %14s %10s\n' "  p50 $phase ms" "$c" "$b" "$(awk -v c="$c" -v b="$b" 'BEGIN { printf "%+.2f ms", c - b }')"
done
if [ "$unpinned" = 1 ]; then
    printf '%-30s %14s %14s %10s\n' "" "javascript" "native" "ratio"
    for phase in pipelined oneAtATime; do
        j=$(number "$daemon_js" ".$phase.roundTripsPerSecond")
        n=$(number "$daemon" ".$phase.roundTripsPerSecond")
        printf '%-30s %14.0f %14.0f %10s\n' "echo stub $phase round trips/s" "$j" "$n" "$(ratio "$j" "$n")"
        printf '%-30s %14s %14s\n' "echo stub $phase p50Ms" "$(number "$daemon_js" ".$phase.p50Ms")" \
            "$(number "$daemon" ".$phase.p50Ms")"
    done
else
    printf '%-30s %14s\n' "" "javascript"
    for phase in pipelined oneAtATime; do
        printf '%-30s %14.0f\n' "echo stub $phase round trips/s" "$(number "$daemon_js" ".$phase.roundTripsPerSecond")"
        printf '%-30s %14s\n' "echo stub $phase p50Ms" "$(number "$daemon_js" ".$phase.p50Ms")"
    done
    printf '%-30s %14s %14s\n' "" "javascript" "native"
fi
for p in p50Ms p99Ms; do
    printf '%-30s %14s %14s\n' "echo stub first contact $p" "$(number "$first_js" ".firstContact.$p")" \
        "$(number "$first" ".firstContact.$p")"
done

# Memory: the unpinned daemon's VmRSS at each point (the pinned daemon's after its own run).
per_stub=$(per_item_kib "$rss_before_deploy" "$rss_deployed" "$domains" || true)
per_client=$(per_item_kib "$rss_before_clients" "$rss_clients" "$clients" || true)
echo
echo "== daemon memory (VmRSS, MiB)"
memory_row() { [ -z "$2" ] || printf '%-44s %10s MiB\n' "$1" "$(mib "$2")"; }
memory_row "idle, after start" "$rss_idle"
memory_row "after first contact ($first_contact stubs)" "$rss_first_contact"
memory_row "after the pipelined + one-at-a-time phases" "$rss_run"
memory_row "after the JavaScript phases" "$rss_js"
memory_row "pinned daemon, after its phases" "$rss_pinned_run"
memory_row "before deploying $domains stubs" "$rss_before_deploy"
memory_row "after deploying $domains stubs" "$rss_deployed"
memory_row "after the $domains-domain phase" "$rss_domains"
memory_row "before $clients idle clients" "$rss_before_clients"
memory_row "with $clients idle clients" "$rss_clients"
[ -z "$per_stub" ] || printf '%-44s %10s KiB\n' "per live stub" "$per_stub"
[ -z "$per_client" ] || printf '%-44s %10s KiB\n' "per idle client" "$per_client"
[ -z "$clients_skipped" ] || echo "idle clients: skipped, $clients_skipped"
if [ "$domains" -gt 0 ]; then
    echo
    echo "== $domains stubs deployed in $(number "$deploy" .seconds) s"
fi

# The goals of issue 13. A value is left empty when its phase did not run.
val() { [ "$1" = 1 ] && awk -v v="$2" -v f="$3" 'BEGIN { printf f, v }' || true; }
pipelined_rate=$(val "$unpinned" "$(number "$daemon" .pipelined.roundTripsPerSecond)" "%.0f")
pinned_cpu="" pinned_p50=""
if [ "$pinned" = 1 ]; then
    pinned_cpu=$(cpu_us "$(number "$daemon_pinned" .pipelined.roundTripsPerSecond)")
    pinned_p50=$(awk -v v="$(number "$daemon_pinned" .oneAtATime.p50Ms)" 'BEGIN { printf "%.0f", v * 1000 }')
fi
after_run_rss=${rss_run:-$rss_pinned_run}
after_run_label="RSS after the round-trip phases"
[ -n "$rss_run" ] || after_run_label="RSS after the round-trip phases (pinned)"
domains_ratio="" deploy_seconds="" many_label=$domains
[ "$domains" -gt 0 ] || many_label=N
if [ "$domains" -gt 0 ]; then
    deploy_seconds=$(number "$deploy" .seconds)
    if [ "$unpinned" = 1 ]; then
        domains_ratio=$(awk -v m="$(number "$many" .pipelined.roundTripsPerSecond)" \
            -v o="$(number "$daemon" .pipelined.roundTripsPerSecond)" 'BEGIN { printf "%.1f", 100 * m / o }')
    fi
fi
echo
echo "== goals (issue 13)"
: >"$work/goals.jsonl"
bench_goal_header
bench_goal "pipelined round trips/s, unpinned" ">= 150000/s" ge 150000 "$pipelined_rate" "/s"
bench_goal "pinned CPU per round trip (client+daemon+stub)" "<= 4 us" le 4 "$pinned_cpu" "us"
bench_goal "one-at-a-time p50, pinned" "<= 35 us" le 35 "$pinned_p50" "us"
bench_goal "first contact p50 (confined)" "<= 3 ms" le 3 "$(number "$first" .firstContact.p50Ms)" "ms"
bench_goal "first contact p99 (confined)" "<= 6 ms" le 6 "$(number "$first" .firstContact.p99Ms)" "ms"
bench_goal "idle RSS" "<= 8 MiB" le 8 "$(mib "$rss_idle")" "MiB"
bench_goal "$after_run_label" "<= 16 MiB" le 16 "${after_run_rss:+$(mib "$after_run_rss")}" "MiB"
bench_goal "RSS per live stub" "<= 32 KiB" le 32 "$per_stub" "KiB"
bench_goal "RSS per idle client" "<= 4 KiB" le 4 "$per_client" "KiB"
bench_goal "$many_label-domain throughput / one domain" ">= 80%" ge 80 "$domains_ratio" "%"
bench_goal "$many_label stubs deployed" "<= 2 s" le 2 "$deploy_seconds" "s"

if [ -n "$json_out" ]; then
    kib() { echo "${1:-null}"; }
    jq -n --argjson cores "$(nproc)" --argjson bodyBytes "$body_bytes" --argjson window "$window" \
        --argjson requests "$requests" --argjson sequentialRequests "$sequential" --arg pin "$pin" \
        --argjson relay "$relay" --argjson runtimed "$daemon" \
        --argjson relayPinned "$relay_pinned" --argjson runtimedPinned "$daemon_pinned" \
        --argjson firstContact "$first" --argjson javascript "$daemon_js" --argjson firstContactJavascript "$first_js" \
        --argjson domains "$domains" --argjson deploy "$deploy" --argjson manyDomains "$many" \
        --argjson relayManyDomains "$relay_many" \
        --argjson clients "$clients" --argjson clientsReport "$clients_report" --arg clientsSkipped "$clients_skipped" \
        --argjson rssIdle "$(kib "$rss_idle")" --argjson rssFirstContact "$(kib "$rss_first_contact")" \
        --argjson rssRun "$(kib "$rss_run")" --argjson rssJavascript "$(kib "$rss_js")" \
        --argjson rssPinnedRun "$(kib "$rss_pinned_run")" --argjson rssBeforeDeploy "$(kib "$rss_before_deploy")" \
        --argjson rssDeployed "$(kib "$rss_deployed")" --argjson rssDomains "$(kib "$rss_domains")" \
        --argjson rssBeforeClients "$(kib "$rss_before_clients")" --argjson rssClients "$(kib "$rss_clients")" \
        --argjson perStub "$(kib "$per_stub")" --argjson perClient "$(kib "$per_client")" \
        --slurpfile goals "$work/goals.jsonl" '
        def rate($x): $x.pipelined.roundTripsPerSecond;
        def cpu($x): if $x == null then null else (1e6 / rate($x) * 100 | round / 100) end;
        def share($a; $b): if $a == null or $b == null then null else (1000 * rate($a) / rate($b) | round / 10) end;
        {
          cores: $cores, bodyBytes: $bodyBytes, window: $window, requests: $requests,
          sequentialRequests: $sequentialRequests, pin: $pin,
          unpinned: {relay: $relay, runtimed: $runtimed, pipelinedPercentOfRelay: share($runtimed; $relay)},
          pinned: {relay: $relayPinned, runtimed: $runtimedPinned,
                   pipelinedPercentOfRelay: share($runtimedPinned; $relayPinned),
                   cpuMicrosPerRoundTrip: {relay: cpu($relayPinned), runtimed: cpu($runtimedPinned)}},
          firstContact: $firstContact,
          javascript: {run: $javascript, firstContact: $firstContactJavascript},
          domains: {count: $domains, deploy: $deploy, run: $manyDomains,
                    pipelinedPercentOfOneDomain: share($manyDomains; $runtimed),
                    pipelinedPercentOfRelay: share($manyDomains; $relay),
                    relay: $relayManyDomains, relayPercentOfRelayToOne: share($relayManyDomains; $relay),
                    pipelinedPercentOfRelayOverAsMany: share($manyDomains; $relayManyDomains)},
          clients: {count: $clients, report: $clientsReport,
                    skipped: (if $clientsSkipped == "" then null else $clientsSkipped end)},
          rssKiB: {idle: $rssIdle, afterFirstContact: $rssFirstContact, afterRun: $rssRun,
                   afterJavascript: $rssJavascript, pinnedAfterRun: $rssPinnedRun,
                   beforeDeploy: $rssBeforeDeploy, afterDeploy: $rssDeployed, afterDomains: $rssDomains,
                   beforeClients: $rssBeforeClients, withClients: $rssClients,
                   perStub: $perStub, perClient: $perClient},
          goals: $goals
        }' >"$json_out"
    echo
    echo "summary written to $json_out"
fi
