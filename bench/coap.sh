#!/usr/bin/env bash
# The CoAP front end's load runs (bench/README.md "CoAP front end"): starts a netpie-edge of the dev build with
# an mqtt and a coap listener (port 0) and the outbox filter cb/# (so a CON/QoS 1 publish is answered after the
# store commit), and runs netpie-coap-bench against it: publish (CoAP NON/CON side by side with MQTT QoS 0/1),
# observe fan-out, then, on a fresh daemon, the idle observed endpoints' memory, and the same against a bare libcoap
# server (netpie-coap-floor: libcoap's own bytes per session).
# Each row is followed by the daemon's CPU time for it (all its threads, from /proc/<pid>/stat) per message: on a
# shared, loaded machine that says more than the rate; and by the UDP receive-buffer overflows during it: how
# much RcvbufErrors (/proc/net/snmp, every socket of the machine) rose, and how many of those the daemon's CoAP
# socket dropped (ss -uamn, skmem d); the rest are the load generator's sockets (or anyone else's).
#   bench/coap.sh [build dir, default build/dev]    environment: E, N, W, OBSERVERS, FAN_N, IDLE, and EDGE (the
#   daemon binary, e.g. build/release/gateway/netpie-edge: the release preset builds no bench tools)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build/dev}
edge=${EDGE:-$build/gateway/netpie-edge}
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

cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
# cpu_per <ticks before> <messages>: the daemon's CPU since then, in seconds and microseconds per message.
cpu_per() {
  local used=$(($(cpu_ticks) - $1)) hz
  hz=$(getconf CLK_TCK)
  awk -v t="$used" -v hz="$hz" -v n="$2" 'BEGIN { printf "   daemon CPU %.2f s, %.2f us per message\n", t / hz, t / hz * 1e6 / n }'
}

# The UDP counters: "<RcvbufErrors> <the daemon's CoAP socket's drops> <its rb>" (ss: iproute2; "-" without it).
rcvbuf_errors() { awk '$1 == "Udp:" { if (!c) { for (i = 2; i <= NF; i++) if ($i == "RcvbufErrors") c = i } else print $c }' /proc/net/snmp; }
coap_socket() { ss -uamnH "sport = :$coap" 2>/dev/null | tr -d '\n' | sed -n "s/.*skmem:([^)]*\\<$1\\([0-9]*\\).*/\\1/p"; }
udp_counters() {
  local d rb
  d=$(coap_socket d) rb=$(coap_socket rb)
  echo "$(rcvbuf_errors) ${d:--} ${rb:--}"
}
# udp_per <counters before>: how much each rose since then.
udp_per() {
  # shellcheck disable=SC2086,SC2046
  set -- $1 $(udp_counters)
  awk -v e0="$1" -v d0="$2" -v e1="$4" -v d1="$5" 'BEGIN {
    printf "   RcvbufErrors +%d, of them the daemon'"'"'s CoAP socket +%s\n", e1 - e0, (d0 == "-" || d1 == "-") ? "?" : d1 - d0 }'
}

start
# shellcheck disable=SC2046
set -- $(udp_counters)
echo "== publish: $edge (pid $pid), mqtt $mqtt, coap $coap (rb ${3:-?}); $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for kind in coap-non coap-con mqtt-qos0 mqtt-qos1; do
  t0=$(cpu_ticks) u0=$(udp_counters)
  "$bench" publish --mqtt-port "$mqtt" --coap-port "$coap" -e "${E:-100}" -n "${N:-200000}" -w "${W:-8}" --kinds "$kind"
  cpu_per "$t0" "${N:-200000}"
  udp_per "$u0"
done
echo "== observe fan-out, load $(cut -d' ' -f1-3 /proc/loadavg)"
t0=$(cpu_ticks) u0=$(udp_counters)
"$bench" fanout --mqtt-port "$mqtt" --coap-port "$coap" -e "${OBSERVERS:-1000}" -n "${FAN_N:-200}" -w "${W:-8}"
cpu_per "$t0" $((${OBSERVERS:-1000} * ${FAN_N:-200}))
udp_per "$u0"
stop
start
echo "== idle observed endpoints (fresh daemon, pid $pid)"
u0=$(udp_counters)
"$bench" idle --mqtt-port "$mqtt" --coap-port "$coap" --pid "$pid" -e "${IDLE:-10000}"
udp_per "$u0"
stop
# libcoap's own floor: the same registrations against a bare libcoap server (bench/load/coap_session_floor.cpp).
"$build/bench/netpie-coap-floor" > "$work/floor" &
pid=$!
for _ in $(seq 100); do [ -s "$work/floor" ] && break; sleep 0.1; done
floor_port=$(sed -n 's/.*:\([0-9]*\) UDP.*/\1/p' "$work/floor")
echo "== the same against libcoap alone (netpie-coap-floor, pid $pid)"
"$bench" idle --mqtt-port 0 --coap-port "$floor_port" --pid "$pid" -e "${IDLE:-10000}"
kill "$pid"; wait "$pid" 2>/dev/null || true
