#!/usr/bin/env bash
# Builds and runs seccomp-layout.c with the C compiler at hand (cc, gcc, or the Swift toolchain's clang) and
# libseccomp-dev (scripts/install-deps.sh installs it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
compiler=${CC:-$(command -v cc || command -v gcc || command -v clang)}
"$compiler" -O2 -Wall -o "$out/seccomp-layout" "$here/seccomp-layout.c" -lseccomp
"$out/seccomp-layout" "${1:-200}"
