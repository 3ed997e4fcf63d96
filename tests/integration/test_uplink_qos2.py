"""QoS 2 upstream: exactly once into Debian's mosquitto, across SIGKILLs of the gateway and restarts of the cloud.

A backlog of QoS 2 messages from three local publishers is queued while the cloud is down. Then the cloud comes up
and, while the uplink drains it, the gateway is SIGKILLed twice (restarted each time) and the cloud is stopped and
started once. The uplink keeps each row's packet id (derived from the row id) and records PUBREC in the store
before it sends PUBREL, with a session that outlives the connection (clean_start false), so mosquitto sees a
re-sent PUBLISH as the same message (DUP, same id) and a PUBREL for what it already has. A witness subscribed at
QoS 2 with a persistent session must receive every message exactly once, in order per publisher.

The witness is the instrument, so the cloud must not add duplicates of its own between itself and the witness.
Debian's mosquitto 2.0.11 does when it restarts with more QoS 2 deliveries to one subscriber open (PUBLISH or
PUBREL sent, PUBCOMP not yet read) than `max_inflight_messages`: it lets more than that many open (its quota is
given back early), saves them all at shutdown, but restores only `max_inflight_messages` of them in their state;
the rest go back to the queue and are sent again as new PUBLISHes, and a subscriber that had already received
their PUBREL delivers them a second time (a contiguous run of the witness's own stream, hundreds long). So the
cloud here allows more in flight than the test sends in all (CLOUD_MAX_INFLIGHT), and
test_cloud_restart_adds_no_duplicates_of_its_own checks exactly that condition with a raw subscriber. The
gateway's window is its own `max_inflight` (32); a 3.1.1 server announces no receive maximum.
"""
from __future__ import annotations

import threading
import time

import paho.mqtt.client as paho
import pytest

import harness
from peers import mosquitto_pub
from rawmqtt import PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, SUBACK, RawClient, ack, parse_publish, publish, subscribe

pytestmark = pytest.mark.netpie_only

PUBLISHERS = ("a", "b", "c")
PER_PUBLISHER = 2000
# Above every QoS 2 delivery the cloud can hold open to one subscriber (at most all messages of a test), so that
# all of them keep their state across its restart (see the module text). Not 65535: that value makes 2.0.11
# restore none of them in their state.
CLOUD_MAX_INFLIGHT = 10_000


def make_cloud(tmp_path) -> harness.PersistentMosquitto:
    cloud = harness.PersistentMosquitto(tmp_path, name="cloud", sys_interval=60,
                                        limits={"max_inflight": CLOUD_MAX_INFLIGHT})
    cloud.max_queued = 1_000_000
    return cloud


