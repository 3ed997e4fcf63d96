"""A full store, driven through the real daemon (storage/README.md "What is durable when" and "Failures",
conf/netpie-edge.yaml store.max_db_bytes and store.outbox.policy).

When the database cannot grow (a full file system, or store.max_db_bytes) a durable write fails and:
  - the QoS 1 publisher is pushed back: MQTT 5 PUBACK 0x97 Quota exceeded (what reason_for() in
    gateway/broker/persistence.cpp maps disk_full to, and what conf/netpie-edge.yaml documents);
    MQTT 3.1.1: no PUBACK at all (shown with a witness: a later non-durable QoS 1 PUBLISH on the same connection is
    acknowledged, and acknowledgements go out in order, so the durable one's was withheld, not late);
  - local delivery goes on (QoS 0 on another topic, and the refused message itself to a QoS 0 subscriber);
  - one ERROR line names the database, disk_full and the cause;
  - it recovers by itself when space returns (tmpfs case: a filler file is deleted): durable publishes are
    acknowledged again, and an INFO line says so;
  - nothing refused was written, nothing acknowledged is missing, and PRAGMA integrity_check = ok after the stop.
Cases: a 2 MiB tmpfs as state_dir (root only; skipped with the reason when mount is not permitted), the
store.max_db_bytes cap (1MiB, the minimum; no recovery possible without an uplink to acknowledge rows, so: refusal,
daemon alive, integrity), the outbox row bound under reject_new (0x97 Quota exceeded), and a persistent session's
queue while the store is full (an acknowledged message must survive a SIGKILL).

The disk bound (storage/README.md "Space: the disk bound"): with state_dir on a 2, 4 or 16 MiB tmpfs and nothing but
the file system to bound it, the database, WAL, -shm and reserve file stay inside the file system, publishers are
pushed back with 0x97, the daemon restarts (SIGKILL) on the full disk, drains the backlog through an uplink to a
persistent mosquitto (nothing acknowledged lost) and takes new messages again by itself.
"""
from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
import pytest

import harness
from dura_common import AckClient, db_path, integrity_check, mounted_tmpfs, open_db, stop_daemon, store_config
from harness import wait_for

SUCCESS, UNSPECIFIED, QUOTA_EXCEEDED = 0x00, 0x80, 0x97
PAD = b"p" * 2048
FAILED_RX = (r"ERROR store: database \S*netpie-edge\.db: transaction failed: disk_full \([^;]*; disk full: the file "
             r"system, or the store\.max_db_bytes bound, has no room for more")
RECOVERED_RX = r"INFO  store: database \S*netpie-edge\.db: writes succeed again after \d+ failed transactions"


def payload(prefix: str, i: int) -> bytes:
    return f"{prefix}:{i}:".encode() + PAD


def fill_until_refused(pub: AckClient, topic: str, prefix: str, limit: int = 5000, timeout: float = 60.0):
    """Durable QoS 1 publishes, one at a time, until one is refused. Returns (acknowledged indexes, (index, reason))."""
    acked: list[int] = []
    deadline = time.monotonic() + timeout
    for i in range(1, limit + 1):
        assert time.monotonic() < deadline, f"no refusal within {timeout}s ({len(acked)} acknowledged)"
        r = pub.wait_puback(pub.publish(topic, payload(prefix, i)), timeout=10)
        assert r is not None, f"v5 durable publish {i} got no PUBACK within 10 s (expected 0x00 or a refusal reason)"
        if r == SUCCESS:
            acked.append(i)
            continue
        return acked, (i, r)
    raise AssertionError(f"{limit} durable publishes, none refused")


BIG = b"b" * 8192  # needs more new pages than the 2 KiB message that was just refused


