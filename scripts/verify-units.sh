#!/usr/bin/env bash
# make test-units: systemd-analyze verify of the unit files as `make install` writes them, with
# ExecStart pointing at the binaries just built (verify checks that they exist and are executable).
set -euo pipefail
cd "$(dirname "$0")/.."
products=$(cd "${1:?usage: verify-units.sh PRODUCTS_DIR}" && pwd -P)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
PREFIX=/usr/local BINDIR="$products" DATADIR=/usr/local/share/rethink-runtimed \
    DOCDIR=/usr/local/share/doc/rethink-runtimed SYSCONFDIR=/etc UNITDIR=/unused \
    bash scripts/install.sh units "$scratch"
output=$(systemd-analyze verify "$scratch/rethink-runtimed.socket" "$scratch/rethink-runtimed.service" 2>&1) || {
    echo "$output"
    echo "systemd-analyze verify: the units have errors"
    exit 1
}
# verify exits 0 on some problems it only prints; anything about our units is a failure.
if grep -q "rethink-runtimed" <<<"$output"; then
    echo "$output"
    echo "systemd-analyze verify: warnings about the units"
    exit 1
fi
echo "systemd-analyze verify: rethink-runtimed.service and rethink-runtimed.socket are clean"