class Witness:
    def __init__(self, host: str, port: int):
        self.payloads: list[bytes] = []
        self.lock = threading.Lock()
        subscribed = threading.Event()
        self.client = paho.Client(client_id="qos2-witness", clean_session=False, protocol=paho.MQTTv311)
        self.client.on_connect = lambda c, u, f, rc: c.subscribe("q2/#", qos=2)
        self.client.on_subscribe = lambda c, u, mid, granted: subscribed.set()
        self.client.on_message = self._on_message
        self.client.max_inflight_messages_set(100)
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.connect(host, port, keepalive=10)
        self.client.loop_start()
        assert subscribed.wait(10), "witness: no SUBACK"

    def _on_message(self, client, userdata, msg) -> None:
        with self.lock:
            self.payloads.append(msg.payload)

    def count(self) -> int:
        with self.lock:
            return len(self.payloads)

    def snapshot(self) -> list[bytes]:
        with self.lock:
            return list(self.payloads)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_qos2_upstream_is_exactly_once_across_kills_and_cloud_restarts(tmp_path, broker_factory):
    assert PER_PUBLISHER * len(PUBLISHERS) < CLOUD_MAX_INFLIGHT
    cloud = make_cloud(tmp_path)
    cloud.start()
    witness = Witness(cloud.host, cloud.port)
    cloud.stop()  # down while the backlog builds
    try:
        edge = broker_factory(name="edge", extra={"uplinks": [{
            "name": "q2", "host": cloud.host, "port": cloud.port, "tls": {"enabled": False},
            "client_id": "edge-q2", "keepalive": 5, "max_inflight": 32,
            "up": [{"filter": "q/#", "prefix": "q2/", "qos": 2}],
            "reconnect_min_ms": 50, "reconnect_max_ms": 300}]})
        threads = [threading.Thread(target=mosquitto_pub, args=(edge, f"q/{p}"), kwargs={
            "qos": 2, "client_id": f"pub-{p}", "lines": [f"{p}-{i:05d}" for i in range(PER_PUBLISHER)],
            "timeout": 120}) for p in PUBLISHERS]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        total = PER_PUBLISHER * len(PUBLISHERS)
        assert edge.outbox_rows() == total
        t0 = time.monotonic()
        cloud.start()
        kills = 0
        for threshold in (total // 5, total // 2):
            harness.wait_for(lambda: witness.count() >= threshold, 60, f"{threshold} messages at the witness")
            edge.kill()
            kills += 1
            edge.start()
        harness.wait_for(lambda: witness.count() >= total * 3 // 4, 60, "three quarters at the witness")
        cloud.stop()
        cloud.start()
        harness.wait_for(lambda: edge.outbox_rows() == 0, 120, "an empty outbox")
        harness.wait_for(lambda: witness.count() >= total, 30, f"{total} messages at the witness")
        time.sleep(1)  # anything extra (a duplicate) would arrive now
        got = witness.snapshot()
        dupes = len(got) - len(set(got))
        for p in PUBLISHERS:
            seq = [int(x.split(b"-")[1]) for x in got if x.startswith(f"{p}-".encode())]
            assert seq == list(range(PER_PUBLISHER)), f"publisher {p}: not exactly once in order " \
                f"(first problems: {[i for i, v in enumerate(seq) if v != i][:10]})"
        print(f"qos2: {total} messages, {kills} SIGKILLs and one cloud restart while draining, {len(got)} received, "
              f"{dupes} duplicates, {time.monotonic() - t0:.1f} s")
        assert dupes == 0
    finally:
        witness.close()
        cloud.stop(check=False)


def test_cloud_restart_adds_no_duplicates_of_its_own(tmp_path):
    """The instrument: the cloud as configured above, restarted while a subscriber has received the PUBREL of
    hundreds of QoS 2 deliveries whose PUBCOMP the cloud has not read, re-sends those as PUBREL only (MQTT 3.1.1
    §4.4), never as a PUBLISH of a message the subscriber has already delivered. With max_inflight_messages 32
    (this test's former setting) mosquitto 2.0.11 re-sent all but 32 of them as PUBLISHes."""
    total, lag = 1000, 20
    cloud = make_cloud(tmp_path)
    cloud.start()
    try:
        sub = RawClient((cloud.host, cloud.port))
        sub.connect("instrument", clean=False)
        sub.send(subscribe(1, [("t", 2)]))
        sub.expect(SUBACK)
        with RawClient((cloud.host, cloud.port)) as pub:
            pub.connect("instrument-pub")
            for i in range(1, total + 1):
                pub.send(publish("t", f"m{i}".encode(), qos=2, pid=i))
                pub.expect(PUBREC)
                pub.send(ack(PUBREL, i))
                pub.expect(PUBCOMP)
        # The subscriber answers PUBREC at once and delivers on PUBREL; its PUBCOMPs trail by `lag`, and stop
        # half way (still unsent when the cloud stops), so hundreds of deliveries are open at the cloud.
        delivered: set[bytes] = set()
        pending: dict[int, bytes] = {}
        unanswered: list[int] = []
        while len(delivered) < total:
            p = sub.read_packet(30)
            if p.type == PUBLISH:
                _, pid, payload = parse_publish(p)
                pending[pid] = payload
                sub.send(ack(PUBREC, pid))
            elif p.type == PUBREL:
                pid = int.from_bytes(p.body[:2], "big")
                payload = pending.pop(pid)
                assert payload not in delivered, f"{payload!r} delivered twice before the restart"
                delivered.add(payload)
                unanswered.append(pid)
                while len(unanswered) > lag and len(delivered) < total // 2:
                    sub.send(ack(PUBCOMP, unanswered.pop(0)))
        assert len(unanswered) > 400, "the PUBCOMPs must be open past any small in-flight limit"
        sub.close()
        cloud.stop()
        cloud.start()
        sub = RawClient((cloud.host, cloud.port))
        sub.connect("instrument", clean=False)
        with RawClient((cloud.host, cloud.port)) as pub:  # after the re-sends in the subscriber's queue
            pub.connect("instrument-pub2")
            pub.send(publish("t", b"marker", qos=1, pid=1))
            pub.expect(PUBACK)
        released, again = set(), []
        while True:
            p = sub.read_packet(30)
            if p.type == PUBLISH:
                _, pid, payload = parse_publish(p)
                if payload == b"marker":
                    break
                again.append(payload)
                sub.send(ack(PUBREC, pid))
            elif p.type == PUBREL:
                pid = int.from_bytes(p.body[:2], "big")
                released.add(pid)
                sub.send(ack(PUBCOMP, pid))
        sub.close()
        print(f"cloud restart: {len(unanswered)} deliveries open, {len(released)} PUBREL re-sent, "
              f"{len(again)} PUBLISH re-sent")
        assert not [x for x in again if x in delivered], \
            f"the cloud re-sent {len(again)} delivered messages as new PUBLISHes, first {again[:3]}"
        assert released >= set(unanswered)
    finally:
        cloud.stop(check=False)
