"""The `mqtt` uplink under a steady QoS 1 stream, through cloud outages and a SIGKILL of the gateway (issue #5).

Upstream: Debian's mosquitto on a free loopback port, persistence on (a temporary directory) so that the witness's
persistent session (paho, MQTT 3.1.1, clean session off, QoS 1 on cloud/#) and its queue survive every restart of
the upstream: whatever the uplink delivers while the witness is reconnecting is queued for it, not lost.

Gateway A: netpie-edge with the store on, up/# in the outbox, one `mqtt` uplink to that mosquitto (prefix cloud/),
on a fixed port below the ephemeral range so it can be restarted on the same address.

Load: OUTAGE_PUBLISHERS (4) publisher processes (dura_publisher.py: paho, QoS 1, payload "<publisher>:<seq>",
at most PUB_WINDOW unacknowledged; each reconnects to A after a restart and re-sends its unacknowledged messages;
every seq whose PUBACK it received is written to its acks file) until OUTAGE_MESSAGES (50,000) are acknowledged.

  Phase 1 (at 20 % acknowledged): the upstream is stopped (SIGTERM) for OUTAGE_DOWN_S seconds and started again
           on the same port, while the stream goes on into A's outbox.
  Phase 2 (at 55 %): the upstream is stopped; once A's outbox holds a backlog, A is SIGKILLed, restarted (same
           port, same database), and only then is the upstream started again.

Checks: every (publisher, seq) acknowledged to a publisher arrives upstream; per publisher the first arrivals are
strictly increasing; duplicates are counted and bounded (see duplicate_bound); A's outbox ends empty. Printed:
acknowledged, received, duplicates, max reorder, the backlog at the kill and the times.

A larger local run: OUTAGE_MESSAGES=500000 (OUTAGE_RATE, messages per second per publisher; 0 = as fast as they go):
  cd tests/integration && OUTAGE_MESSAGES=500000 NETPIE_EDGE_BIN=$PWD/../../build/outage/gateway/netpie-edge \\
      /usr/bin/python3 run_pytest.py test_uplink_outage.py -s
"""
from __future__ import annotations

import os
import re
import subprocess
import threading
import time

import paho.mqtt.client as paho
import pytest

import harness
from dura_common import port_outside_ephemeral_range, start_publishers, stop_publishers
from harness import wait_for

pytestmark = pytest.mark.netpie_only

MESSAGES = int(os.environ.get("OUTAGE_MESSAGES", "50000"))
PUBLISHERS = int(os.environ.get("OUTAGE_PUBLISHERS", "4"))
# CI: ~35 s of stream. 0 = no limit (each publisher as fast as its window allows).
RATE = float(os.environ.get("OUTAGE_RATE", str(round(MESSAGES / PUBLISHERS / 35.0))))
DOWN_S = float(os.environ.get("OUTAGE_DOWN_S", "3"))
MAX_INFLIGHT = int(os.environ.get("OUTAGE_MAX_INFLIGHT", "64"))  # the uplink's window
PUB_WINDOW = 10  # unacknowledged messages per publisher (dura_publisher --window)
# mosquitto's max_inflight_messages: its in-flight window towards the witness, and (MQTT 5) the receive maximum it
# announces to the uplink, which caps the uplink's window; at least MAX_INFLIGHT so that the window is ours.
UPSTREAM_INFLIGHT = max(20, MAX_INFLIGHT)
NAME = "cloud"
WITNESS_ID = "outage-witness"


def uplink_config(upstream_port: int, max_inflight: int) -> dict:
    """Everything the test asks of A's store and uplink, in one place (the config syntax is about to change)."""
    return {
        "store": {"synchronous": "normal", "outbox": {"filters": ["up/#"], "max_rows": 10_000_000,
                                                      "max_bytes": "1GiB"}},
        "uplinks": [{"name": NAME, "profile": "mqtt", "host": "127.0.0.1", "port": upstream_port, "tls": {"enabled": False},
                     "client_id": "edge-uplink", "version": "5", "topic_prefix": "cloud/", "qos": 1,
                     "keepalive": 5, "max_inflight": max_inflight,
                     "reconnect_min_ms": 100, "reconnect_max_ms": 500}],
    }