def check_v311_no_puback(b, client_id: str, durable_topic: str, durable_payload: bytes, strict: bool = True) -> bool:
    """3.1.1 cannot refuse: the refused durable PUBLISH gets no PUBACK; a following non-durable one does, and
    acknowledgements go out in order, so the first was withheld, not late. Returns whether it was acknowledged
    (strict: it must not be)."""
    v3 = AckClient(b, client_id, "mqttv311")
    try:
        durable = v3.publish(durable_topic, durable_payload)
        witness = v3.publish("local/witness", b"witness")
        assert v3.wait_puback(witness, timeout=10) is not None, \
            "3.1.1: the non-durable witness publish after the durable one got no PUBACK"
        acked = v3.has_puback(durable)
        assert not (strict and acked), "3.1.1: the durable publish was acknowledged while the store is full"
        assert v3.connected(), "3.1.1: the connection was closed instead of withholding the PUBACK"
        return acked
    finally:
        v3.close()


def check_local_delivery(b, pub: AckClient, local: AckClient, refused_payload: bytes) -> None:
    """Local delivery goes on while durable writes fail: QoS 0 on another topic, and the refused message itself."""
    pub.publish("local/ping", b"ping-while-full", qos=0)
    wait_for(lambda: any(p == b"ping-while-full" for _, p, _ in local.received()), 10,
             "a QoS 0 message on local/ping delivered while the store is full")
    wait_for(lambda: any(p == refused_payload for _, p, _ in local.received()), 10,
             "the refused durable message delivered to the local QoS 0 subscriber")


def outbox_payloads(path: Path) -> set[bytes]:
    db = open_db(path)
    try:
        return {bytes(r[0]) for r in db.execute("SELECT payload FROM outbox")}
    finally:
        db.close()


def check_db_after(path: Path, acked: list[bytes], refused: list[bytes], problems: list[str]) -> None:
    ic = integrity_check(path)
    stored = outbox_payloads(path)
    missing = [p[:20] for p in acked if p not in stored]
    phantom = [p[:20] for p in refused if p in stored]
    assert ic == "ok", f"PRAGMA integrity_check: {ic}"
    assert not missing, f"{len(missing)} ACKNOWLEDGED messages not in the outbox: {missing[:10]}"
    assert not phantom, f"{len(phantom)} REFUSED messages were written to the outbox anyway: {phantom[:10]}"
    assert not problems, "\n\n".join(problems)


@pytest.fixture
def tmpfs_dir(tmp_path):
    """A 2 MiB tmpfs as the state directory of the broker named "full"."""
    with mounted_tmpfs(tmp_path / "full" / "state", "2M") as d:
        yield d


