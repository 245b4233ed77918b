#!/usr/bin/env bash
# make install / make uninstall: binaries, systemd units, default configuration, bundled catalogue and
# stub kit, docs. Paths come from the Makefile (PREFIX, BINDIR, DATADIR, DOCDIR, SYSCONFDIR, UNITDIR,
# DESTDIR). The configuration is only written when none exists: an operator's edits survive a reinstall,
# and uninstall keeps it when it differs from the shipped one. The state directory is never touched.
set -euo pipefail
cd "$(dirname "$0")/.."
action=$1
products=${2:-}
: "${PREFIX:?}" "${BINDIR:?}" "${DATADIR:?}" "${DOCDIR:?}" "${SYSCONFDIR:?}" "${UNITDIR:?}"
DESTDIR=${DESTDIR:-}
config_dir="$SYSCONFDIR/rethink-runtimed"
# rethink-spawn-helper and rethink-fetch go beside rethink-runtimed: the daemon runs them from there
# (docs/SANDBOX.md).
binaries=(rethink-runtimed rethinkctl rethink-echo-stub rethink-spawn-helper rethink-fetch)
units=(rethink-runtimed.service rethink-runtimed.socket)
docs=(README.md docs/OPERATIONS.md docs/CONFIGURATION.md docs/STUBS.md docs/SANDBOX.md)

# The shipped files name the default locations; rewrite them for this PREFIX and SYSCONFDIR.
localize() {
    sed -e "s|/usr/local/bin|$BINDIR|g" \
        -e "s|/usr/local/share/rethink-runtimed|$DATADIR|g" \
        -e "s|/usr/local/share/doc/rethink-runtimed|$DOCDIR|g" \
        -e "s|/etc/rethink-runtimed|$config_dir|g" "$1"
}

case "$action" in
install)
    [ -n "$products" ] || { echo "install.sh install PRODUCTS_DIR" >&2; exit 2; }
    for binary in "${binaries[@]}"; do
        install -D -m 0755 "$products/$binary" "$DESTDIR$BINDIR/$binary"
    done
    install -d -m 0755 "$DESTDIR$DATADIR/stubkit" "$DESTDIR$DATADIR/stubkit/js" "$DESTDIR$DATADIR/catalogue/packages" \
        "$DESTDIR$DATADIR/catalogue/templates" "$DESTDIR$DOCDIR/stubs"
    install -m 0644 stubkit/*.py "$DESTDIR$DATADIR/stubkit/"
    # The JavaScript stub host (javascriptHost): node runs it with each JavaScript stub's package.
    install -m 0644 stubkit/js/*.js stubkit/js/*.mjs "$DESTDIR$DATADIR/stubkit/js/"
    install -m 0644 config/catalogue/*.json "$DESTDIR$DATADIR/catalogue/"
    # Templates for the message-node and interworking stubs: copy one to ../<key>.json and set its servers.
    install -m 0644 config/catalogue/templates/*.json "$DESTDIR$DATADIR/catalogue/templates/"
    # The catalogue's packages are links into the source tree's stub kit: install the files themselves.
    for package in config/catalogue/packages/*; do
        install -m 0644 "$(readlink -f "$package")" "$DESTDIR$DATADIR/catalogue/packages/$(basename "$package")"
    done
    for unit in "${units[@]}"; do
        install -d -m 0755 "$DESTDIR$UNITDIR"
        localize "systemd/$unit" > "$DESTDIR$UNITDIR/$unit"
        chmod 0644 "$DESTDIR$UNITDIR/$unit"
    done
    install -d -m 0755 "$DESTDIR$config_dir"
    if [ ! -e "$DESTDIR$config_dir/rethink-runtimed.json" ]; then
        localize config/rethink-runtimed.json > "$DESTDIR$config_dir/rethink-runtimed.json"
        chmod 0644 "$DESTDIR$config_dir/rethink-runtimed.json"
    else
        echo "kept the existing $DESTDIR$config_dir/rethink-runtimed.json"
    fi
    for doc in "${docs[@]}"; do install -m 0644 "$doc" "$DESTDIR$DOCDIR/"; done
    install -m 0644 docs/stubs/*.md "$DESTDIR$DOCDIR/stubs/"
    echo "installed under $DESTDIR$PREFIX; next: systemctl daemon-reload && systemctl enable --now rethink-runtimed.socket"
    ;;
units)
    # Only the localized unit files, into the directory given (for systemd-analyze verify).
    for unit in "${units[@]}"; do localize "systemd/$unit" > "$products/$unit"; done
    ;;
uninstall)
    for binary in "${binaries[@]}"; do rm -f "$DESTDIR$BINDIR/$binary"; done
    for unit in "${units[@]}"; do rm -f "$DESTDIR$UNITDIR/$unit"; done
    rm -rf "$DESTDIR$DATADIR" "$DESTDIR$DOCDIR"
    config="$DESTDIR$config_dir/rethink-runtimed.json"
    if [ -e "$config" ] && ! cmp -s "$config" <(localize config/rethink-runtimed.json); then
        echo "kept $config: it was changed after installation"
    else
        rm -f "$config"
        rmdir "$DESTDIR$config_dir" 2>/dev/null || true
    fi
    echo "uninstalled from $DESTDIR$PREFIX (state in /var/lib/rethink is kept)"
    ;;
*)
    echo "usage: install.sh install PRODUCTS_DIR | units DIR | uninstall" >&2
    exit 2
    ;;
esac
