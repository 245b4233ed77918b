#!/usr/bin/env bash
# Protocol on-the-fly over the network (docs/BENCHMARK.md): first-contact latency of stubs fetched from their
# domain's .well-known URI over HTTPS (descriptor + package fetch + sha256 + Ed25519 verify + spawn + first
# answer), then the latency of redeploying the same versions from the package cache.
#
# A real nginx on 127.0.0.1 serves one .well-known tree per domain (net-<i>.example, reached through the
# daemon's discovery.resolve), with a certificate from a throwaway CA made by openssl.
#
# Tunables (environment): BENCH_SCRATCH_PATH (.build), BENCH_DOMAINS (30), BENCH_STUB (native | python).
set -euo pipefail

cd "$(dirname "$0")/.."
domains=${BENCH_DOMAINS:-30}
stub=${BENCH_STUB:-native}

die() { echo "bench-network.sh: $*" >&2; exit 1; }
for tool in jq nginx openssl; do
    command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || die "$tool is needed: bash scripts/install-deps.sh"
done

bench_products=(rethink-runtimed rethinkctl rethink-echo-stub rethink-spawn-helper rethink-fetch rethink-bench)
source scripts/lib/bench-build.sh

work=$(mktemp -d "${TMPDIR:-/tmp}/rethink-bench-net.XXXXXX")
chmod 755 "$work"
source scripts/lib/bench-cleanup.sh

hosts=()
for ((i = 0; i < domains; i++)); do hosts+=("net-$i.example"); done

# A CA and a certificate naming every domain.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$work/ca.key" -out "$work/ca.pem" \
    -days 1 -subj "/CN=rethink bench CA" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$work/server.key" \
    -out "$work/server.csr" -subj "/CN=${hosts[0]}" 2>/dev/null
san=$(printf 'DNS:%s,' "${hosts[@]}")
printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "${san%,}" >"$work/server.ext"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
    -out "$work/server.pem" -days 1 -extfile "$work/server.ext" 2>/dev/null

# The domains' side: one signing key, one published stub per domain, as `rethinkctl stub` writes them.
"$bin/rethinkctl" stub keygen "$work/publisher" >/dev/null
case "$stub" in
    native) source=("$bin/rethink-echo-stub" --language executable) ;;
    python) source=(stubkit/examples/echo_stub.py --language python) ;;
    *) die "BENCH_STUB must be native or python" ;;
esac
for host in "${hosts[@]}"; do
    "$bin/rethinkctl" stub pack "${source[0]}" "${source[@]:1}" --version 1 --object-name echo \
        --key "$work/publisher.key" --out "$work/www/$host" >/dev/null
done

port=$(( (RANDOM % 20000) + 30000 ))
mkdir -p "$work/tmp"
cat >"$work/nginx.conf" <<NGINX
daemon off;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work/tmp/body;
    proxy_temp_path $work/tmp/proxy;
    fastcgi_temp_path $work/tmp/fastcgi;
    uwsgi_temp_path $work/tmp/uwsgi;
    scgi_temp_path $work/tmp/scgi;
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$port ssl;
        server_name _;
        ssl_certificate $work/server.pem;
        ssl_certificate_key $work/server.key;
        root $work/www/\$host;
    }
}
NGINX
/usr/sbin/nginx -p "$work" -c "$work/nginx.conf" &
pids+=($!)

resolve=$(printf '"%s": "127.0.0.1:'"$port"'",' "${hosts[@]}")
cat >"$work/runtimed.json" <<JSON
{
  "socket": "$work/runtime.sock",
  "stateDirectory": "$work/state",
  "catalogues": [],
  "logLevel": "warning",
  "discovery": {
    "resolve": {${resolve%,}},
    "caBundle": "$work/ca.pem",
    "trustedKeys": ["$(cat "$work/publisher.pub")"]
  }
}
JSON
"$bin/rethink-runtimed" --config "$work/runtimed.json" 2>"$work/runtimed.log" &
pids+=($!)
for _ in $(seq 100); do
    [ -S "$work/runtime.sock" ] && break
    sleep 0.1
done
[ -S "$work/runtime.sock" ] || die "the daemon's socket did not appear"

echo "== first contact over the network: $domains domains ($stub stub), fetched, verified and deployed"
"$bin/rethink-bench" first-contact --socket "$work/runtime.sock" --count "$domains" --domain-prefix net- \
    | tee "$work/first.out"
for host in "${hosts[@]}"; do
    RETHINK_SOCKET="$work/runtime.sock" "$bin/rethinkctl" undeploy "$host" >/dev/null
done
echo "== redeploy of the same versions: descriptor and package from the cache, no network"
kill "${pids[0]}"
wait "${pids[0]}" 2>/dev/null || true
"$bin/rethink-bench" first-contact --socket "$work/runtime.sock" --count "$domains" --domain-prefix net- \
    | tee "$work/cached.out"

number() { jq -r "$2" <<<"$(tail -n 1 "$1")"; }
echo
echo "== summary ($(nproc) cores, $domains domains, $stub stub)"
printf '%-36s %8s %8s\n' "" "p50 ms" "p99 ms"
printf '%-36s %8s %8s\n' "first contact over HTTPS" "$(number "$work/first.out" .firstContact.p50Ms)" \
    "$(number "$work/first.out" .firstContact.p99Ms)"
printf '%-36s %8s %8s\n' "redeploy from the cache (nginx off)" "$(number "$work/cached.out" .firstContact.p50Ms)" \
    "$(number "$work/cached.out" .firstContact.p99Ms)"