@pytest.mark.netpie_only
def test_full_file_system_refuses_then_recovers_when_space_returns(tmpfs_dir, broker_factory):
    """On a full file system the WAL can still be reused after a checkpoint, so some writes may succeed between
    refusals: every publish is judged on its own (acknowledged = stored, refused = not stored, checked in the file
    afterwards); the strict "no PUBACK at all" for 3.1.1 is in the size-cap case, where full stays full."""
    b = broker_factory(name="full", start=False, sys_interval=0, extra={"store": store_config(["dura/#"])})
    assert b.dir / "state" == tmpfs_dir
    b.start()
    local = AckClient(b, "local-sub", "mqttv311")
    pub = AckClient(b, "pub-v5", "mqttv5")
    problems: list[str] = []
    filler = tmpfs_dir / "filler"
    acked_payloads: list[bytes] = []
    refused: list[bytes] = []
    try:
        local.subscribe("local/#", qos=0)
        local.subscribe("dura/#", qos=0)
        # Leave a little room for the database, take the rest.
        st = os.statvfs(tmpfs_dir)
        free = st.f_bavail * st.f_frsize
        with open(filler, "wb") as f:
            try:
                f.write(b"\0" * max(0, free - 384 * 1024))
            except OSError:
                pass
        acked, (ri, reason) = fill_until_refused(pub, "dura/full", "fs")
        acked_payloads += [payload("fs", i) for i in acked]
        refused.append(payload("fs", ri))
        print(f"\ndisk full (tmpfs 2 MiB): {len(acked)} acknowledged, publish {ri} refused with 0x{reason:02x}")
        assert reason == QUOTA_EXCEEDED, f"refusal reason 0x{reason:02x}, expected 0x97 (disk full: push-back)"
        b.wait_log(FAILED_RX, timeout=10)
        check_local_delivery(b, pub, local, payload("fs", ri))
        v3_payload = b"v311:" + BIG
        (acked_payloads if check_v311_no_puback(b, "pub-v311", "dura/full", v3_payload, strict=False)
         else refused).append(v3_payload)
        n = ri + 1
        for _ in range(5):  # more while full: each one acknowledged (stored) or refused with 0x83
            r = pub.wait_puback(pub.publish("dura/full", payload("fs", n)), timeout=10)
            assert r in (SUCCESS, QUOTA_EXCEEDED), f"durable publish while full: reason {r}"
            (acked_payloads if r == SUCCESS else refused).append(payload("fs", n))
            n += 1
        assert b.alive(), f"netpie-edge died while the disk was full\n{b.log_tail()}"

        # Space returns: durable publishes are acknowledged again, by themselves (no restart).
        filler.unlink()
        t0 = time.monotonic()
        while True:
            r = pub.wait_puback(pub.publish("dura/full", payload("fs", n)), timeout=10)
            assert r in (SUCCESS, QUOTA_EXCEEDED), f"durable publish after space returned: reason {r}"
            (acked_payloads if r == SUCCESS else refused).append(payload("fs", n))
            n += 1
            if r == SUCCESS:
                break
            assert time.monotonic() - t0 < 30, "durable publishes still refused 30 s after space returned"
        print(f"disk full (tmpfs 2 MiB): acknowledged again {time.monotonic() - t0:.2f} s after the filler went")
        for _ in range(50):  # and they stay acknowledged: room for ~1.6 MiB now, these take ~0.2 MiB
            assert pub.wait_puback(pub.publish("dura/full", payload("fs", n)), timeout=10) == SUCCESS, \
                f"durable publish {n} refused after space returned"
            acked_payloads.append(payload("fs", n))
            n += 1
        # The last failure is followed by the INFO line that writes succeed again.
        text = b.log_text()
        assert re.search(RECOVERED_RX, text[text.rfind("transaction failed"):]), \
            f"no 'writes succeed again' line after the last failure\n{b.log_tail()}"
        v3 = AckClient(b, "pub-v311-after", "mqttv311")
        try:
            assert v3.wait_puback(v3.publish("dura/full", b"v311-after"), timeout=10) == SUCCESS, \
                "3.1.1 durable publish not acknowledged after recovery"
            acked_payloads.append(b"v311-after")
        finally:
            v3.close()
    finally:
        pub.close()
        local.close()
    stop_daemon(b, problems, "after recovery")
    check_db_after(db_path(b), acked_payloads, refused, problems)


