#!/usr/bin/env bash
# Builds and runs seccomp-layout.c (needs gcc and libseccomp-dev, which scripts/install-deps.sh installs).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
gcc -O2 -Wall -o "$out/seccomp-layout" "$here/seccomp-layout.c" -lseccomp
"$out/seccomp-layout" "${1:-200}"
