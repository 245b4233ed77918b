#!/usr/bin/env bash
# make test-systemd: rethink-runtimed under a real systemd (PID 1) in a throwaway systemd-nspawn box.
# `make install` into a staging directory, copied into the box like a package; then, as an operator
# would see it: socket activation, STATUS=, a stub deployed on the fly, the journal's structured fields,
# the hardening score, the watchdog, kill -9 and Restart=, and `systemctl stop` leaving no stub behind.
# Needs root and systemd-container (scripts/install-deps.sh installs it).
set -uo pipefail
cd "$(dirname "$0")/../.."
products=$(cd "${1:?usage: service-test.sh PRODUCTS_DIR}" && pwd -P)
here=$(pwd -P)
sdbox="$here/Tests/systemd/sdbox"
name="rtsd$$"
work=$(mktemp -d /tmp/rethink-sdbox.XXXXXX)
chmod 0755 "$work"
stage="$work/stage"
export SDBOX_STATE="$work/state"
prefix=/opt/rethink-runtimed
# Bracketed so that it does not match the command line of the shell that runs pgrep.
stub_pattern="'[e]cho_stub[.]py'"
passed=0
failed=0

ok() { passed=$((passed + 1)); echo "ok: $*"; }
not_ok() { failed=$((failed + 1)); echo "FAILED: $*"; }
check() { # check DESCRIPTION COMMAND...: passes when COMMAND succeeds
    local description=$1; shift
    if "$@"; then ok "$description"; else not_ok "$description"; fi
}
box() { "$sdbox" exec "$name" "$@"; }
# Polls COMMAND (in the box) for up to $1 seconds.
eventually() {
    local seconds=$1; shift
    local deadline=$((SECONDS + seconds))
    until box "$@" >/dev/null 2>&1; do
        [ $SECONDS -ge $deadline ] && return 1
        sleep 0.2
    done
}
cleanup() {
    "$sdbox" stop "$name" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

if [ "$(id -u)" -ne 0 ] || ! command -v systemd-nspawn >/dev/null; then
    echo "service-test.sh needs root and systemd-nspawn (apt-get install systemd-container)"
    echo "0 passed, 1 failed"
    exit 1
fi

# 1. Install, as a package would be built: DESTDIR staging, then copied into the box's root. The default
# is the optimised build an operator installs (CONFIGURATION=debug reuses the test build, faster).
install_vars=(DESTDIR="$stage" PREFIX="$prefix" UNITDIR=/etc/systemd/system SYSCONFDIR=/etc)
make -s install "${install_vars[@]}" CONFIGURATION="${CONFIGURATION:-release}" >"$work/install.log" 2>&1 \
    || { cat "$work/install.log"; echo "0 passed, 1 failed"; exit 1; }
if [ "${CONFIGURATION:-release}" = release ]; then
    check "make install: the binaries run without the toolchain's libraries" \
        bash -c "! ldd '$stage$prefix/bin/rethink-runtimed' | grep -q libswiftCore"
fi
# A debug build links the Swift runtime from the toolchain: make it visible in the box, read-only.
binds=()
runtime_lib=$(ldd "$stage$prefix/bin/rethink-runtimed" | awk '/libswiftCore/ {print $3}')
[ -n "$runtime_lib" ] && binds+=(--bind-ro="$(dirname "$runtime_lib")")
# systemd-nspawn's own seccomp allowlist (systemd 252) lacks calls the sandbox makes; a real host has no such
# outer filter. They are added back for the box, no more.
binds+=("--system-call-filter=pidfd_getfd process_vm_readv process_vm_writev landlock_create_ruleset landlock_add_rule landlock_restrict_self")
SDBOX_BIND="$stage" "$sdbox" start "$name" "${binds[@]}" || { echo "0 passed, 1 failed"; exit 1; }
box cp -a "$stage/." /
box systemctl daemon-reload

# 2. Socket activation: enabling the socket does not start the service; the first client does.
check "the socket unit is enabled and listening" box systemctl enable --now rethink-runtimed.socket
check "the service is not started before a client connects" \
    bash -c "[ \"\$(\"$sdbox\" exec $name systemctl is-active rethink-runtimed.service)\" = inactive ]"
answer=$(box "$prefix/bin/rethinkctl" send --type execute --timeout 20 hyperty://echo.example/x '"hello"' 2>&1)
check "the first client connection starts the service and a stub is deployed on the fly (got: $answer)" \
    grep -q '200' <<<"$answer"
show=$(box systemctl show rethink-runtimed.service -p ActiveState -p SubState)
check "systemctl show: active/running" grep -q "SubState=running" <<<"$show"
eventually 3 bash -c "systemctl show -p StatusText rethink-runtimed.service | grep -q '=1 stub live'"
status_text=$(box systemctl show -p StatusText --value rethink-runtimed.service)
check "systemctl show: the STATUS text counts the live stub ($status_text)" grep -q "^1 stub live" <<<"$status_text"

# The stub's confinement under the unit: the daemon is a DynamicUser, so the stub has a user namespace of
# its own, Landlock and the supervised network (SPEC section 9).
stubs_json=$(box "$prefix/bin/rethinkctl" stubs --json 2>&1)
check "under the unit the stub is confined: user namespace, Landlock, supervised network ($stubs_json)" \
    bash -c 'j=$(cat); grep -q "\"namespaceUID\":[0-9]" <<<"$j" && grep -q "\"landlock\":[1-9]" <<<"$j" && grep -q "\"networkSupervised\":true" <<<"$j"' <<<"$stubs_json"
metrics=$(box "$prefix/bin/rethinkctl" metrics 2>&1)
check "under the unit the metrics socket serves the request the stub answered" \
    grep -q 'rethink_requests_total{domain="echo.example",code="200"} 1' <<<"$metrics"
echo_pid=$(box sh -c "pgrep -f $stub_pattern" | head -n 1)
daemon_pid=$(box systemctl show -p MainPID --value rethink-runtimed.service)
check "the stub runs in its own user namespace, not the daemon's" \
    bash -c "[ \"\$(\"$sdbox\" exec $name readlink /proc/$echo_pid/ns/user)\" != \"\$(\"$sdbox\" exec $name readlink /proc/$daemon_pid/ns/user)\" ]"
helpers=$(box sh -c "for c in \$(cat /proc/$daemon_pid/task/*/children); do grep -qx rt-spawn-helper /proc/\$c/comm && echo \$c; done" | wc -l)
echo_parent=$(box sh -c "cut -d' ' -f4 /proc/$echo_pid/stat")
check "under the unit (RestrictNamespaces= refuses clone3) the spawn helpers run ($helpers) and the stub is the daemon's child ($echo_parent)" \
    test "$helpers" -ge 2 -a "$echo_parent" = "$daemon_pid"
exec_helpers=$(box sh -c "for c in \$(cat /proc/$daemon_pid/task/*/children); do readlink /proc/\$c/exe; done" | grep -c '/rethink-spawn-helper$' || true)
check "the spawn helpers run the installed rethink-spawn-helper ($exec_helpers of $helpers)" \
    test "$exec_helpers" = "$helpers"
helper_warnings=$(box journalctl -u rethink-runtimed --no-pager 2>&1 | grep -c 'spawn helper' || true)
check "the journal has no spawn helper warning ($helper_warnings)" test "$helper_warnings" = 0

# 3. The journal: structured fields and the stub's own stderr, under the unit.
eventually 5 bash -c "journalctl -u rethink-runtimed -o json --all | grep -q 'echo stub ready'"
journal=$(box journalctl -u rethink-runtimed -o json --all --no-pager)
check "journal: the live event with its MESSAGE_ID and RETHINK_DOMAIN" \
    bash -c 'grep "\"MESSAGE_ID\":\"8497a139dd834c4388a2ad02d16b1770\"" | grep -q "\"RETHINK_DOMAIN\":\"echo.example\""' <<<"$journal"
check "journal: RETHINK_STUB_URL, RETHINK_STUB_PID, RETHINK_STATUS and CODE_FILE/CODE_LINE/CODE_FUNC" \
    bash -c 'grep "\"RETHINK_STUB_PID\"" | grep "\"RETHINK_STUB_URL\"" | grep -q "\"CODE_LINE\""' <<<"$journal"
check "journal: the stub's stderr line under the stub's fields" \
    bash -c 'grep "echo stub ready" | grep "\"RETHINK_SOURCE\":\"stub\"" | grep -q "\"RETHINK_DOMAIN\":\"echo.example\""' <<<"$journal"
filtered=$(box journalctl -u rethink-runtimed RETHINK_DOMAIN=echo.example --no-pager -o cat)
check "journalctl -u rethink-runtimed RETHINK_DOMAIN=echo.example tells that domain's story" \
    grep -q "is live" <<<"$filtered"

# 4. Hardening.
security=$(box systemd-analyze security rethink-runtimed.service --no-pager 2>&1)
exposure=$(grep -o "Overall exposure level for rethink-runtimed.service: [0-9.]*" <<<"$security" | awk '{print $NF}')
echo "systemd-analyze security: exposure $exposure"
check "systemd-analyze security: exposure $exposure is 2.5 or lower" \
    awk -v e="${exposure:-99}" 'BEGIN { exit !(e <= 2.5) }'

# 5. kill -9 of the daemon: no orphan stub, Restart=on-failure brings it back, the socket still accepts.
main_pid=$(box systemctl show -p MainPID --value rethink-runtimed.service)
stub_pids=$(box sh -c "pgrep -f $stub_pattern" | tr '\n' ' ')
check "a stub process runs under the service (pids: $stub_pids)" test -n "$stub_pids"
box kill -9 "$main_pid"
check "kill -9 of the daemon leaves no orphan stub" eventually 5 bash -c "! pgrep -f $stub_pattern"
check "Restart=on-failure brings the service back" eventually 10 bash -c \
    "[ \"\$(systemctl show -p MainPID --value rethink-runtimed.service)\" != $main_pid ] && systemctl is-active -q rethink-runtimed.service"
answer=$(box "$prefix/bin/rethinkctl" send --type execute --timeout 20 hyperty://echo.example/x '"again"' 2>&1)
check "the socket kept accepting and the restarted daemon answers (got: $answer)" grep -q '200' <<<"$answer"

# 6. The watchdog: a daemon that stops answering (SIGSTOP) is restarted by systemd.
box mkdir -p /etc/systemd/system/rethink-runtimed.service.d
box sh -c 'printf "[Service]\nWatchdogSec=2s\n" > /etc/systemd/system/rethink-runtimed.service.d/watchdog.conf'
box systemctl daemon-reload
box systemctl restart rethink-runtimed.service
eventually 10 systemctl is-active -q rethink-runtimed.service
wedged=$(box systemctl show -p MainPID --value rethink-runtimed.service)
box kill -STOP "$wedged"
check "WatchdogSec: a wedged daemon is killed and restarted" eventually 15 bash -c \
    "[ \"\$(systemctl show -p MainPID --value rethink-runtimed.service)\" != $wedged ] && systemctl is-active -q rethink-runtimed.service"
check "systemd says why: the watchdog" bash -c \
    "\"$sdbox\" exec $name journalctl -u rethink-runtimed --no-pager | grep -q -i watchdog"

# 7. systemctl stop: the stubs go with the daemon.
box "$prefix/bin/rethinkctl" send --type execute --timeout 20 hyperty://echo.example/x '"last"' >/dev/null 2>&1
check "a stub runs before the stop" eventually 5 sh -c "pgrep -f $stub_pattern"
box systemctl stop rethink-runtimed.service rethink-runtimed.socket
check "systemctl stop leaves no stub process behind" eventually 5 bash -c "! pgrep -f $stub_pattern"
check "the stop was clean (undeploying stubs, stopped)" bash -c \
    "\"$sdbox\" exec $name journalctl -u rethink-runtimed --no-pager -o cat | grep -q '^stopped$'"

# 8. make uninstall takes back everything make install put there (the staging root is left empty).
make -s uninstall "${install_vars[@]}" >/dev/null 2>&1
left=$(find "$stage" -type f | sed "s|^$stage||")
check "make uninstall removes every installed file${left:+ (left: $left)}" test -z "$left"

echo "service-test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