@pytest.mark.netpie_only
def test_db_size_cap_refuses_durable_publishes_and_keeps_serving(broker_factory):
    b = broker_factory(name="cap", sys_interval=0, extra={"store": store_config(["dura/#"], max_db_bytes="1MiB")})
    local = AckClient(b, "local-sub", "mqttv311")
    pub = AckClient(b, "pub-v5", "mqttv5")
    problems: list[str] = []
    try:
        local.subscribe("local/#", qos=0)
        local.subscribe("dura/#", qos=0)
        acked, (ri, reason) = fill_until_refused(pub, "dura/cap", "cap")
        print(f"\nmax_db_bytes 1MiB: {len(acked)} acknowledged, publish {ri} refused with 0x{reason:02x}")
        assert reason == QUOTA_EXCEEDED, f"refusal reason 0x{reason:02x}, expected 0x97 (store.max_db_bytes)"
        assert len(acked) > 0
        b.wait_log(FAILED_RX, timeout=10)
        refused = [payload("cap", ri)]
        check_local_delivery(b, pub, local, payload("cap", ri))
        check_v311_no_puback(b, "pub-v311", "dura/cap", b"v311:" + BIG)
        refused.append(b"v311:" + BIG)
        # A QoS 1 publish that needs no store write is still acknowledged at once.
        assert pub.wait_puback(pub.publish("local/q1", b"q1"), timeout=10) == SUCCESS
        # Nothing frees rows without an uplink: full stays full. Refused for as long as it lasts (here 3 s, a few
        # maintenance intervals), still serving.
        k, t_end = ri + 1, time.monotonic() + 3.0
        while time.monotonic() < t_end:
            r = pub.wait_puback(pub.publish("dura/cap", payload("cap", k)), timeout=10)
            assert r == QUOTA_EXCEEDED, f"durable publish {k} at the cap: reason {r}"
            refused.append(payload("cap", k))
            k += 1
        assert b.alive() and pub.connected(), f"netpie-edge or the connection went away\n{b.log_tail()}"
        # storage/README.md "Failures": one ERROR line, a WARN every 10 s while it lasts, an INFO line when writes
        # succeed again. Nothing succeeded again here, so: one ERROR line and no "writes succeed again".
        text = b.log_text()
        errors_logged, recovered_logged = text.count("transaction failed"), len(re.findall(RECOVERED_RX, text))
        print(f"max_db_bytes 1MiB: {k - ri} refused in a row; log: {errors_logged} ERROR 'transaction failed', "
              f"{recovered_logged} INFO 'writes succeed again'")
        if errors_logged != 1 or recovered_logged != 0:
            problems.append(f"while the store stayed at store.max_db_bytes (every durable publish refused) the log "
                            f"has {errors_logged} 'transaction failed' ERROR lines and {recovered_logged} 'writes "
                            f"succeed again' INFO lines; expected 1 and 0\n{b.log_tail(30)}")
    finally:
        pub.close()
        local.close()
    stop_daemon(b, problems, "at the cap")
    check_db_after(db_path(b), [payload("cap", i) for i in acked], refused, problems)


@pytest.mark.netpie_only
def test_outbox_row_bound_reject_new_refuses_with_quota_exceeded(broker_factory):
    b = broker_factory(name="quota", sys_interval=0,
                       extra={"store": store_config(["dura/#"], max_rows=20, policy="reject_new")})
    pub = AckClient(b, "pub-v5", "mqttv5")
    problems: list[str] = []
    try:
        acked, (ri, reason) = fill_until_refused(pub, "dura/quota", "q", limit=100)
        assert len(acked) == 20 and ri == 21, f"{len(acked)} acknowledged before the refusal of {ri}, expected 20"
        assert reason == QUOTA_EXCEEDED, f"refusal reason 0x{reason:02x}, expected 0x97 Quota exceeded"
        check_v311_no_puback(b, "pub-v311", "dura/quota", b"v311-refused")
        assert b.alive()
    finally:
        pub.close()
    stop_daemon(b, problems, "outbox full")
    check_db_after(db_path(b), [payload("q", i) for i in acked], [payload("q", ri), b"v311-refused"], problems)


