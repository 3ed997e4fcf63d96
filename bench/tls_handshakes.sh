#!/bin/sh
# New TLS connections per second, full handshake and resumed, netpie-edge next to Mosquitto, measured by a
# client neither of them wrote: `openssl s_time` (-new: a full ECDHE-ECDSA handshake per connection; -reuse:
# the session of the first connection resumed every time). Both brokers get a TLS 1.2 listener with the
# certificates of tests/tls/make-test-ca.sh (EC P-256); the brokers run in turn, RUNS times, alternating.
# Usage: bench/tls_handshakes.sh [edge binary]   (default: build/release/gateway/netpie-edge)
#   SECONDS_PER=5 RUNS=3 MOSQUITTO=/usr/sbin/mosquitto WORKDIR=/tmp/netpie-bench-tls
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
edge=${1:-$root/build/release/gateway/netpie-edge}
mosquitto=${MOSQUITTO:-/usr/sbin/mosquitto}
runs=${RUNS:-3}
secs=${SECONDS_PER:-5}
work=${WORKDIR:-${TMPDIR:-/tmp}/netpie-bench-tls}
rm -rf "$work"
mkdir -p "$work"
chmod 755 "$work"
sh "$root/tests/tls/make-test-ca.sh" "$work/certs" >/dev/null
chmod 644 "$work/certs"/*

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_edge() {
  cat >"$work/edge.yaml" <<YAML
state_dir: $work/edge-state
ports_file: $work/edge.ports
log: {level: warn}
listeners:
  - {name: mqtt, protocol: mqtt, bind: 127.0.0.1, port: 0}
  - {name: mqtts, protocol: mqtt, bind: 127.0.0.1, port: 0,
     tls: {cert_file: $work/certs/server.crt, key_file: $work/certs/server.key}}
YAML
  rm -f "$work/edge.ports"
  "$edge" -c "$work/edge.yaml" >"$work/edge.log" 2>&1 &
  pid=$!
  i=0
  while [ ! -s "$work/edge.ports" ]; do i=$((i + 1)); [ $i -lt 500 ] || { cat "$work/edge.log"; exit 1; }; sleep 0.02; done
  port=$(awk '$1 == "mqtts" {print $3}' "$work/edge.ports")
}

start_mosquitto() {
  port=$(free_port)
  cat >"$work/mosquitto.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
certfile $work/certs/server.crt
keyfile $work/certs/server.key
tls_version tlsv1.2
log_dest stderr
log_type error
CONF
  [ "$(id -u)" = 0 ] && echo "user root" >>"$work/mosquitto.conf"
  "$mosquitto" -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
  pid=$!
  i=0
  until openssl s_client -connect "127.0.0.1:$port" -CAfile "$work/certs/ca.crt" </dev/null >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -lt 250 ] || { cat "$work/mosquitto.log"; exit 1; }; sleep 0.02
  done
}

# "<connections> connections in <n> real seconds" -> connections per real second.
rate() {
  openssl s_time -connect "127.0.0.1:$port" -CAfile "$work/certs/ca.crt" -time "$secs" "$1" 2>/dev/null |
    awk '/connections in [0-9]+ real seconds/ {printf "%.0f", $1 / $4}'
}

echo "broker	run	full_per_s	resumed_per_s	resumed_over_full	broker_cpu_s"
for run in $(seq 1 "$runs"); do
  order="edge mosquitto"
  [ $((run % 2)) = 0 ] && order="mosquitto edge"
  for b in $order; do
    "start_$b"
    full=$(rate -new)
    resumed=$(rate -reuse)
    cpu=$(awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$pid/stat")
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    awk -v b="$b" -v r="$run" -v f="$full" -v s="$resumed" -v c="$cpu" \
      'BEGIN {printf "%s\t%d\t%d\t%d\t%.1f\t%s\n", b, r, f, s, (f > 0 ? s / f : 0), c}'
  done
done
echo "# openssl s_time, $secs s each, $(openssl version), load average $(cut -d' ' -f1-3 /proc/loadavg)"
