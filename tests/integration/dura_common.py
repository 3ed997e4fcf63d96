"""Helpers shared by the store's integration tests (test_durability.py, test_disk_full.py).

- store_config(): the daemon's `store:` section for a test.
- open_db(): the daemon's SQLite file opened read-only (only after the daemon stopped).
- check_stream(): the per-publisher order rule for a stream of "<publisher>:<seq>" payloads (outbox rows in id
  order, or the messages a subscriber received).
- AckLog: follows the files the publishers append their acknowledged seqs to.
- stop_daemon(): SIGTERM with the harness's checks, a failure recorded instead of raised.
- AckClient: a paho client whose QoS 1 publishes report the PUBACK reason code (v5) or its absence (3.1.1).
- start_publishers() / stop_publishers(): dura_publisher.py processes (test_durability.py, test_uplink_outage.py).
- mounted_tmpfs(): a small file system for a state directory (test_disk_full.py, test_durability.py).
"""
from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import sqlite3
import struct
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from harness import HERE, PYTHON

DB_NAME = "netpie-edge.db"


def store_config(filters: list[str], max_db_bytes: str = "1GiB", policy: str = "reject_new",
                 max_rows: int = 1000000, **more) -> dict:
    cfg = {
        "synchronous": "normal",
        "commit_window_us": 2000,
        "max_db_bytes": max_db_bytes,
        "outbox": {"filters": list(filters), "policy": policy, "max_rows": max_rows},
    }
    cfg.update(more)
    return cfg


def db_path(broker) -> Path:
    return broker.dir / "state" / DB_NAME


def open_db(path: Path) -> sqlite3.Connection:
    """Read-only: `mode=ro` never writes; the -wal and -shm files next to it are read as SQLite would."""
    assert path.exists(), f"no database file {path}"
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)


def start_publishers(broker, workdir: Path, count: int, topic_prefix: str, window: int, rate: float, drain: int,
                     max_runtime: int) -> tuple[list[str], list[subprocess.Popen], dict[str, "AckLog"]]:
    """`count` dura_publisher.py processes pub1..pubN on <topic_prefix>/<name>, each appending the seqs it got a
    PUBACK for to <workdir>/acks-<name>.txt (followed by an AckLog)."""
    names = [f"pub{i + 1}" for i in range(count)]
    procs, logs = [], {}
    for name in names:
        acks = workdir / f"acks-{name}.txt"
        acks.unlink(missing_ok=True)
        logs[name] = AckLog(acks)
        procs.append(subprocess.Popen(
            [PYTHON, str(HERE / "dura_publisher.py"), "--host", broker.host, "--port", str(broker.port),
             "--client-id", name, "--topic", f"{topic_prefix}/{name}", "--acks", str(acks), "--window", str(window),
             "--rate", str(rate), "--drain", str(drain), "--max-runtime", str(max_runtime)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True))
    return names, procs, logs


def stop_publishers(procs: list[subprocess.Popen], timeout: float = 30) -> list[dict]:
    """SIGTERM, then each publisher's summary (its last stdout line, JSON); asserts every one exited cleanly."""
    summaries, errors = [], []
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate(timeout=10)
            errors.append(f"publisher did not exit within {timeout} s of SIGTERM; stderr: {err[-2000:]}")
            continue
        lines = [ln for ln in out.splitlines() if ln.strip()]
        if p.returncode != 0 or not lines:
            errors.append(f"publisher exited {p.returncode}; stdout: {out[-2000:]} stderr: {err[-2000:]}")
            continue
        summaries.append(json.loads(lines[-1]))
    assert not errors, "\n".join(errors)
    return summaries


def integrity_check(path: Path) -> str:
    with open_db(path) as db:
        rows = db.execute("PRAGMA integrity_check").fetchall()
    return "\n".join(r[0] for r in rows)


@dataclass
class OutboxRow:
    id: int
    origin: str
    origin_seq: int
    topic: str
    payload: bytes


def outbox_rows(path: Path) -> list[OutboxRow]:
    db = open_db(path)
    try:
        return [OutboxRow(int(r[0]), r[1], int(r[2]), r[3], bytes(r[4]))
                for r in db.execute("SELECT id, origin, origin_seq, topic, payload FROM outbox ORDER BY id")]
    finally:
        db.close()


def session_message_count(path: Path, client_id: str) -> int:
    db = open_db(path)
    try:
        return int(db.execute("SELECT COUNT(*) FROM session_msgs WHERE client_id = ?", (client_id,)).fetchone()[0])
    finally:
        db.close()


def parse_payload(payload: bytes) -> tuple[str, int]:
    text = payload.decode("ascii")
    name, _, seq = text.rpartition(":")
    assert name and seq.isdigit(), f"payload {payload!r} is not <publisher>:<seq>"
    return name, int(seq)


@dataclass
class StreamCheck:
    """Per publisher: what one ordered stream of its seqs holds."""

    seqs: list[int] = field(default_factory=list)
    distinct: set[int] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)

    @property
    def duplicates(self) -> int:
        return len(self.seqs) - len(self.distinct)

    @property
    def highest(self) -> int:
        return max(self.distinct, default=0)