@pytest.mark.netpie_only
def test_persistent_session_message_acknowledged_while_full_survives_sigkill(broker_factory):
    """A QoS 1 PUBLISH for an offline persistent subscriber needs a store write (its queue). While the store is
    full that write fails; the publisher must then be refused, or, if it was acknowledged, the message must be
    delivered after a SIGKILL and a restart ("nothing acknowledged is lost")."""
    b = broker_factory(name="psfull", sys_interval=0,
                       extra={"store": store_config(["dura/#"], max_db_bytes="1MiB")})
    ps = paho.Client(client_id="ps-sub", clean_session=False, protocol=paho.MQTTv311)
    got = []
    subscribed = {"ok": False}
    ps.on_message = lambda c, u, m: got.append(bytes(m.payload))
    ps.on_subscribe = lambda *a: subscribed.__setitem__("ok", True)
    ps.connect(b.host, b.port)
    ps.loop_start()
    wait_for(ps.is_connected, 10, "ps-sub connected")
    ps.subscribe("ps/#", qos=1)
    wait_for(lambda: subscribed["ok"], 10, "ps-sub SUBACK")
    ps.disconnect()
    ps.loop_stop()
    pub = AckClient(b, "pub-v5", "mqttv5")
    try:
        fill_until_refused(pub, "dura/ps", "ps-fill")
        b.wait_log(FAILED_RX, timeout=10)
        verdicts = []
        for i in range(1, 11):
            msg = f"ps-{i}:".encode() + BIG  # far larger than the outbox message just refused
            verdicts.append((msg, pub.wait_puback(pub.publish("ps/t", msg), timeout=10)))
    finally:
        pub.close()
    acked = [p for p, r in verdicts if r == SUCCESS]
    print(f"\npersistent session while full: PUBACK reasons {[r for _, r in verdicts]}")
    assert all(r is not None for _, r in verdicts), f"a publish got no PUBACK at all: {verdicts}"
    b.kill()
    b.start()
    ps = paho.Client(client_id="ps-sub", clean_session=False, protocol=paho.MQTTv311)
    ps.on_message = lambda c, u, m: got.append(bytes(m.payload))
    ps.connect(b.host, b.port)
    ps.loop_start()
    try:
        wait_for(ps.is_connected, 10, "ps-sub connected after the restart")
        # The queue is delivered right after CONNACK; a witness published now arrives after it.
        w = AckClient(b, "witness", "mqttv5")
        try:
            w.wait_puback(w.publish("ps/witness", b"witness"), timeout=10)
        finally:
            w.close()
        wait_for(lambda: b"witness" in got, 10, "the witness delivered to ps-sub")
    finally:
        ps.disconnect()
        ps.loop_stop()
    lost = [p[:8] for p in acked if p not in got]
    assert not lost, (f"{len(lost)} of {len(acked)} messages ACKNOWLEDGED (PUBACK 0x00) while the store was full "
                      f"were lost after SIGKILL + restart: {lost}; delivered: {[p[:8] for p in got]}\n{b.log_tail()}")


def state_files(d: Path) -> dict[str, int]:
    """Bytes the file system charges for each file in the state directory (st_blocks, as du counts)."""
    return {p.name: p.stat().st_blocks * 512 for p in d.iterdir() if p.is_file()}


class CloudWitness:
    """A persistent-session QoS 1 subscriber on the upstream mosquitto: collects every payload under cloud/."""

    def __init__(self, upstream):
        self.got: set[bytes] = set()
        self.lock = threading.Lock()
        subscribed = threading.Event()
        c = paho.Client(client_id="disk-witness", clean_session=False, protocol=paho.MQTTv311)
        c.on_connect = lambda cl, u, f, rc: cl.subscribe("cloud/#", qos=1)
        c.on_subscribe = lambda *a: subscribed.set()
        c.on_message = self._on_message
        c.connect(upstream.host, upstream.port)
        c.loop_start()
        assert subscribed.wait(10), "witness: no SUBACK from the upstream mosquitto"
        self.client = c

    def _on_message(self, client, userdata, msg) -> None:
        with self.lock:
            self.got.add(bytes(msg.payload))

    def missing(self, expected: list[bytes]) -> list[bytes]:
        with self.lock:
            return [p for p in expected if p not in self.got]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def edge_with_uplink(broker_factory, upstream):
    """The daemon "edge" (not started) relaying up/# to the upstream mosquitto under cloud/, QoS 1."""
    return broker_factory(name="edge", start=False, sys_interval=0, extra={
        "store": store_config(["up/#"]),  # max_db_bytes 1GiB: only the file system bounds it
        "uplinks": [{"name": "cloud", "host": upstream.host, "port": upstream.port, "client_id": "disk-uplink",
                     "tls": {"enabled": False}, "version": "5", "topic_prefix": "cloud/", "qos": 1,
                     "keepalive": 5, "max_inflight": 20, "reconnect_min_ms": 100, "reconnect_max_ms": 300}]})


