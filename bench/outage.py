#!/usr/bin/python3
"""The uplink after a long outage (issue 18; bench/README.md "Outage: live first, QoS 2 drain").

One run of `drain()`:
  1. Debian's mosquitto (persistence on, no queue bound, max_inflight_messages = the uplink's window) starts; the
     witness (mosquitto_sub -c, QoS 1, on up/#) subscribes and leaves; mosquitto stops, keeping its session.
  2. netpie-edge starts once to create its database and stops; ROWS outbox rows (PAYLOAD-byte payloads from
     ORIGINS origins, in order per origin, for the uplink "drain") are put straight into the outbox table, as a
     day of outage would have left them; netpie-edge starts again, its uplink reconnecting every 50-100 ms.
  3. mosquitto starts on the same port and the witness comes back to its session (mosquitto_sub -F '%U %t %p':
     the arrival time in ns per message, written to a file). With --live-rate, a live publisher (paho, QoS 1,
     its own client id) publishes to netpie-edge at that rate from the moment the uplink is online until the
     backlog is drained, each payload carrying its send time.
  4. When every message has arrived: the backlog's drain rate (rows / first to last backlog arrival, and rows /
     mosquitto start to last arrival), every live message's latency (arrival - send: p50, p99, max), and
     completeness and order (each origin's first arrivals by sequence; duplicates counted). A second subscriber
     takes the live topic alone: its arrivals give the live latency at the upstream (mosquitto queues per
     subscriber, so the backlog witness's own lag does not count there).

The main run is the outage: ROWS (1,000,000) at QoS 1 with the live publisher at 10 msg/s. Then --qos2-rows
(100,000) rows are drained at QoS 1 and at QoS 2 (uplink qos 2, clean_start false), each in a fresh run, and the
ratio printed. --chaos adds a QoS 2 run of --qos2-rows in which the gateway is SIGKILLed twice and the upstream
restarted once while it drains: every message must still arrive exactly once, in order per origin.

  cmake --build build/dev --target netpie-edge
  /usr/bin/python3 bench/outage.py build/dev/gateway/netpie-edge                 # ~3 minutes
  /usr/bin/python3 bench/outage.py build/dev/gateway/netpie-edge --rows 100000 --qos2-rows 20000   # quick

--upstream edge runs the same steps with a second netpie-edge (the same binary, its own state directory, one
plain MQTT listener on 127.0.0.1; its sessions and their queues persist in its store) in mosquitto's place;
--upstream both runs everything against mosquitto and then against netpie-edge and prints a table for each.
Every run also prints the CPU seconds of the gateway, the upstream and the witness (from /proc/<pid>/stat,
from the upstream's start to the last arrival), their CPU microseconds per message, and each one's share of a
core over the drain: the busiest is the bottleneck candidate.

  /usr/bin/python3 bench/outage.py build/dev/gateway/netpie-edge --rows 0 --upstream both   # QoS 2 vs 1, both

The first out-of-order arrivals are printed to stderr; OUTAGE_SHOW_LOG=1 also prints the gateway's uplink
log lines of each run.
"""
from __future__ import annotations

import argparse
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho

UPLINK = "drain"
# --chaos: mosquitto's max_inflight_messages, above the QoS 2 deliveries it can hold open to the witness (see
# drain()); not 65535, with which Debian's 2.0.11 restores none of them in their state.
CHAOS_CLOUD_INFLIGHT = 20_000
# The witnesses' environment. Each arrival's time stamp is taken by mosquitto_sub as it formats the line (%U:
# Unix time in ns), so stdout's buffering (a line at a time, for the progress count) does not move it. TZ set:
# without it glibc stats /etc/localtime twice per formatted message (2 of the witness's 10 syscalls a
# message, seen with strace), CPU that the gateway and the upstream share the cores with.
WITNESS_ENV = {**os.environ, "TZ": "UTC"}


def free_port() -> int:
    # Below the ephemeral range: while the upstream is down the uplink's reconnects cannot take its port.
    lo = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    import socket
    for _ in range(200):
        port = random.randint(max(1024, lo - 12000), lo - 1)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port")


