"""The `mqtt` uplink against Debian's mosquitto as the cloud: netpie-edge puts up/# into its outbox and drains it
to an upstream mosquitto on a free loopback port, where a paho witness subscribes.

1. Live: two publishers send QoS 1 messages locally (mosquitto_pub -l); all arrive upstream under the topic
   prefix, in order per publisher, each exactly once.
2. Outage: mosquitto is stopped; more messages are published locally and acknowledged (mosquitto_pub exits 0
   only after every PUBACK), and they are counted in the outbox table of the daemon's SQLite file. mosquitto is
   started again on the same port; every message arrives, first occurrences in order per publisher, duplicates
   counted and bounded by the in-flight window, and the outbox ends empty.
3. Outage while draining: a larger backlog builds up, mosquitto comes back, and is stopped again while the
   backlog drains (rows in flight); after the second restart everything arrives, and the duplicates the uplink
   caused (re-sent rows, which reach the witness without DUP) are at most one window per lost connection.
The upstream mosquitto keeps the witness's persistent session across its restart (persistence on), so messages
the uplink delivers before the witness has reconnected are queued for it, not lost.
"""
from __future__ import annotations

import re
import threading
import time

import paho.mqtt.client as paho
import pytest

import harness
from peers import mosquitto_pub, paho_connect

pytestmark = pytest.mark.netpie_only

MAX_INFLIGHT = 16
LIVE_PER_PUBLISHER = 200
OUTAGE_PER_PUBLISHER = 300
DRAIN_PER_PUBLISHER = 3000
PUBLISHERS = ("a", "b")


class Witness:
    """A paho subscriber on the upstream with a persistent session; reconnects on its own."""

    def __init__(self, host: str, port: int):
        self.messages: list[tuple[str, bytes]] = []
        self.redelivered = 0  # PUBLISH with DUP from mosquitto to the witness (its own resends, not ours)
        self.seen: set[tuple[str, bytes]] = set()
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = paho.Client(client_id="uplink-witness", clean_session=False, protocol=paho.MQTTv311)
        self.client.on_connect = lambda c, u, f, rc: c.subscribe("cloud/#", qos=1)
        self.client.on_subscribe = lambda c, u, mid, granted: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.connect(host, port, keepalive=10)
        self.client.loop_start()
        assert self.subscribed.wait(10), "witness: no SUBACK from the upstream mosquitto"

    def _on_message(self, client, userdata, msg) -> None:
        with self.lock:
            if msg.dup:
                self.redelivered += 1
                if (msg.topic, msg.payload) in self.seen:
                    return  # mosquitto's resend to the witness of a message it already had
            self.seen.add((msg.topic, msg.payload))
            self.messages.append((msg.topic, msg.payload))

    def snapshot(self) -> list[tuple[str, bytes]]:
        with self.lock:
            return list(self.messages)

    def wait_unique(self, n: int, timeout: float) -> list[tuple[str, bytes]]:
        return harness.wait_for(lambda: len(set(self.snapshot())) >= n and self.snapshot(), timeout,
                                f"{n} distinct messages upstream (have {len(set(self.snapshot()))})", interval=0.05)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def lost_connections(edge: harness.Broker) -> int:
    return edge.log_text().count("uplink: cloud: connection lost")