# The 2 MiB case once stalled after the restart (the drain's acks and reads, batched, rewrote more pages than
# the WAL's room and their batch failed at COMMIT forever): storage/README.md "Space: the disk bound", the
# batch committed in parts.
@pytest.mark.netpie_only
@pytest.mark.parametrize("size,payload_bytes", [("2m", 1024), ("4m", 1024), ("16m", 8192)])
def test_disk_bound_holds_wal_and_all_pushes_back_restarts_full_and_drains(tmp_path, broker_factory, size,
                                                                          payload_bytes):
    fs_bytes = int(size[:-1]) * 1024 * 1024
    upstream = harness.PersistentMosquitto(tmp_path, name="upstream", sys_interval=60, limits={"max_inflight": 20})
    upstream.start()
    witness = CloudWitness(upstream)
    upstream.stop()  # the cloud is away while the backlog fills the disk
    with mounted_tmpfs(tmp_path / "edge" / "state", size) as state:
        edge = edge_with_uplink(broker_factory, upstream)
        assert edge.dir / "state" == state
        edge.start()
        pad = b"k" * payload_bytes
        pub = AckClient(edge, "disk-pub", "mqttv5")
        acked: list[bytes] = []
        peak: dict[str, int] = {}
        problems: list[str] = []
        try:
            reason = None
            for i in range(1, 100_000):
                msg = f"d:{i}:".encode() + pad
                r = pub.wait_puback(pub.publish("up/disk", msg), timeout=10)
                assert r is not None, f"publish {i}: no PUBACK within 10 s"
                if i % 16 == 0:
                    files = state_files(state)
                    if sum(files.values()) > sum(peak.values()):
                        peak = files
                if r != SUCCESS:
                    reason = r
                    break
                acked.append(msg)
            files = state_files(state)
            if sum(files.values()) > sum(peak.values()):
                peak = files
            print(f"\n{size} tmpfs, {payload_bytes} B payloads: {len(acked)} acknowledged, then 0x{reason:02x}; "
                  f"files at the peak {peak} = {sum(peak.values())} bytes; now {files}")
            assert reason == QUOTA_EXCEEDED, f"refusal reason 0x{reason:02x}, expected 0x97 (push-back)"
            assert len(acked) > 0
            assert sum(peak.values()) <= fs_bytes, f"the store's files passed the {size} file system: {peak}"
            wal = files.get("netpie-edge.db-wal", 0)
            assert wal <= fs_bytes // 4, f"the WAL holds {wal} bytes of a {fs_bytes}-byte file system: {files}"
            edge.wait_log(FAILED_RX, timeout=10)
            for k in range(5):  # still full: refused the same way, the connection kept
                r = pub.wait_puback(pub.publish("up/disk", f"full:{k}:".encode() + pad), timeout=10)
                assert r == QUOTA_EXCEEDED, f"publish while full: reason {r}"
            assert pub.connected() and edge.alive()
        finally:
            pub.close()

        # A SIGKILL on the full disk, and a start on it: the daemon comes up (reads, drains) as it is.
        edge.kill()
        edge.start()
        pub = AckClient(edge, "disk-pub-2", "mqttv5")
        try:
            r = pub.wait_puback(pub.publish("up/disk", b"after-restart:" + pad), timeout=10)
            assert r in (SUCCESS, QUOTA_EXCEEDED), f"publish after the restart on the full disk: reason {r}"
            if r == SUCCESS:
                acked.append(b"after-restart:" + pad)
            # The cloud returns: everything acknowledged drains upstream; the outbox empties.
            upstream.start()
            edge.wait_log(r"uplink: cloud: online", timeout=20)
            wait_for(lambda: not witness.missing(acked), 60,
                     f"all {len(acked)} acknowledged messages upstream")
            wait_for(lambda: edge.outbox_rows() == 0, 30, "an empty outbox after the drain")
            # And new messages are taken again, by themselves (no restart): room came back.
            deadline = time.monotonic() + 30
            while True:
                r = pub.wait_puback(pub.publish("up/disk", b"again:" + pad), timeout=10)
                if r == SUCCESS:
                    acked.append(b"again:" + pad)
                    break
                assert r == QUOTA_EXCEEDED and time.monotonic() < deadline, \
                    f"publishes still refused (0x{r:02x}) 30 s after the outbox drained\n{edge.log_tail()}"
                time.sleep(0.2)
            wait_for(lambda: not witness.missing(acked), 30, "the message after the drain upstream")
            files = state_files(state)
            print(f"{size} tmpfs after the drain: {files}")
            assert "netpie-edge.db-reserve" in files, f"the reserve file did not come back: {files}"
        finally:
            pub.close()
            witness.close()
            stop_daemon(edge, problems, "after the drain")
            upstream.stop()
        assert integrity_check(db_path(edge)) == "ok"
        assert not problems, "\n\n".join(problems)