def wait(cond, timeout: float, what: str, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class Mosquitto:
    name = "mosquitto"

    def __init__(self, workdir: Path, port: int, inflight: int, binary: str = ""):
        self.dir = workdir / "mosquitto"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port
        (self.dir / "m.conf").write_text("\n".join([
            f"listener {port} 127.0.0.1", "persistence true", f"persistence_location {self.dir}/",
            "autosave_interval 0", "max_queued_messages 0", "allow_anonymous true", f"max_inflight_messages {inflight}",
            "log_dest stderr", *(["user root"] if os.geteuid() == 0 else [])]) + "\n")
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(["mosquitto", "-c", str(self.dir / "m.conf")],
                                     stderr=open(self.dir / "log.txt", "ab"))
        import socket

        def up() -> bool:
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", self.port)) == 0
        wait(up, 10, "mosquitto listening")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)

    def cpu_s(self) -> float:
        return proc_cpu_s(self.proc.pid)


class NetpieEdge:
    """A netpie-edge daemon in its own directory (`dir`, holding c.yaml, the state and the log)."""

    def __init__(self, binary: str, directory: Path, config: str):
        self.binary = binary
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "c.yaml").write_text(config)
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def start(self) -> None:
        """Starts it and waits for its ports file; `port`: its first listener's."""
        ports = self.dir / "ports"
        ports.unlink(missing_ok=True)
        self.proc = subprocess.Popen([self.binary, "-c", str(self.dir / "c.yaml")],
                                     stderr=open(self.dir / "log.txt", "ab"))
        wait(lambda: ports.exists() and ports.read_text().strip(), 60, f"{self.dir}/ports")
        self.port = int(ports.read_text().split()[2])

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(60)

    def log(self) -> str:
        return (self.dir / "log.txt").read_text(errors="replace")

    def cpu_s(self) -> float:
        return proc_cpu_s(self.proc.pid)


class EdgeUpstream(NetpieEdge):
    """A second netpie-edge as the upstream broker: the gateway's binary, its own state directory, one plain MQTT
    listener. Its port is chosen like mosquitto's (below the ephemeral range, the same across restarts: the
    gateway's uplink is configured with it, and while it is down the uplink's reconnects cannot take it); the
    ports file says when it listens. Its limits follow mosquitto.conf's: `inflight` messages in flight to each
    subscriber (the witness), no practical bound on queues; persistent sessions (the witness's, the uplink's
    QoS 2 state) are kept in its store. Its Receive Maximum is `inflight` too, so the uplink's window is
    min(its max_inflight, inflight). (Before commit 09ac999 the broker counted a QoS 2 PUBLISH whose PUBREC waited
    for a commit twice, and such an uplink was disconnected with 0x93: bench/README.md, "QoS 2 against QoS 1 with
    each upstream".)"""
    name = "netpie-edge"

    def __init__(self, workdir: Path, port: int, inflight: int, binary: str = ""):
        super().__init__(binary, workdir / "upstream-edge", f"""log: {{level: info}}
state_dir: {workdir}/upstream-edge/state
ports_file: {workdir}/upstream-edge/ports
sys_interval: 0
listeners: [{{name: mqtt, protocol: mqtt, bind: 127.0.0.1, port: {port}}}]
limits: {{receive_maximum: {min(inflight, 65535)}, max_inflight: {min(inflight, 65535)},
  max_queued_messages: 10000000, max_queued_bytes: 4GiB}}
store: {{max_db_bytes: 8GiB, session_queue: {{max_rows: 10000000, max_bytes: 4GiB}}}}
""")
        self.configured_port = port

    def start(self) -> None:
        super().start()
        assert self.port == self.configured_port, (self.port, self.configured_port)


UPSTREAMS = {"mosquitto": Mosquitto, "edge": EdgeUpstream}


