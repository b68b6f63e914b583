#!/usr/bin/env bash
# xfer perf as a load generator vs wrk, against the same private nginx
# (4 KiB file, keep-alive), alternating, RUNS runs each; prints one line per
# run. Needs a release build (cargo build --release), nginx and wrk.
#
#   scripts/bench-perf-wrk.sh [RUNS] [CONNECTIONS] [SECONDS]
set -euo pipefail
RUNS=${1:-3}
CONNS=${2:-64}
SECS=${3:-10}
XFER=${XFER:-target/release/xfer}
dir=$(mktemp -d)
trap 'kill "$(cat "$dir/nginx.pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$dir"' EXIT
mkdir -p "$dir/html" "$dir/tmp"
head -c 4096 /dev/urandom > "$dir/html/4k.bin"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
user=""; [ "$(id -u)" = 0 ] && user="user root;"
cat > "$dir/nginx.conf" <<CONF
$user
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000000;
    client_body_temp_path $dir/tmp/b; proxy_temp_path $dir/tmp/p; fastcgi_temp_path $dir/tmp/f;
    uwsgi_temp_path $dir/tmp/u; scgi_temp_path $dir/tmp/s;
    server { listen 127.0.0.1:$port; root $dir/html; }
}
CONF
/usr/sbin/nginx -c "$dir/nginx.conf" -p "$dir" -e "$dir/error.log"
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/4k.bin" -o /dev/null && break; sleep 0.1; done
url="http://127.0.0.1:$port/4k.bin"
threads=$(( CONNS < 2 ? 1 : 2 ))
for i in $(seq "$RUNS"); do
    w=$(wrk -t"$threads" -c"$CONNS" -d"${SECS}s" --latency "$url")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$w")
    lat=$(awk '/^    Latency/ {print $2}' <<<"$w")
    echo "run $i wrk   c=$CONNS req/s=$rps mean=$lat"
    "$XFER" perf "tcp://127.0.0.1:$port/4k.bin" --clients "$CONNS" --duration "${SECS}s" \
        --warmup 1s -o "$dir/xfer-$i" --json >/dev/null 2>&1
    python3 - "$i" "$CONNS" "$dir/xfer-$i/perf.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[3]))["runs"][0]
print(f"run {sys.argv[1]} xfer  c={sys.argv[2]} req/s={r['requests_per_s']:.0f} mean={r['latency']['mean_us']:.0f}us")
PY
done