# A backlog that expired whole (MQTT 5 Message Expiry) while the cloud was away and the disk full: the uplink's
# first read met only expired rows and deleted them all in one transaction, more than the WAL's room, so it failed
# at every try: nothing drained, the disk stayed full and publishers were refused for good. A read deletes at
# most its write budget and its uplink reads on (storage/README.md "The outbox", message expiry).
@pytest.mark.netpie_only
def test_backlog_expired_on_a_full_disk_is_deleted_when_the_cloud_returns(tmp_path, broker_factory):
    upstream = harness.PersistentMosquitto(tmp_path, name="upstream", sys_interval=60, limits={"max_inflight": 20})
    upstream.start()
    witness = CloudWitness(upstream)
    upstream.stop()
    with mounted_tmpfs(tmp_path / "edge" / "state", "2m") as state:
        edge = edge_with_uplink(broker_factory, upstream)
        assert edge.dir / "state" == state
        edge.start()
        expiring = Properties(PacketTypes.PUBLISH)
        expiring.MessageExpiryInterval = 1
        pad = b"e" * 1024
        pub = AckClient(edge, "exp-pub", "mqttv5")
        expired: list[bytes] = []
        problems: list[str] = []
        try:
            for i in range(1, 100_000):
                msg = f"x:{i}:".encode() + pad
                r = pub.wait_puback(pub.publish("up/exp", msg, properties=expiring), timeout=10)
                assert r is not None, f"publish {i}: no PUBACK within 10 s"
                if r != SUCCESS:
                    assert r == QUOTA_EXCEEDED, f"refusal reason 0x{r:02x}, expected 0x97 (push-back)"
                    break
                expired.append(msg)
            print(f"\n2m tmpfs: {len(expired)} messages with a 1 s expiry acknowledged, then 0x97")
            assert len(expired) > 500
            time.sleep(2.0)  # every one of them has expired (whole seconds: at most 2 s after its publish)
            upstream.start()
            edge.wait_log(r"uplink: cloud: online", timeout=20)
            wait_for(lambda: edge.outbox_rows() == 0, 30, "the expired backlog deleted by the uplink's reads")
            deadline = time.monotonic() + 30
            while True:
                r = pub.wait_puback(pub.publish("up/exp", b"fresh:" + pad), timeout=10)
                if r == SUCCESS:
                    break
                assert r == QUOTA_EXCEEDED and time.monotonic() < deadline, \
                    f"publishes still refused (0x{r:02x}) 30 s after the expired backlog went\n{edge.log_tail()}"
                time.sleep(0.2)
            wait_for(lambda: not witness.missing([b"fresh:" + pad]), 30, "the fresh message upstream")
            sent = len(expired) - len(witness.missing(expired))
            assert sent == 0, f"{sent} expired messages were sent upstream (MQTT 5.0 §3.3.2.3.3)"
        finally:
            pub.close()
            witness.close()
            stop_daemon(edge, problems, "after the expired backlog")
            upstream.stop()
        assert integrity_check(db_path(edge)) == "ok"
        assert not problems, "\n\n".join(problems)