def check_stream(name: str, seqs: list[int], window: int) -> StreamCheck:
    """The order rule for one publisher's stream, given in the order the broker stored (or delivered) it.

    The publisher sends 1, 2, 3 ... and, after every reconnect, first re-sends its unacknowledged messages (at most
    `window`, all among the last `window` sent) in order. The broker handles one connection's PUBLISHes in order and
    commits them in order, so in the stream:
      - a seq seen for the first time is exactly one more than the highest seen so far (no gap, no reordering);
      - a repeated seq (a re-send of a message stored before the kill but not acknowledged) is one of the last
        `window` seqs below that highest.
    With window 1 this is exactly "non-decreasing, duplicates allowed". With a larger window a re-sent batch starts
    below rows already stored (e.g. 1..8 stored, 6..10 re-sent), so plain non-decreasing order cannot hold; the rule
    above is the exact one.
    """
    out = StreamCheck()
    highest = 0
    for i, s in enumerate(seqs):
        out.seqs.append(s)
        if s not in out.distinct:
            if s != highest + 1:
                out.errors.append(f"{name}: position {i}: new seq {s} after highest {highest} "
                                  f"({'gap' if s > highest + 1 else 'out of order'}); context "
                                  f"{seqs[max(0, i - 5):i + 5]}")
            out.distinct.add(s)
            highest = max(highest, s)
        elif highest - s >= window:
            out.errors.append(f"{name}: position {i}: repeated seq {s} is {highest - s} below the highest {highest} "
                              f"(a re-send repeats only the last {window}); context {seqs[max(0, i - 5):i + 5]}")
    return out


class AckLog:
    """Follows a publisher's acks file (one seq per line, appended and flushed by dura_publisher.py)."""

    def __init__(self, path: Path):
        self.path = path
        self.seqs: list[int] = []
        self._offset = 0
        self._partial = b""

    def poll(self) -> int:
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return len(self.seqs)
        self._offset += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        self.seqs.extend(int(x) for x in lines if x)
        return len(self.seqs)


def stop_daemon(broker, problems: list[str], when: str) -> None:
    """SIGTERM and the harness's checks (exit 0, no sanitizer report). A failure (e.g. no exit within
    ITEST_STOP_TIMEOUT: the harness then SIGKILLs it) is recorded, not raised, so the test still checks the
    database and reports every problem at the end."""
    try:
        broker.stop()
    except AssertionError as e:
        problems.append(f"clean stop ({when}) failed: {e}")


# ---- a paho client that reports each QoS 1 PUBLISH's PUBACK reason (or its absence) ---------------------------
class _ReasonClient(paho.Client):
    """paho-mqtt 1.6 parses the v5 PUBACK reason code and then drops it (on_publish only gets the mid); this keeps
    it. (paho 2.x passes it to on_publish; Debian 12 ships 1.6.1, which this is written for.)"""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.puback_reasons: dict[int, int] = {}

    def _handle_pubackcomp(self, cmd):
        if cmd == "PUBACK":
            pkt = self._in_packet["packet"]
            if len(pkt) >= 2:
                (mid,) = struct.unpack("!H", bytes(pkt[:2]))
                # MQTT 5.0 §3.4.2.1: no reason byte means 0x00 Success (and 3.1.1 has none).
                self.puback_reasons[mid] = pkt[2] if len(pkt) > 2 else 0
        return super()._handle_pubackcomp(cmd)


