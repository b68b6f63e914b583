#!/bin/sh
# A client-count sweep with charts, keep-alive vs a new connection per request.
#
# Runs `xfer perf` twice against its embedded tcp-serve (or TARGET, e.g.
# tcp://127.0.0.1:8080/index.html for an nginx of yours): once on keep-alive
# connections, once opening a connection for every request. Each run
# directory gets perf.csv, perf.json, latency.png and throughput.png; then
# `xfer perf plot --compare` puts both on one chart each.
#
# Settings come from the environment (defaults in brackets):
#   XFER [xfer]  OUT [xfer-results/sweep]  TARGET [none: embedded server]
#   CLIENTS [1..16x2]  REQUESTS [300]  REPEAT [3]  WARMUP [1s]
# Results: $OUT/keep-alive/, $OUT/new-connection/, $OUT/compare/.
set -eu
XFER=${XFER:-xfer}
OUT=${OUT:-xfer-results/sweep}
TARGET=${TARGET:-}
CLIENTS=${CLIENTS:-1..16x2}
REQUESTS=${REQUESTS:-300}
REPEAT=${REPEAT:-3}
WARMUP=${WARMUP:-1s}

# shellcheck disable=SC2086 # an empty TARGET is no argument: the embedded server
"$XFER" perf $TARGET --clients "$CLIENTS" --requests "$REQUESTS" --repeat "$REPEAT" \
    --warmup "$WARMUP" -o "$OUT/keep-alive" --overwrite
# shellcheck disable=SC2086
"$XFER" perf $TARGET --clients "$CLIENTS" --requests "$REQUESTS" --repeat "$REPEAT" \
    --warmup "$WARMUP" --new-connection -o "$OUT/new-connection" --overwrite
"$XFER" perf plot --compare "$OUT/keep-alive" "$OUT/new-connection" -o "$OUT/compare"
