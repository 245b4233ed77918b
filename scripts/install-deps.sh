#!/usr/bin/env bash
# Installs the Debian packages rethink-runtimed builds and tests with. Needs root (or sudo).
set -euo pipefail
packages=(
    libseccomp-dev   # the sandbox: seccomp-bpf filters through libseccomp
    pkg-config       # SwiftPM finds libseccomp through it
    python3          # Debian's /usr/bin/python3 runs the Python stubs and the stub kit's tests
    util-linux       # setpriv: tests connect as another Unix user
    jq               # make bench: the summary table
    systemd          # systemd-analyze verify, a standalone systemd-journald and journalctl for the tests
    systemd-container # systemd-nspawn: the service test boots a real systemd in a throwaway box
    nats-server      # make test-interworking: the real peers the message-node and interworking stubs talk to
    mosquitto
    ngircd
    prosody
    lua-unbound      # prosody needs it
    sip-tester       # sipp, as the SIP peer
    kamailio         # a real SIP registrar and proxy between two runtimes' SIP stubs
    python3-slixmpp  # the tests' native XMPP client
    python3-paho-mqtt # the tests' native MQTT client
    openssl          # the tests' throwaway TLS certificates and test CAs
    zlib1g-dev       # gzip stub archives (tar.gz) through zlib
    nginx            # tests: the web server a domain publishes its .well-known stub tree with
    nodejs           # /usr/bin/node runs JavaScript stubs (reTHINK's protostubs, through stubkit/js)
    node-ws          # WebSocket for JavaScript stubs (/usr/share/nodejs/ws); the tests' message node
    prometheus       # promtool: the tests check the metrics text as Prometheus reads it
    iproute2         # ip netns and veth: the federation test's two hosts
)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "installing: ${missing[*]}"
$sudo apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