def publish_batch(edge: harness.Broker, phase: str, count: int) -> None:
    """One mosquitto_pub per publisher, in parallel; each sends `count` QoS 1 lines and waits for every PUBACK."""
    errors: list[str] = []

    def run(p: str) -> None:
        try:
            mosquitto_pub(edge, f"up/{p}", qos=1, client_id=f"pub-{p}",
                          lines=[f"{p}-{phase}-{i:05d}" for i in range(count)], timeout=60)
        except AssertionError as e:
            errors.append(str(e))

    threads = [threading.Thread(target=run, args=(p,)) for p in PUBLISHERS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def check_order(messages: list[tuple[str, bytes]], phase: str) -> tuple[int, int]:
    """First occurrences per publisher are in sequence order and complete; returns (received, duplicates)."""
    received = dupes = 0
    for p in PUBLISHERS:
        seen: set[bytes] = set()
        firsts: list[int] = []
        for topic, payload in messages:
            if topic != f"cloud/up/{p}" or not payload.startswith(f"{p}-{phase}-".encode()):
                continue
            received += 1
            if payload in seen:
                dupes += 1
                continue
            seen.add(payload)
            firsts.append(int(payload.rsplit(b"-", 1)[1]))
        assert firsts == sorted(firsts), f"publisher {p} ({phase}): out of order upstream: {firsts[:50]} ..."
        expected = {"live": LIVE_PER_PUBLISHER, "outage": OUTAGE_PER_PUBLISHER}.get(phase, DRAIN_PER_PUBLISHER)
        assert firsts == list(range(expected)), f"publisher {p} ({phase}): missing {set(range(expected)) - set(firsts)}"
    return received, dupes


def test_uplink_drains_outbox_to_mosquitto_through_an_outage(tmp_path, broker_factory):
    upstream = harness.PersistentMosquitto(tmp_path, name="upstream", sys_interval=60, limits={"max_inflight": 20})
    upstream.start()
    witness = None
    edge = None
    try:
        witness = Witness(upstream.host, upstream.port)
        edge = broker_factory(name="edge", extra={
            "store": {"outbox": {"filters": ["up/#"]}},
            "uplinks": [{"name": "cloud", "host": upstream.host, "port": upstream.port, "client_id": "edge-uplink",
                         "tls": {"enabled": False},
                         "version": "5", "topic_prefix": "cloud/", "qos": 1, "keepalive": 5,
                         "max_inflight": MAX_INFLIGHT, "reconnect_min_ms": 100, "reconnect_max_ms": 500}],
        })
        edge.wait_log(r"uplink: cloud: online", timeout=10)

        # 1. Live traffic.
        t0 = time.monotonic()
        publish_batch(edge, "live", LIVE_PER_PUBLISHER)
        live_total = LIVE_PER_PUBLISHER * len(PUBLISHERS)
        witness.wait_unique(live_total, timeout=20)
        harness.wait_for(lambda: edge.outbox_rows() == 0, 10, "an empty outbox after the live phase")
        received, dupes = check_order(witness.snapshot(), "live")
        print(f"live: {live_total} published, {received} received upstream, {dupes} duplicates, "
              f"{time.monotonic() - t0:.2f} s")
        assert dupes == 0, "no connection was lost: nothing may arrive twice"

        # 2. Outage: the cloud goes away; local publishers are still acknowledged, rows wait in the outbox.
        upstream.stop()
        edge.wait_log(r"uplink: cloud: connection lost", timeout=10)
        publish_batch(edge, "outage", OUTAGE_PER_PUBLISHER)
        outage_total = OUTAGE_PER_PUBLISHER * len(PUBLISHERS)
        waiting = edge.outbox_rows()
        print(f"outage: {outage_total} published and acknowledged locally, {waiting} rows in the outbox")
        assert waiting == outage_total, f"expected {outage_total} rows waiting in the outbox, found {waiting}"
        assert edge.alive()

        t1 = time.monotonic()
        upstream.start()  # same port, same persistence file
        witness.wait_unique(live_total + outage_total, timeout=30)
        harness.wait_for(lambda: edge.outbox_rows() == 0, 15, "an empty outbox after the reconnect")
        drained = time.monotonic() - t1
        received, dupes = check_order(witness.snapshot(), "outage")
        print(f"after the outage: {received} received upstream for {outage_total} published, {dupes} duplicates "
              f"(window {MAX_INFLIGHT}), drained in {drained:.2f} s after mosquitto restarted")
        # The uplink was not connected while these rows were published; only a connection lost with rows in
        # flight could duplicate, and each such loss resends at most one window.
        losses = lost_connections(edge)
        assert dupes <= MAX_INFLIGHT * losses, f"{dupes} duplicates for {losses} lost connections"

        # 3. The cloud goes away again while a backlog drains, with rows in flight.
        losses_so_far = lost_connections(edge)
        upstream.stop()
        harness.wait_for(lambda: lost_connections(edge) > losses_so_far, 10, "the uplink seeing the cloud go away")
        publish_batch(edge, "drain", DRAIN_PER_PUBLISHER)
        drain_total = DRAIN_PER_PUBLISHER * len(PUBLISHERS)
        assert edge.outbox_rows() == drain_total
        before = len(witness.snapshot())
        losses_before = lost_connections(edge)
        upstream.start()
        # The uplink runs ahead of mosquitto's delivery to the witness: watch the outbox itself shrink.
        harness.wait_for(lambda: edge.outbox_rows() <= drain_total - 500, 20, "the backlog starting to drain",
                         interval=0.005)
        upstream.stop()  # mid-drain
        cut_at = len(witness.snapshot()) - before
        left = edge.outbox_rows()
        t2 = time.monotonic()
        upstream.start()
        witness.wait_unique(live_total + outage_total + drain_total, timeout=40)
        harness.wait_for(lambda: edge.outbox_rows() == 0, 15, "an empty outbox after the second reconnect")
        received, dupes = check_order(witness.snapshot(), "drain")
        losses = lost_connections(edge) - losses_before
        print(f"outage mid-drain: cut after {cut_at} of {drain_total} arrived ({left} rows still in the outbox), "
              f"{received} received in all, {dupes} duplicates from {losses} lost connections with rows in flight "
              f"(bound {MAX_INFLIGHT} each), {witness.redelivered} DUP resends by mosquitto to the witness, "
              f"drained in {time.monotonic() - t2:.2f} s after the restart")
        assert 1 <= losses <= 3, f"expected the mid-drain cut to be seen as a lost connection, saw {losses}"
        assert dupes <= MAX_INFLIGHT * losses, f"{dupes} duplicates for {losses} lost connections"

        # The uplink's own count: every publish beyond one per row is a re-send after a lost connection.
        edge.stop()
        m = re.search(r"uplink: cloud: closed \(published (\d+), acked (\d+), refused (\d+)", edge.log_text())
        assert m, "no closing line from the uplink"
        published, acked, refused = map(int, m.groups())
        rows = live_total + outage_total + drain_total
        all_losses = lost_connections(edge)
        print(f"uplink totals: {rows} rows, {published} publishes ({published - rows} re-sends), {acked} acked, "
              f"{refused} refused, {all_losses} lost connections")
        assert acked == rows and refused == 0
        assert rows <= published <= rows + MAX_INFLIGHT * all_losses
    finally:
        if witness:
            witness.close()
        upstream.stop(check=False)


def test_uplink_refuses_a_row_over_the_servers_packet_limit_and_drains_the_rest(tmp_path, broker_factory):
    """mosquitto announces a maximum packet size in its v5 CONNACK; a row larger than that is refused by the
    uplink's local check, logged, counted and removed from the outbox (it would be refused for ever), and the
    rows behind it still go up, in order."""
    upstream = harness.Mosquitto(tmp_path, name="upstream", sys_interval=60, limits={"max_packet_size": 2000})
    upstream.start()
    witness = None
    try:
        witness = Witness(upstream.host, upstream.port)
        edge = broker_factory(name="edge", extra={
            "store": {"outbox": {"filters": ["up/#"]}},
            "uplinks": [{"name": "cloud", "host": upstream.host, "port": upstream.port, "version": "5",
                         "tls": {"enabled": False},
                         "topic_prefix": "cloud/", "reconnect_min_ms": 100, "reconnect_max_ms": 500}],
        })
        edge.wait_log(r"uplink: cloud: online", timeout=10)
        mosquitto_pub(edge, "up/a", "small-1", qos=1)
        mosquitto_pub(edge, "up/a", "x" * 5000, qos=1)
        mosquitto_pub(edge, "up/a", "small-2", qos=1)
        got = witness.wait_unique(2, timeout=10)
        assert [p for _, p in got] == [b"small-1", b"small-2"], got
        edge.wait_log(r"uplink: cloud: outbox row \d+ \(topic \"up/a\"\) refused", timeout=5)
        harness.wait_for(lambda: edge.outbox_rows() == 0, 10, "an empty outbox")
        edge.stop()
        assert re.search(r"uplink: cloud: closed \(published 3, acked 2, refused 1", edge.log_text()), edge.log_tail()
    finally:
        if witness:
            witness.close()
        upstream.stop(check=False)


def test_uplink_without_a_cloud_keeps_rows_and_the_daemon_stops_promptly(tmp_path, broker_factory):
    """No cloud at all: local publishers are acknowledged, rows stay in the outbox across a restart, and SIGTERM
    still ends the daemon with exit 0 within a second while the uplink is backing off."""
    port = harness.free_port()  # nothing listens there
    edge = broker_factory(name="edge", sys_interval=1, extra={
        "store": {"outbox": {"filters": ["up/#"]}},
        "uplinks": [{"name": "cloud", "host": "127.0.0.1", "port": port, "tls": {"enabled": False}, "reconnect_min_ms": 50,
                     "reconnect_max_ms": 200}],
    })
    edge.wait_log(r"uplink: cloud: reconnecting in \d+ ms .*connection refused", timeout=10)
    mosquitto_pub(edge, "up/a", lines=[f"m{i}" for i in range(20)], qos=1)
    assert edge.outbox_rows() == 20
    # The uplink's state and backlog as $SYS topics on the local broker (sys_interval 1 s).
    sys = paho_connect(edge)
    sys.subscribe("$SYS/broker/uplink/cloud/#", qos=0)

    def latest() -> dict[str, bytes]:
        with sys.lock:
            return {m.topic.rsplit("uplink/cloud/", 1)[1]: m.payload for m in sys.messages}

    harness.wait_for(lambda: latest().get("backlog/rows") == b"20" and "backlog/oldest_s" in latest(), 5,
                     "$SYS backlog/rows = 20")
    values = latest()
    sys.close()
    print(f"$SYS/broker/uplink/cloud: {values}")
    assert values["state"] in (b"backoff", b"connecting"), values
    assert 0 <= int(values["backlog/oldest_s"]) < 60, values
    assert values["acked"] == b"0" and values["connects"] == b"0", values
    t0 = time.monotonic()
    assert edge.stop() == 0
    took = time.monotonic() - t0
    print(f"SIGTERM to exit while backing off: {took * 1000:.0f} ms")
    assert took < 1.0, f"took {took:.2f} s to stop"
    assert edge.outbox_rows() == 20  # nothing was acknowledged by a cloud, nothing left
    edge.start()
    edge.wait_log(r"outbox 20 rows", timeout=10)
    assert edge.outbox_rows() == 20