class Edge(NetpieEdge):
    """The gateway under test."""

    def __init__(self, binary: str, workdir: Path, upstream: int, inflight: int, qos: int, order: str):
        replay = f", replay: {{order: {order}}}" if order else ""  # "": the binary's default (builds before it)
        d = workdir / "edge"
        super().__init__(binary, d, f"""log: {{level: info}}
state_dir: {d}/state
ports_file: {d}/ports
sys_interval: 1
listeners: [{{name: mqtt, protocol: mqtt, bind: 127.0.0.1, port: 0}}]
store: {{max_db_bytes: 8GiB, outbox: {{filters: ['bench/#'], max_rows: 5000000, max_bytes: 4GiB}}}}
uplinks: [{{name: {UPLINK}, tls: {{enabled: false}}, host: 127.0.0.1, port: {upstream}, client_id: outage-uplink,
  version: '5', topic_prefix: up/, qos: {qos}, clean_start: false, keepalive: 60, max_inflight: {inflight},
  reconnect_min_ms: 50, reconnect_max_ms: 100{replay}}}]
""")
        self.db = self.dir / "state" / "netpie-edge.db"


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fill(db: Path, rows: int, origins: int, payload: int, qos: int) -> None:
    """ROWS rows of the uplink, as the broker would have queued them: ids ascending, per-origin sequences."""
    now = int(time.time())
    con = sqlite3.connect(db)
    con.execute("PRAGMA synchronous = OFF")

    def gen():
        for i in range(rows):
            o = i % origins
            seq = i // origins + 1
            head = f"b{o}:{seq}:"
            body = (head + "x" * max(0, payload - len(head))).encode()
            topic = f"bench/o{o}"
            yield (i + 1, f"o{o}", seq, 1, topic, body, b"", qos, 0, now, len(f"o{o}") + len(topic) + len(body),
                   UPLINK)
    con.executemany("INSERT INTO outbox(id, origin, origin_seq, lane, topic, payload, properties, qos, retain, "
                    "enqueued_unix, size, dest, state, attempts) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,0,0)", gen())
    con.commit()
    con.close()


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))] if s else float("nan")


