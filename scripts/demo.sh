#!/usr/bin/env bash
# The demo: rethink-runtimed on its embedded default catalogue, in a temporary directory. A message goes to
# a domain this runtime has never talked to; its protocol stub is deployed on the fly in the sandbox, the
# status changes are printed as they happen, the answer comes back; then everything stops.
set -euo pipefail
bin=${1:-$(swift build --show-bin-path)}
work=$(mktemp -d -t rethink-demo.XXXXXX)
socket="$work/runtime.sock"
export RETHINK_SOCKET="$socket"
daemon_pid=""
listener_pid=""
monitor_pid=""

cleanup() {
    [ -n "$listener_pid" ] && kill "$listener_pid" 2>/dev/null && wait "$listener_pid" 2>/dev/null || true
    [ -n "$monitor_pid" ] && kill "$monitor_pid" 2>/dev/null && wait "$monitor_pid" 2>/dev/null || true
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -TERM "$daemon_pid"
        wait "$daemon_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "starting rethink-runtimed (socket $socket, embedded catalogue)"
# Whoever runs the demo is its operator: their group may watch the bus and read the metrics.
printf '{"adminGroup": "%s"}\n' "$(id -gn)" > "$work/config.json"
"$bin/rethink-runtimed" --config "$work/config.json" --socket "$socket" --state-dir "$work/state" --log-level notice \
    2> "$work/daemon.log" &
daemon_pid=$!
for _ in $(seq 1 200); do [ -S "$socket" ] && break; sleep 0.05; done
[ -S "$socket" ] || { cat "$work/daemon.log"; echo "the daemon did not start" >&2; exit 1; }
"$bin/rethinkctl" status

step "watching stub status changes (rethinkctl listen status)"
"$bin/rethinkctl" listen status > >(sed -u "s/^/  [status] /") &
listener_pid=$!
sleep 0.3

step "sending to hyperty://beta.example/bob: no stub serves beta.example yet"
"$bin/rethinkctl" send --type create hyperty://beta.example/bob '{"text": "hello from the demo"}' | sed 's/^/  [answer] /'
sleep 0.2

step "watching the bus for native.example (rethinkctl monitor), then a second domain, served by the native (C) echo stub"
"$bin/rethinkctl" monitor --domain native.example > >(sed -u "s/^/  [monitor] /") &
monitor_pid=$!
sleep 0.3
"$bin/rethinkctl" send --type read hyperty://native.example/alice '"ping"' | sed 's/^/  [answer] /'
sleep 0.3
kill "$monitor_pid" 2>/dev/null; wait "$monitor_pid" 2>/dev/null || true
monitor_pid=""

step "a domain nobody publishes a stub for: an immediate 404, not a hang"
"$bin/rethinkctl" send hyperty://nowhere.example/x | sed 's/^/  [answer] /' || true

step "the registry (rethinkctl stubs)"
"$bin/rethinkctl" stubs

step "the metrics (rethinkctl metrics; Prometheus text): requests by domain and final code, deploy times"
"$bin/rethinkctl" metrics | grep -E '^(rethink_requests_total|rethink_stub_deploy_duration_seconds_(count|sum)|process_resident_memory_bytes)' \
    | sed 's/^/  /'

step "the sandbox: what the kernel says about beta.example's stub"
pid=$("$bin/rethinkctl" stubs --json | grep '"beta.example"' | sed -E 's/.*"pid":([0-9]+).*/\1/')
grep -E '^(Seccomp|NoNewPrivs):' "/proc/$pid/status" | sed 's/^/  /'

step "stopping the daemon (SIGTERM): stubs are undeployed"
kill "$listener_pid" 2>/dev/null; wait "$listener_pid" 2>/dev/null || true
listener_pid=""
stub_pids=$(grep -oE '"pid":[0-9]+' <<<"$("$bin/rethinkctl" stubs --json)" | cut -d: -f2 | tr '\n' ' ')
kill -TERM "$daemon_pid"
wait "$daemon_pid" || true
daemon_pid=""
for stub in $stub_pids; do
    if [ -e "/proc/$stub" ]; then echo "  stub $stub is still running!"; else echo "  stub $stub stopped"; fi
done
if [ -e "$socket" ]; then echo "  socket still there!"; else echo "  socket removed; done."; fi
