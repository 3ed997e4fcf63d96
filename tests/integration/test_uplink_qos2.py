"""QoS 2 upstream: exactly once into Debian's mosquitto, across SIGKILLs of the gateway and restarts of the cloud.

A backlog of QoS 2 messages from three local publishers is queued while the cloud is down. Then the cloud comes up
and, while the uplink drains it, the gateway is SIGKILLed twice (restarted each time) and the cloud is stopped and
started once. The uplink keeps each row's packet id (derived from the row id) and records PUBREC in the store
before it sends PUBREL, with a session that outlives the connection (clean_start false), so mosquitto sees a
re-sent PUBLISH as the same message (DUP, same id) and a PUBREL for what it already has. A witness subscribed at
QoS 2 with a persistent session must receive every message exactly once, in order per publisher.
"""
from __future__ import annotations

import threading
import time

import paho.mqtt.client as paho
import pytest

import harness
from peers import mosquitto_pub

pytestmark = pytest.mark.netpie_only

PUBLISHERS = ("a", "b", "c")
PER_PUBLISHER = 2000


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
    cloud = harness.PersistentMosquitto(tmp_path, name="cloud", sys_interval=60, limits={"max_inflight": 32})
    cloud.max_queued = 1_000_000
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