class Upstream(harness.Mosquitto):
    """The cloud: mosquitto with persistence in its own directory (the witness's session survives restarts) and
    room for every message of the run in the witness's queue."""

    def write_config(self) -> None:
        super().write_config()
        conf = self.dir / "mosquitto.conf"
        lines = [ln for ln in conf.read_text().splitlines() if not ln.startswith("persistence ")]
        lines += ["persistence true", f"persistence_location {self.dir}/", "autosave_interval 0",
                  f"max_queued_messages {max(10 * MESSAGES, 1_000_000)}",
                  f"max_inflight_messages {UPSTREAM_INFLIGHT}"]
        conf.write_text("\n".join(lines) + "\n")


class Witness:
    """The subscriber on the upstream: persistent session, QoS 1, reconnects by itself (paho's loop thread).
    Records every arrival per publisher. A PUBLISH mosquitto re-sends to it with DUP (after the upstream restarted
    with the message in flight to the witness) that it already has is counted apart: that is mosquitto's re-send,
    not the uplink's (the uplink's re-sends reach the witness as new PUBLISHes, without DUP)."""

    def __init__(self, host: str, port: int):
        self.arrivals: dict[str, list[int]] = {}
        self.seen: set[tuple[str, int]] = set()
        self.mosquitto_resends = 0
        self.foreign: list[str] = []
        self.connects = 0
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        c = paho.Client(client_id=WITNESS_ID, clean_session=False, protocol=paho.MQTTv311)
        c.max_inflight_messages_set(UPSTREAM_INFLIGHT)
        c.on_connect = self._on_connect
        c.on_subscribe = lambda *_: self.subscribed.set()
        c.on_message = self._on_message
        c.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client = c
        c.connect(host, port, keepalive=10)
        c.loop_start()
        assert self.subscribed.wait(10), "witness: no SUBACK from the upstream mosquitto"

    def _on_connect(self, client, userdata, flags, rc) -> None:
        self.connects += 1
        if rc == 0 and not flags.get("session present"):
            client.subscribe("cloud/#", qos=1)  # first connect (a lost session would show as missing messages)

    def _on_message(self, client, userdata, msg) -> None:
        try:
            name, seq = msg.payload.decode("ascii").rsplit(":", 1)
            key = (name, int(seq))
        except ValueError:
            with self.lock:
                self.foreign.append(f"{msg.topic} {msg.payload[:40]!r}")
            return
        with self.lock:
            if msg.topic != f"cloud/up/{name}":
                self.foreign.append(f"{msg.topic} {msg.payload[:40]!r}")
                return
            if msg.dup and key in self.seen:
                self.mosquitto_resends += 1
                return
            self.seen.add(key)
            self.arrivals.setdefault(name, []).append(key[1])

    def distinct(self) -> int:
        with self.lock:
            return len(self.seen)

    def has_all(self, acked: dict[str, set[int]]) -> bool:
        with self.lock:
            return all((n, s) in self.seen for n, seqs in acked.items() for s in seqs)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def log_count(edge: harness.Broker, what: str) -> int:
    return edge.log_text().count(f"uplink: {NAME}: {what}")


def duplicate_bound(lost_connections: int, kills: int) -> int:
    """How many duplicates the witness may see (arrivals of a (publisher, seq) it already had, mosquitto's own DUP
    re-sends excluded):
      - a lost uplink connection puts its in-flight rows back in the queue; they were sent, some may have reached
        mosquitto, and they go up again: at most MAX_INFLIGHT per lost connection;
      - a SIGKILL of A is a lost connection too (rows acknowledged by the cloud whose delete was not yet committed
        are sent again after the restart): at most MAX_INFLIGHT per kill;
      - a SIGKILL of A also makes every publisher re-send its unacknowledged messages, at most PUB_WINDOW each;
        any of them A had already committed is a second outbox row, so a second arrival upstream.
    Nothing else may duplicate: the upstream's SIGTERM is seen by the uplink as a lost connection (counted from
    A's log), and the witness's session is persistent."""
    return MAX_INFLIGHT * (lost_connections + kills) + PUB_WINDOW * PUBLISHERS * kills