class AckClient:
    """A connected paho client (mqttv5 or mqttv311) with its network loop in a thread. publish() returns the mid;
    wait_puback(mid) returns the PUBACK reason code, or None if no PUBACK came within the timeout."""

    def __init__(self, broker, client_id: str, version: str = "mqttv5", timeout: float = 10.0):
        self.version = version
        proto = paho.MQTTv5 if version == "mqttv5" else paho.MQTTv311
        if proto == paho.MQTTv5:
            self.client = _ReasonClient(client_id=client_id, protocol=proto)
        else:
            self.client = _ReasonClient(client_id=client_id, clean_session=True, protocol=proto)
        self.client.reconnect_delay_set(60, 120)  # a dropped connection is seen, not silently retried
        self.messages: list[tuple[str, bytes, int]] = []
        self.disconnects: list = []
        self._acked: dict[int, threading.Event] = {}
        self._lock = threading.Lock()
        connected = threading.Event()
        result = {}

        def on_connect(client, userdata, flags, rc, properties=None):
            result["rc"] = rc
            connected.set()

        def on_publish(client, userdata, mid):
            with self._lock:
                ev = self._acked.setdefault(mid, threading.Event())
            ev.set()

        def on_message(client, userdata, msg):
            with self._lock:
                self.messages.append((msg.topic, bytes(msg.payload), msg.qos))

        def on_disconnect(client, userdata, rc, properties=None):
            self.disconnects.append(rc)

        self.client.on_connect = on_connect
        self.client.on_publish = on_publish
        self.client.on_message = on_message
        self.client.on_disconnect = on_disconnect
        kwargs = {"clean_start": True} if proto == paho.MQTTv5 else {}
        self.client.connect(broker.host, broker.port, keepalive=60, **kwargs)
        self.client.loop_start()
        assert connected.wait(timeout), f"{client_id}: no CONNACK within {timeout}s"
        rc = result["rc"]
        assert (rc.value if hasattr(rc, "value") else rc) == 0, f"{client_id}: CONNACK {rc}"

    def publish(self, topic: str, payload: bytes | str, qos: int = 1, properties=None) -> int:
        info = self.client.publish(topic, payload, qos=qos, properties=properties)
        assert info.rc == paho.MQTT_ERR_SUCCESS, f"publish to {topic} returned {info.rc}"
        with self._lock:
            self._acked.setdefault(info.mid, threading.Event())
        return info.mid

    def wait_puback(self, mid: int, timeout: float = 10.0) -> int | None:
        with self._lock:
            ev = self._acked.setdefault(mid, threading.Event())
        if not ev.wait(timeout):
            return None
        return self.client.puback_reasons.get(mid, 0)

    def forget(self, mid: int) -> None:
        """Drops what is known about a settled mid: paho reuses mids after 65535 messages, and a stale PUBACK record
        would answer for the next message that gets the same mid."""
        with self._lock:
            self._acked.pop(mid, None)
            self.client.puback_reasons.pop(mid, None)

    def has_puback(self, mid: int) -> bool:
        with self._lock:
            ev = self._acked.get(mid)
        return ev is not None and ev.is_set()

    def subscribe(self, topic: str, qos: int = 0, timeout: float = 10.0) -> None:
        done = threading.Event()
        self.client.on_subscribe = lambda *a: done.set()
        rc, _ = self.client.subscribe(topic, qos=qos)
        assert rc == paho.MQTT_ERR_SUCCESS and done.wait(timeout), f"no SUBACK for {topic}"

    def received(self) -> list[tuple[str, bytes, int]]:
        with self._lock:
            return list(self.messages)

    def connected(self) -> bool:
        return self.client.is_connected()

    def close(self) -> None:
        try:
            self.client.disconnect()
        except Exception:
            pass
        self.client.loop_stop()


def port_outside_ephemeral_range() -> int:
    """A free loopback port below the kernel's ephemeral range, for a daemon restarted on the same port many times.
    A port from the ephemeral range (what port 0 gives) can be taken while the daemon is down: by any outgoing
    connection, and even by a client reconnecting to it (a loopback TCP self-connect), after which the restart
    fails with "address already in use"."""
    try:
        low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    lo, hi = max(1024, low - 12000), max(1025, low - 1)
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randint(lo, hi)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise AssertionError(f"no free port in {lo}..{hi}")


@contextlib.contextmanager
def mounted_tmpfs(d: Path, size: str):
    """A tmpfs of `size` on d (root only: skips with the reason otherwise); unmounted at the end even if the test
    failed."""
    d.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs for state_dir needs root")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(d)], capture_output=True,
                       text=True, timeout=30)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (mount -t tmpfs exited {r.returncode}: {r.stderr.strip()})")
    try:
        yield d
    finally:
        r = subprocess.run(["umount", str(d)], capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            subprocess.run(["umount", "-l", str(d)], capture_output=True, timeout=30)