def drain(binary: str, workdir: Path, rows: int, qos: int, inflight: int, live_rate: float, order: str,
          origins: int, payload: int, chaos: bool = False, upstream: str = "mosquitto",
          upstream_binary: str = "") -> dict:
    """chaos: the gateway is SIGKILLed (and started again) when a fifth and when half of the backlog has reached
    the witness, and mosquitto is stopped and started at three quarters. The witness then subscribes at QoS 2 and
    mosquitto allows CHAOS_CLOUD_INFLIGHT deliveries in flight to it, so that mosquitto's own restart adds no
    duplicate between itself and the witness (tests/integration/test_uplink_qos2.py explains why); the gateway's
    window stays `inflight` (its own max_inflight)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    # cloud: the upstream, Debian's mosquitto or a second netpie-edge (upstream_binary, else the gateway's binary).
    cloud = UPSTREAMS[upstream](workdir, port, CHAOS_CLOUD_INFLIGHT if chaos else inflight,
                               upstream_binary or binary)
    cloud.start()
    witness_qos = "2" if chaos else "1"
    subprocess.run(["mosquitto_sub", "-p", str(port), "-c", "-i", "outage-witness", "-q", witness_qos, "-t", "up/#",
                    "-E"], check=True, timeout=30)
    cloud.stop()
    edge = Edge(binary, workdir, port, inflight, qos, order)
    edge.start()
    edge.stop()
    t = time.monotonic()
    fill(edge.db, rows, origins, payload, qos)
    print(f"  {rows} rows (QoS {qos}) put into the outbox in {time.monotonic() - t:.1f} s", file=sys.stderr)
    edge.start()
    out = workdir / "witness.txt"
    witness = None
    live_witness = None
    live_out = workdir / "live-witness.txt"
    live: list[tuple[int, int]] = []  # (seq, send ns)
    stop_live = threading.Event()
    stop_poll = threading.Event()
    # CPU seconds of processes that were replaced (--chaos), and the witness's at the end.
    cpu_done = {"edge": 0.0, "upstream": 0.0, "witness": float("nan")}
    try:
        cpu0 = edge.cpu_s()
        t_up = time.time_ns()
        cloud.start()
        cloud_cpu0 = cloud.cpu_s()
        witness = subprocess.Popen(["stdbuf", "-oL", "mosquitto_sub", "-p", str(port), "-c", "-i", "outage-witness",
                                    "-q", witness_qos, "-t", "up/#", "-F", "%U %p"], stdout=open(out, "wb"),
                                   env=WITNESS_ENV)
        publisher = None
        if live_rate > 0:
            # The live messages' own subscriber: mosquitto keeps a queue per subscriber, so its arrivals say when
            # a live message reached the upstream, not when the backlog witness (one process writing a line per
            # message, behind everything mosquitto queued for it) got round to it.
            live_witness = subprocess.Popen(["stdbuf", "-oL", "mosquitto_sub", "-p", str(port), "-q", "1", "-t",
                                             "up/bench/live", "-F", "%U %p"], stdout=open(live_out, "wb"),
                                            env=WITNESS_ENV)
            def publish_live() -> None:
                c = paho.Client(client_id="outage-live", protocol=paho.MQTTv311)
                c.connect("127.0.0.1", edge.port)
                c.loop_start()
                wait(lambda: f"uplink: {UPLINK}: online" in edge.log(), 60, "the uplink online", 0.01)
                i = 0
                next_at = time.monotonic()
                while not stop_live.is_set():
                    sent = time.time_ns()
                    c.publish("bench/live", f"live:{i}:{sent}", qos=1)
                    live.append((i, sent))
                    i += 1
                    next_at += 1 / live_rate
                    stop_live.wait(max(0.0, next_at - time.monotonic()))
                c.loop_stop()
                c.disconnect()
            publisher = threading.Thread(target=publish_live, daemon=True)
            publisher.start()

        # The gateway's side: when the upstream had acknowledged the whole backlog (the lowest id left in the
        # outbox is above it; backlog ids are 1..rows). Polled read-only beside the daemon (WAL: no lock).
        acked_all = {"ns": 0}

        def poll_outbox() -> None:
            con = sqlite3.connect(f"file:{edge.db}?mode=ro", uri=True, timeout=5)
            # Until then, also past the witness's last arrival (the acks of the last window commit after it);
            # stop_poll: the run ends.
            while not acked_all["ns"] and not stop_poll.is_set():
                try:
                    low = con.execute("SELECT MIN(id) FROM outbox").fetchone()[0]
                except sqlite3.OperationalError:
                    low = 0
                if low is None or low > rows:
                    acked_all["ns"] = time.time_ns()
                    break
                time.sleep(0.02)
            con.close()
        poller = threading.Thread(target=poll_outbox, daemon=True)
        poller.start()

        counts = {"backlog": 0, "live": 0}
        tail = {"offset": 0, "partial": b""}

        def count() -> dict:
            # Only what was appended since the last call (the file grows to tens of MB).
            with open(out, "rb") as f:
                f.seek(tail["offset"])
                chunk = f.read()
            tail["offset"] += len(chunk)
            data = tail["partial"] + chunk
            complete, _, tail["partial"] = data.rpartition(b"\n")
            if complete:
                n_live = complete.count(b" live:")
                counts["live"] += n_live
                counts["backlog"] += complete.count(b"\n") + 1 - n_live
            return counts
        kills = restarts = 0
        if chaos:
            for share in (0.2, 0.5):
                wait(lambda: count()["backlog"] >= rows * share, 600, f"{share:.0%} of the backlog at the witness", 0.05)
                cpu_done["edge"] += edge.cpu_s() - cpu0  # (its last tick before the kill is not counted)
                edge.proc.kill()
                edge.proc.wait(30)
                kills += 1
                edge.start()
                cpu0 = edge.cpu_s()
            wait(lambda: count()["backlog"] >= rows * 0.75, 600, "75% of the backlog at the witness", 0.05)
            cpu_done["upstream"] += cloud.cpu_s() - cloud_cpu0
            cloud.stop()
            cloud.start()
            cloud_cpu0 = cloud.cpu_s()
            restarts += 1
        wait(lambda: count()["backlog"] >= rows, 1800, f"the {rows} backlog messages at the witness", 0.5)
        stop_live.set()
        if publisher:
            publisher.join(10)
        wait(lambda: count()["live"] >= len(live), 60, "the live messages", 0.2)
        poller.join(30)
        cpu = cpu_done["edge"] + edge.cpu_s() - cpu0
        cloud_cpu = cpu_done["upstream"] + cloud.cpu_s() - cloud_cpu0
        cpu_done["witness"] = proc_cpu_s(witness.pid)  # (stdbuf execs mosquitto_sub: the same pid)
        t_end = time.time_ns()
        time.sleep(1)  # a duplicate would come now
    finally:
        stop_live.set()
        stop_poll.set()
        for w in (witness, live_witness):
            if w:
                w.send_signal(signal.SIGTERM)
                w.wait(10)
        edge.stop()
        cloud.stop()
    if os.environ.get("OUTAGE_SHOW_LOG"):
        print("\n".join(ln for ln in edge.log().splitlines() if "uplink" in ln or "DEBUGREQ" in ln)[-4000:], file=sys.stderr)
    published = edge.log().rsplit(f"uplink: {UPLINK}: closed (published ", 1)[-1].split(",", 1)[0]
    arrivals: list[tuple[int, bytes]] = []
    with open(out, "rb") as f:
        for ln in f:
            ts, p = ln.rstrip(b"\n").split(b" ", 1)
            sec, _, frac = ts.partition(b".")
            arrivals.append((int(sec) * 1_000_000_000 + int(frac.ljust(9, b"0")[:9]), p))
    seen: set[bytes] = set()
    last_seq: dict[str, int] = {}
    out_of_order = duplicates = 0
    backlog_times: list[int] = []
    live_arrival: dict[int, int] = {}
    for ts, p in arrivals:
        parts = p.split(b":")
        key = b":".join(parts[:2])
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        origin, seq = parts[0].decode(), int(parts[1])
        if seq <= last_seq.get(origin, -1):
            out_of_order += 1
            if out_of_order <= 5:
                print(f"  out of order: origin {origin} seq {seq} after {last_seq[origin]}", file=sys.stderr)
        last_seq[origin] = seq
        if origin == "live":
            live_arrival[seq] = ts
        else:
            backlog_times.append(ts)
    # Latency at the witness (behind the backlog mosquitto queued for it) and at the live witness (upstream).
    latencies = [(live_arrival[s] - sent) / 1e6 for s, sent in live if s in live_arrival]
    upstream: dict[int, int] = {}
    if live_out.exists():
        with open(live_out, "rb") as f:
            for ln in f:
                ts, p = ln.rstrip(b"\n").split(b" ", 1)
                sec, _, frac = ts.partition(b".")
                upstream.setdefault(int(p.split(b":")[1]), int(sec) * 1_000_000_000 + int(frac.ljust(9, b"0")[:9]))
    up_lat = [(upstream[s] - sent) / 1e6 for s, sent in live if s in upstream]
    missing = rows - len(backlog_times) + sum(1 for s, _ in live if s not in live_arrival)
    return {
        "upstream": cloud.name, "rows": rows, "qos": qos, "inflight": inflight, "kills": kills, "restarts": restarts,
        "drain_rate": rows / ((backlog_times[-1] - backlog_times[0]) / 1e9),
        "drain_rate_from_start": rows / ((backlog_times[-1] - t_up) / 1e9),
        "drain_s": (backlog_times[-1] - t_up) / 1e9,
        # rows / (upstream start to the last backlog row acknowledged upstream): the gateway's own drain,
        # whatever the witness's pace behind mosquitto.
        "acked_rate": rows / ((acked_all["ns"] - t_up) / 1e9) if acked_all["ns"] else float("nan"),
        "acked_s": (acked_all["ns"] - t_up) / 1e9 if acked_all["ns"] else float("nan"),
        "live": len(live), "live_p50_ms": pct(latencies, 50), "live_p99_ms": pct(latencies, 99),
        "live_max_ms": max(latencies) if latencies else float("nan"),
        "up_p50_ms": pct(up_lat, 50), "up_p99_ms": pct(up_lat, 99),
        "up_max_ms": max(up_lat) if up_lat else float("nan"), "up_missing": len(live) - len(up_lat),
        "missing": missing, "duplicates": duplicates, "out_of_order": out_of_order,
        "uplink_published": published, "edge_cpu_s": cpu, "cloud_cpu_s": cloud_cpu,
        "witness_cpu_s": cpu_done["witness"], "cpu_wall_s": (t_end - t_up) / 1e9,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--live-rate", type=float, default=10.0)
    ap.add_argument("--qos2-rows", type=int, default=100_000)
    ap.add_argument("--inflight", type=int, default=256)
    ap.add_argument("--order", default="per_origin", help="replay.order; '' = leave the key out (older builds)")
    ap.add_argument("--origins", type=int, default=4)
    ap.add_argument("--payload", type=int, default=64)
    ap.add_argument("--workdir", default="")
    ap.add_argument("--chaos", action="store_true",
                    help="one more QoS 2 run of --qos2-rows: two SIGKILLs of the gateway and an upstream restart "
                         "while it drains (exactly once, in order)")
    ap.add_argument("--upstream", choices=("mosquitto", "edge", "both"), default="mosquitto",
                    help="the upstream broker: Debian's mosquitto, a second netpie-edge (this binary, or "
                         "--upstream-binary), or every run against each in turn")
    ap.add_argument("--upstream-binary", default="",
                    help="the netpie-edge run as the upstream with --upstream edge (default: the gateway's binary)")
    a = ap.parse_args()
    root = Path(a.workdir or tempfile.mkdtemp(prefix="outage-bench-"))
    common = dict(inflight=a.inflight, order=a.order, origins=a.origins, payload=a.payload,
                  upstream_binary=a.upstream_binary)
    bad = False
    for up in (("mosquitto", "edge") if a.upstream == "both" else (a.upstream,)):
        common["upstream"] = up
        d = root / up
        results = []
        if a.rows > 0:
            print(f"outage ({up}): {a.rows} rows, live publisher at {a.live_rate} msg/s", file=sys.stderr)
            results.append(("outage", drain(a.binary, d / "outage", a.rows, 1, live_rate=a.live_rate, **common)))
        if a.qos2_rows > 0:
            for q in (1, 2):
                print(f"drain ({up}): {a.qos2_rows} rows at QoS {q}", file=sys.stderr)
                results.append((f"qos{q}", drain(a.binary, d / f"qos{q}", a.qos2_rows, q, live_rate=0, **common)))
        if a.chaos:
            print(f"drain ({up}): {a.qos2_rows} rows at QoS 2, two SIGKILLs and an upstream restart", file=sys.stderr)
            results.append(("qos2 chaos", drain(a.binary, d / "chaos", a.qos2_rows, 2, live_rate=0, chaos=True,
                                                **common)))
        report(up, results)
        bad = bad or any(r["missing"] or r["duplicates"] or r["out_of_order"] for _, r in results)
    return 1 if bad else 0


def report(upstream: str, results: list[tuple[str, dict]]) -> None:
    print(f"\nupstream: {UPSTREAMS[upstream].name}")
    print("| run | rows | QoS | window | drain msg/s (first to last arrival) | from upstream start | "
          "acked upstream msg/s (from upstream start) | live msgs | "
          "live p50 / p99 / max ms | at the live witness: p50 / p99 / max ms | missing | duplicates | out of order | "
          "uplink published | edge CPU s | upstream CPU s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in results:
        print(f"| {name} | {r['rows']} | {r['qos']} | {r['inflight']} | {r['drain_rate']:,.0f} | "
              f"{r['drain_rate_from_start']:,.0f} ({r['drain_s']:.1f} s) | "
              f"{r['acked_rate']:,.0f} ({r['acked_s']:.1f} s) | {r['live']} | "
              f"{r['live_p50_ms']:.0f} / {r['live_p99_ms']:.0f} / {r['live_max_ms']:.0f} | "
              f"{r['up_p50_ms']:.0f} / {r['up_p99_ms']:.0f} / {r['up_max_ms']:.0f} | {r['missing']} | "
              f"{r['duplicates']} | {r['out_of_order']} | {r['uplink_published']} | {r['edge_cpu_s']:.1f} | "
              f"{r['cloud_cpu_s']:.1f} |")
    # CPU from the upstream's start to the last arrival (the witness: its whole life, the same span), per
    # message reaching the witness, and as a share of one core over that span.
    print(f"\nCPU ({UPSTREAMS[upstream].name} upstream): seconds / µs per message / share of a core over the "
          "run (upstream start to last arrival); busiest: the most CPU")
    print("| run | messages | span s | gateway | upstream | witness | busiest |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, r in results:
        msgs = r["rows"] + r["live"]
        cells = {}
        for who, key in (("gateway", "edge_cpu_s"), ("upstream", "cloud_cpu_s"), ("witness", "witness_cpu_s")):
            cpu = r[key]
            cells[who] = (cpu, f"{cpu:.2f} s / {cpu / msgs * 1e6:.1f} µs / {cpu / r['cpu_wall_s']:.0%}")
        busiest = max(cells, key=lambda w: cells[w][0] if cells[w][0] == cells[w][0] else -1.0)  # (nan last)
        print(f"| {name} | {msgs} | {r['cpu_wall_s']:.1f} | {cells['gateway'][1]} | {cells['upstream'][1]} | "
              f"{cells['witness'][1]} | {busiest} |")
    q = {n: r for n, r in results}
    if "qos1" in q and "qos2" in q:
        print(f"\nQoS 2 / QoS 1 drain rate ({UPSTREAMS[upstream].name} upstream): "
              f"{q['qos2']['drain_rate'] / q['qos1']['drain_rate']:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