@pytest.mark.timeout(240 + MESSAGES // 500)
def test_uplink_keeps_every_acknowledged_message_through_outages_and_a_sigkill(tmp_path, broker_factory):
    t_start = time.monotonic()
    upstream = Upstream(tmp_path, name="upstream", sys_interval=60)
    # Below the ephemeral range: while the upstream is down, the uplink's own reconnects (or anything else) cannot
    # take its port (a loopback self-connect), so it restarts on the same address.
    upstream.port = port_outside_ephemeral_range()
    upstream.start()
    witness = None
    procs: list[subprocess.Popen] = []
    try:
        witness = Witness(upstream.host, upstream.port)
        edge = broker_factory(name="edge", start=False, sys_interval=1,
                              extra=uplink_config(upstream.port, MAX_INFLIGHT))
        edge.port = port_outside_ephemeral_range()  # kept across the restart
        edge.start()
        edge.wait_log(rf"uplink: {NAME}: online", timeout=10)
        print(f"\noutage: {MESSAGES} messages from {PUBLISHERS} publishers ({RATE:.0f}/s each, window {PUB_WINDOW}), "
              f"uplink max_inflight {MAX_INFLIGHT}, upstream mosquitto on port {upstream.port}")

        names, procs, logs = start_publishers(edge, tmp_path, PUBLISHERS, "up", PUB_WINDOW, RATE, drain=20,
                                              max_runtime=1800)

        def acked_total() -> int:
            for p in procs:
                assert p.poll() is None, f"a publisher exited early ({p.returncode}): {p.stderr.read()[-2000:]}"
            return sum(logs[n].poll() for n in names)

        def wait_acked(n: int, what: str) -> None:
            # Bounded by the slowest expected stream plus slack; a stalled stream fails here.
            wait_for(lambda: acked_total() >= n, 60 + n / max(1.0, RATE * PUBLISHERS) * 2,
                     f"{n} acknowledged messages ({what}; have {acked_total()})", interval=0.05)

        # ---- phase 1: the cloud goes away for a few seconds during the stream -------------------------------------
        wait_acked(MESSAGES * 20 // 100, "before phase 1")
        lost_before = log_count(edge, "connection lost")
        t1 = time.monotonic()
        upstream.stop()
        wait_for(lambda: log_count(edge, "connection lost") > lost_before, 10, "the uplink seeing the cloud go")
        time.sleep(DOWN_S)  # the outage itself: its length is the point, nothing to poll for
        backlog1 = edge.outbox_rows()
        online_before = log_count(edge, "online")
        upstream.start()
        wait_for(lambda: log_count(edge, "online") > online_before, 10, "the uplink back online after phase 1")
        print(f"phase 1: upstream down {time.monotonic() - t1:.1f} s, {backlog1} rows in the outbox when it came "
              f"back, acknowledged so far {acked_total()}")

        # ---- phase 2: the cloud goes away, A is SIGKILLed with a backlog, A restarts, then the cloud returns ------
        wait_acked(MESSAGES * 55 // 100, "before phase 2")
        lost_before = log_count(edge, "connection lost")
        t2 = time.monotonic()
        upstream.stop()
        wait_for(lambda: log_count(edge, "connection lost") > lost_before, 10, "the uplink seeing the cloud go")
        base = acked_total()
        wait_for(lambda: acked_total() >= base + min(2000, MESSAGES // 20), 30, "a backlog building up")
        backlog_at_kill = edge.outbox_rows()
        assert backlog_at_kill > 0, "no backlog in the outbox while the upstream is down"
        edge.kill()
        kills = 1
        edge.start()  # same port, same database; the publishers reconnect and re-send their unacknowledged
        wait_for(lambda: acked_total() >= base + min(4000, MESSAGES // 10), 30, "publishers back after the kill")
        backlog2 = edge.outbox_rows()
        assert backlog2 >= backlog_at_kill, f"outbox went from {backlog_at_kill} to {backlog2} rows with no cloud"
        online_before = log_count(edge, "online")
        upstream.start()
        wait_for(lambda: log_count(edge, "online") > online_before, 10, "the uplink online after phase 2")
        print(f"phase 2: {backlog_at_kill} rows in the outbox at the SIGKILL, {backlog2} when the upstream came back "
              f"after {time.monotonic() - t2:.1f} s")

        # ---- the rest of the stream, then everything acknowledged must arrive -------------------------------------
        wait_acked(MESSAGES, "the whole stream")
        summaries = stop_publishers(procs, timeout=40)
        procs = []
        stream_s = time.monotonic() - t_start
        for n in names:
            logs[n].poll()
        acked = {n: set(logs[n].seqs) for n in names}
        total_acked = sum(len(s) for s in acked.values())
        t_wait = time.monotonic()
        try:
            wait_for(lambda: witness.has_all(acked), 60 + total_acked / 2000, "every acknowledged message upstream",
                     interval=0.1)
        except AssertionError:
            pass  # reported below, with what is missing
        wait_for(lambda: edge.outbox_rows() == 0, 30, "an empty outbox at the end", interval=0.1)
        settle = time.monotonic() - t_wait
        lost_connections = log_count(edge, "connection lost")
        windows = {int(w) for w in re.findall(rf"uplink: {NAME}: online \(.*window (\d+)", edge.log_text())}
        assert windows == {MAX_INFLIGHT}, f"the uplink's window was {windows}, the bound assumes {MAX_INFLIGHT}"
        edge.stop()
        m = re.findall(r"uplink: cloud: closed \(published (\d+), acked (\d+), refused (\d+)", edge.log_text())

        # ---- what arrived ---------------------------------------------------------------------------------------
        with witness.lock:
            arrivals = {n: list(v) for n, v in witness.arrivals.items()}
            mosquitto_resends = witness.mosquitto_resends
            foreign = list(witness.foreign)
        errors: list[str] = []
        received = dupes = max_reorder = 0
        for n in names:
            got = arrivals.get(n, [])
            received += len(got)
            seen: set[int] = set()
            highest = 0
            firsts: list[int] = []
            for s in got:
                max_reorder = max(max_reorder, highest - s)
                highest = max(highest, s)
                if s in seen:
                    dupes += 1
                else:
                    seen.add(s)
                    firsts.append(s)
            bad = next((i for i in range(1, len(firsts)) if firsts[i] <= firsts[i - 1]), None)
            if bad is not None:
                errors.append(f"{n}: first arrivals not strictly increasing at {bad}: {firsts[max(0, bad - 5):bad + 5]}")
            missing = sorted(acked[n] - seen)
            if missing:
                errors.append(f"{n}: {len(missing)} ACKNOWLEDGED messages never arrived upstream: {missing[:20]}")
        bound = duplicate_bound(lost_connections, kills)
        print(f"outage: acked {total_acked}, received upstream {received} ({received - dupes} distinct), "
              f"duplicates {dupes} (bound {bound}: {lost_connections} lost uplink connections, {kills} kill), "
              f"mosquitto DUP re-sends to the witness {mosquitto_resends}, max reorder {max_reorder}, "
              f"witness connects {witness.connects}")
        print(f"outage: time {time.monotonic() - t_start:.1f} s (stream {stream_s:.1f} s, last arrivals and an empty "
              f"outbox {settle:.1f} s after the publishers stopped); uplink totals after the restart "
              f"(published, acked, refused): {m[-1] if m else 'no closing line'}")
        print("outage: publishers: " + "; ".join(
            f"{s['client_id']} sent {s['sent_up_to']} acked {s['acked']} connects {s['connects']}" for s in summaries))
        assert not foreign, f"unexpected messages upstream: {foreign[:10]}"
        assert not errors, "\n".join(errors[:20])
        assert total_acked >= MESSAGES
        assert dupes <= bound, f"{dupes} duplicates upstream, more than the bound {bound}"
        # mosquitto re-sends at most its in-flight window to the witness per reconnect of the witness.
        assert mosquitto_resends <= UPSTREAM_INFLIGHT * witness.connects
        assert m and int(m[-1][2]) == 0, "rows refused by the upstream"
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
        if witness:
            witness.close()
        upstream.stop(check=False)