# ---- Errors named for what they are (storage/README.md "Failures") -------------------------------------------------
# A read-only file system, a lock held by another process and a damaged file each stop the start with their own
# message and advice; only the damaged file is sent to the recovery command.
# The state directory's lock file (gateway/app) is opened before the store, so on a read-only file system the
# daemon stops there, naming the file system; the store's own read-only message is covered by the unit test
# (storage_failure_test.cpp, a read-only bind mount).
READ_ONLY_RX = r"read-only: the file system is mounted read-only|netpie-edge\.lock: Read-only file system"
LOCKED_RX = r"locked: another process holds a lock on the database"
DAMAGED_RX = r"netpie-edge\.db is damaged \(.*\.dump"


def start_refused(b) -> str:
    """Runs the daemon on b's config, as b.start() would, expecting it to refuse to start; returns its stderr."""
    b.write_config()
    r = subprocess.run(b.command(), cwd=b.dir, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0, f"netpie-edge started (exit {r.returncode}) where it should have refused\n{r.stderr}"
    return r.stderr


def first_run(broker_factory, name: str):
    b = broker_factory(name=name, sys_interval=0, extra={"store": store_config(["dura/#"])})
    pub = AckClient(b, "pub", "mqttv5")
    try:
        assert pub.wait_puback(pub.publish("dura/x", b"kept"), timeout=10) == SUCCESS
    finally:
        pub.close()
    b.stop()
    return b


@pytest.mark.netpie_only
def test_read_only_file_system_at_start_is_named_read_only(tmp_path, broker_factory):
    with mounted_tmpfs(tmp_path / "ro" / "state", "4m") as state:
        b = first_run(broker_factory, "ro")
        r = subprocess.run(["mount", "-o", "remount,ro", str(state)], capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            pytest.skip(f"cannot remount the tmpfs read-only: {r.stderr.strip()}")
        try:
            err = start_refused(b)
        finally:
            subprocess.run(["mount", "-o", "remount,rw", str(state)], capture_output=True, timeout=30)
        print(f"\nread-only: {err.strip().splitlines()[-1]}")
        assert re.search(READ_ONLY_RX, err), err
        assert ".dump" not in err and "damaged" not in err, f"read-only reported as a damaged file:\n{err}"
        b.start()  # writable again: it starts, with the message kept
        b.stop()
        assert b"kept" in outbox_payloads(db_path(b))


@pytest.mark.netpie_only
def test_database_locked_by_another_process_at_start_is_named_locked(broker_factory):
    b = first_run(broker_factory, "locked")
    shell = subprocess.Popen(["sqlite3", str(db_path(b))], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        shell.stdin.write("BEGIN EXCLUSIVE;\nSELECT 'holding';\n")
        shell.stdin.flush()
        assert shell.stdout.readline().strip() == "holding", "the sqlite3 shell did not take the lock"
        err = start_refused(b)
    finally:
        shell.stdin.write("ROLLBACK;\n.quit\n")
        shell.stdin.flush()
        shell.wait(10)
    print(f"\nlocked: {err.strip().splitlines()[-1]}")
    assert re.search(LOCKED_RX, err), err
    assert ".dump" not in err and "damaged" not in err, f"a lock reported as a damaged file:\n{err}"
    b.start()  # the lock is gone: it starts
    b.stop()


@pytest.mark.netpie_only
def test_garbage_database_at_start_is_named_damaged_with_the_recovery_command(broker_factory):
    b = first_run(broker_factory, "garbage")
    for suffix in ("", "-wal", "-shm"):
        Path(str(db_path(b)) + suffix).unlink(missing_ok=True)
    db_path(b).write_bytes(b"\x5a" * 16384)
    err = start_refused(b)
    print(f"\ngarbage: {err.strip().splitlines()[-1][:200]}")
    assert re.search(DAMAGED_RX, err), err
    assert db_path(b).read_bytes() == b"\x5a" * 16384, "the damaged file was modified"
