#!/bin/sh
# CI smoke run of the side-by-side benchmark: each scenario once, very short and small, so that the load
# generator, the broker start/stop and the report keep working. Fails only if a run fails or no table is
# printed; the figures themselves are not checked. The backlog drain runs with 20,000 messages (a few seconds).
# Usage: bench_smoke.sh <netpie-bench> <netpie-edge> <scenarios dir> <work dir>
set -eu
bench=$1 edge=$2 scenarios=$3 work=$4
mosq=""
[ -x /usr/sbin/mosquitto ] && mosq="--mosquitto /usr/sbin/mosquitto"
mkdir -p "$work"
# The TLS scenarios need the test certificates (both brokers use the same server certificate).
sh "$scenarios/../../tests/tls/make-test-ca.sh" "$work/certs" > /dev/null
# shellcheck disable=SC2086
"$bench" suite --edge "$edge" $mosq --runs 1 --workdir "$work/brokers" --raw "$work/raw.tsv" \
  --tls-dir "$work/certs" \
  --set duration=0.6 --set warmup=0.1 --set drain=2 --set connections=300 --set mosquitto_nodelay=false \
  --set messages=20000 --set uplink_inflight=64 --set settle=0.5 \
  "$scenarios"/*.yaml > "$work/report.md"
cat "$work/report.md"
grep -q '^### fan-in$' "$work/report.md"
grep -q '^### idle-10k$' "$work/report.md"
grep -q '^### backlog-drain$' "$work/report.md"
grep -q '^### fan-in-4-qos1-flow$' "$work/report.md"
grep -q '^### fan-in-tls$' "$work/report.md"
grep -q '^### fan-in-ws$' "$work/report.md"
