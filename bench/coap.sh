#!/usr/bin/env bash
# The CoAP front end's load runs (bench/README.md "CoAP front end"): starts a netpie-edge of the dev build with
# an mqtt and a coap listener (port 0) and the outbox filter cb/# (so a CON/QoS 1 publish is answered after the
# store commit), and runs netpie-coap-bench against it: publish (CoAP NON/CON side by side with MQTT QoS 0/1),
# observe fan-out, then, on a fresh daemon, the idle observed endpoints' memory.
#   bench/coap.sh [build dir, default build/dev]    environment: E, N, W, OBSERVERS, FAN_N, IDLE
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build/dev}
edge=$build/gateway/netpie-edge
bench=$build/bench/netpie-coap-bench
work=$(mktemp -d /var/tmp/coap-bench.XXXXXX)
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT
ulimit -n 65536 || true

start() {
  cat > "$work/c.yaml" <<YAML
log: {level: warn}
state_dir: $work/state
ports_file: $work/ports
sys_interval: 0
listeners:
  - {name: mqtt, protocol: mqtt, bind: 127.0.0.1, port: 0}
  - {name: coap, protocol: coap, bind: 127.0.0.1, port: 0}
limits: {max_connections: 100000, max_queued_messages: 100000}
store: {outbox: {filters: ["cb/#"], max_rows: 100000000, max_bytes: 64GiB}}
coap: {max_endpoints: 100000, max_observers: 1000000, exchange_lifetime_s: 30, max_exchanges: 10000000}
YAML
  rm -rf "$work/state" "$work/ports"
  "$edge" -c "$work/c.yaml" 2> "$work/log" &
  pid=$!
  for _ in $(seq 100); do [ -s "$work/ports" ] && break; sleep 0.1; done
  mqtt=$(awk '$1=="mqtt"{print $3}' "$work/ports")
  coap=$(awk '$1=="coap"{print $3}' "$work/ports")
}
stop() { kill "$pid"; wait "$pid" || true; }

start
echo "== publish: $edge (pid $pid), mqtt $mqtt, coap $coap; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
"$bench" publish --mqtt-port "$mqtt" --coap-port "$coap" -e "${E:-100}" -n "${N:-200000}" -w "${W:-8}"
echo "== observe fan-out"
"$bench" fanout --mqtt-port "$mqtt" --coap-port "$coap" -e "${OBSERVERS:-1000}" -n "${FAN_N:-200}" -w "${W:-8}"
stop
start
echo "== idle observed endpoints (fresh daemon, pid $pid)"
"$bench" idle --mqtt-port "$mqtt" --coap-port "$coap" --pid "$pid" -e "${IDLE:-10000}"
stop
