#!/bin/sh
# Keep-open vs reconnect against the same server.
#
# Starts one `xfer sftp-serve` (a private root, a generated key, its host key
# put in a private known_hosts), then runs `xfer sftp-bench` twice against it:
# once keeping each user's session open, once reconnecting for every chunk
# (the seed's --closing). The two tables show what a session costs per chunk:
# compare the `write` rows (the same in both) with `cycle` (connect,
# handshake, auth and sftp_init added in reconnect mode).
#
# Settings come from the environment (defaults in brackets):
#   XFER [xfer]  OUT [xfer-results/keep-open-vs-reconnect]  USERS [4]
#   FILE_SIZE [8M]  CHUNK [1M]  DELAY [100ms]
# Results: $OUT/keep-open/ and $OUT/reconnect/, each a full run directory,
# and $OUT/compare/compare-latency_distribution.png with both spectra.
set -eu
XFER=${XFER:-xfer}
OUT=${OUT:-xfer-results/keep-open-vs-reconnect}
USERS=${USERS:-4}
FILE_SIZE=${FILE_SIZE:-8M}
CHUNK=${CHUNK:-1M}
DELAY=${DELAY:-100ms}

work=$(mktemp -d)
server=
trap '[ -n "$server" ] && kill "$server"; rm -rf "$work"' EXIT
mkdir "$work/root"
ssh-keygen -q -t ed25519 -N '' -f "$work/id"

# Port 0: the server prints the address it got, then its host key.
"$XFER" sftp-serve --root "$work/root" --listen 127.0.0.1:0 --user bench \
    --authorized-keys "$work/id.pub" >"$work/serve.out" 2>"$work/serve.err" &
server=$!
tries=0
until [ "$(wc -l <"$work/serve.out")" -ge 2 ]; do
    kill -0 "$server" || { cat "$work/serve.err" >&2; exit 1; }
    tries=$((tries + 1))
    [ "$tries" -lt 200 ] || { echo "sftp-serve did not start" >&2; exit 1; }
    sleep 0.05
done
addr=$(sed -n '1s/.*listening on \([^ ]*\).*/\1/p' "$work/serve.out")
port=${addr##*:}
echo "[127.0.0.1]:$port $(sed -n '2s/^host key for known_hosts: //p' "$work/serve.out")" >"$work/known_hosts"

for mode in keep-open reconnect; do
    echo "== $mode"
    "$XFER" sftp-bench "sftp://bench@$addr/" -i "$work/id" --known-hosts "$work/known_hosts" \
        -c "$USERS" --file-size "$FILE_SIZE" -s "$CHUNK" -d "$DELAY" --ramp-up 0 \
        --mode "$mode" -o "$OUT/$mode" --overwrite
done
"$XFER" perf plot --compare "$OUT/keep-open" "$OUT/reconnect" -o "$OUT/compare"
