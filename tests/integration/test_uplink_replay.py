"""The uplink after an outage (issue 18): live messages ahead of the backlog, per-uplink outbox quotas, v5
properties relayed end to end, message expiry honoured in the outbox.

The cloud is Debian's mosquitto. Speed is not measured here (bench/README.md "Outage"); what is checked is order:
arrival positions at a witness subscribed on the cloud, never wall-clock thresholds. The uplink's rate limit keeps
a backlog draining for seconds, so live messages published once it is online find it still there, whatever the
machine's load.

  test_live_messages_overtake_the_backlog[per_origin|none|per_lane]: a backlog from one client ("bulk"), then,
      once the uplink is online, live messages from another client ("live") and from "bulk" itself. Every live
      message arrives before the backlog's last row; each origin's sequence is in order; with per_origin, bulk's
      new messages come after its whole backlog, with none they overtake it; per_lane (no live-first, the drain
      before issue 18) sends everything in order, the live messages after the backlog.
  test_absent_uplink_quota_keeps_the_other_uplink_relaying[drop_oldest|reject_new]: two uplinks, one upstream
      never there. The present one relays every message while the outbox stays under a global bound that the
      absent one alone would fill; the absent one's quota policy keeps its share and is counted in $SYS.
  test_v5_properties_reach_the_upstream: user properties, content type, response topic (mapped by the rule),
      correlation data and the remaining expiry arrive through a v5 uplink; a 3.1.1 uplink counts them dropped.
  test_expired_row_is_never_sent: a message whose expiry passes while the cloud is down is deleted, counted and
      never sent; the message published after it arrives.
"""
from __future__ import annotations

import threading
import time

import paho.mqtt.client as paho
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

import harness
from peers import mosquitto_pub, paho_connect

pytestmark = pytest.mark.netpie_only

BACKLOG = 8000
LIVE = 10
RATE_LIMIT = 1500  # rows per second upward: the backlog drains for about BACKLOG / RATE_LIMIT s


class Witness:
    """A persistent QoS 1 subscriber on the cloud: it keeps its queue across the cloud's restart, so every message
    the uplink delivers reaches it, in the order the cloud took them."""

    def __init__(self, host: str, port: int, client_id: str, topic: str):
        self.payloads: list[str] = []
        self.lock = threading.Lock()
        subscribed = threading.Event()
        self.client = paho.Client(client_id=client_id, clean_session=False, protocol=paho.MQTTv311)
        self.client.on_connect = lambda c, u, f, rc: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_message = self._on_message
        self.client.max_inflight_messages_set(100)
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.connect(host, port, keepalive=10)
        self.client.loop_start()
        assert subscribed.wait(10), "witness: no SUBACK"

    def _on_message(self, client, userdata, msg) -> None:
        with self.lock:
            self.payloads.append(msg.payload.decode())

    def snapshot(self) -> list[str]:
        with self.lock:
            return list(self.payloads)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def sys_values(edge: harness.Broker, uplink: str, want: dict[str, str], timeout: float = 10) -> dict[str, str]:
    """$SYS/broker/uplink/<uplink>/... on the edge once every key in `want` has its value (sys_interval 1 s)."""
    sub = paho_connect(edge)
    sub.subscribe(f"$SYS/broker/uplink/{uplink}/#", qos=0)

    def latest() -> dict[str, str]:
        with sub.lock:
            return {m.topic.split(f"uplink/{uplink}/", 1)[1]: m.payload.decode() for m in sub.messages}

    try:
        harness.wait_for(lambda: all(latest().get(k) == v for k, v in want.items()), timeout,
                         f"$SYS/broker/uplink/{uplink}: {want}")
        return latest()
    finally:
        print(f"$SYS/broker/uplink/{uplink}: {latest()}")
        sub.close()


def seqs(arrivals: list[str], origin: str) -> list[int]:
    return [int(p.split(":")[1]) for p in arrivals if p.startswith(origin + ":")]


@pytest.mark.parametrize("order", ["per_origin", "none", "per_lane"])
def test_live_messages_overtake_the_backlog(tmp_path, broker_factory, order):
    cloud = harness.PersistentMosquitto(tmp_path, name="cloud", sys_interval=60)
    cloud.start()
    witness = Witness(cloud.host, cloud.port, "replay-witness", "c/#")
    cloud.stop()  # down while the backlog builds
    try:
        edge = broker_factory(name="edge", extra={"uplinks": [{
            "name": "cloud", "host": cloud.host, "port": cloud.port, "tls": {"enabled": False},
            "client_id": "edge-replay", "max_inflight": 32, "rate_limit": RATE_LIMIT,
            "up": [{"filter": "d/#", "prefix": "c/", "qos": 1}], "replay": {"order": order},
            "reconnect_min_ms": 50, "reconnect_max_ms": 300}]})
        mosquitto_pub(edge, "d/bulk", lines=[f"bulk:{i}" for i in range(BACKLOG)], qos=1, client_id="bulk")
        assert edge.outbox_rows() == BACKLOG
        cloud.start()
        edge.wait_log(r"uplink: cloud: online", timeout=15)
        live = paho_connect(edge, client_id="live")
        late = paho_connect(edge, client_id="bulk")  # the backlog's origin, publishing again
        for i in range(LIVE):
            live.publish("d/live", f"live:{i}", qos=1)
            late.publish("d/bulk", f"bulk:{BACKLOG + i}", qos=1)
        live.close()
        late.close()
        total = BACKLOG + 2 * LIVE
        harness.wait_for(lambda: len(witness.snapshot()) >= total, 60, f"{total} messages at the witness")
        time.sleep(0.5)  # a duplicate would arrive now
        got = witness.snapshot()
        assert len(got) == total and len(set(got)) == total, f"{len(got)} received, {len(set(got))} distinct"
        pos = {p: i for i, p in enumerate(got)}
        last_backlog = pos[f"bulk:{BACKLOG - 1}"]
        live_pos = [pos[f"live:{i}"] for i in range(LIVE)]
        late_pos = [pos[f"bulk:{BACKLOG + i}"] for i in range(LIVE)]
        print(f"order {order}: backlog of {BACKLOG} ends at arrival {last_backlog}; live arrivals {live_pos}; "
              f"bulk's new messages at {late_pos}")
        assert seqs(got, "live") == list(range(LIVE))
        if order == "per_lane":
            # No live-first: one stream in (lane, id) order, as the drain was before; the live messages follow.
            assert min(live_pos) > last_backlog and seqs(got, "bulk") == list(range(BACKLOG + LIVE))
            return
        # Live first: with one stream (per_lane above, the drain before issue 18) every live message would follow
        # the backlog.
        assert max(live_pos) < last_backlog, "a live message waited behind the whole backlog"
        backlog_seqs = [s for s in seqs(got, "bulk") if s < BACKLOG]
        assert backlog_seqs == list(range(BACKLOG)), "the backlog is not in order"
        if order == "per_origin":
            # bulk's own new messages keep their place behind its backlog: its whole sequence is in order.
            assert seqs(got, "bulk") == list(range(BACKLOG + LIVE))
            assert min(late_pos) > last_backlog
        else:
            # none: they are live like any other and overtake the backlog (still in order among themselves).
            assert [s for s in seqs(got, "bulk") if s >= BACKLOG] == list(range(BACKLOG, BACKLOG + LIVE))
            assert max(late_pos) < last_backlog
        assert edge.outbox_rows() == 0
    finally:
        witness.close()
        cloud.stop(check=False)


@pytest.mark.parametrize("policy", ["drop_oldest", "reject_new"])
def test_absent_uplink_quota_keeps_the_other_uplink_relaying(tmp_path, broker_factory, policy):
    # Published in chunks, each drained by the present uplink before the next: its rows never pass one chunk, so
    # quota + chunk stays under the bound whatever the machine's load, while the absent uplink alone (n rows)
    # would pass it.
    n, chunk, quota, bound = 4000, 500, 1500, 2500
    cloud = harness.Mosquitto(tmp_path, name="cloud", sys_interval=60)
    cloud.start()
    witness = Witness(cloud.host, cloud.port, "near-witness", "near/#")
    absent = harness.free_port()  # nothing listens there for the whole test
    try:
        common = {"tls": {"enabled": False}, "max_inflight": 64, "reconnect_min_ms": 50, "reconnect_max_ms": 300}
        edge = broker_factory(name="edge", sys_interval=1, extra={
            # The global bound is below what the absent uplink alone would queue: without its quota it fills the
            # bound and reject_new refuses every message, the present uplink's too.
            "store": {"outbox": {"max_rows": bound, "policy": "reject_new"}},
            "uplinks": [
                {"name": "near", "host": cloud.host, "port": cloud.port, "client_id": "edge-near",
                 "up": [{"filter": "d/#", "prefix": "near/", "qos": 1}], **common},
                {"name": "far", "host": "127.0.0.1", "port": absent, "client_id": "edge-far",
                 "up": [{"filter": "d/#", "prefix": "far/", "qos": 1}],
                 "outbox": {"max_rows": quota, "policy": policy}, **common}]})
        edge.wait_log(r"uplink: near: online", timeout=10)
        # Every message acknowledged (mosquitto_pub exits 0 only then), none refused for the absent uplink.
        for first in range(0, n, chunk):
            mosquitto_pub(edge, "d/x", lines=[f"m:{i}" for i in range(first, first + chunk)], qos=1,
                          client_id="src", timeout=120)
            harness.wait_for(lambda: len(witness.snapshot()) >= first + chunk, 60,
                             f"{first + chunk} messages through the present uplink")
        assert seqs(witness.snapshot(), "m") == list(range(n))
        far_rows = edge.query_state("SELECT count(*), min(payload), max(payload) FROM outbox WHERE dest = 'far'")[0]
        print(f"policy {policy}: far holds {far_rows}, outbox {edge.outbox_rows()} rows (bound {bound})")
        assert far_rows[0] == quota
        if policy == "drop_oldest":  # its newest rows stay
            kept = {r[0] for r in edge.query_state("SELECT payload FROM outbox WHERE dest = 'far'")}
            assert kept == {f"m:{i}".encode() for i in range(n - quota, n)}
            sys_values(edge, "far", {"quota/dropped_oldest": str(n - quota), "quota/rejected": "0"})
        else:  # its oldest rows stay, the rest were never written
            kept = {r[0] for r in edge.query_state("SELECT payload FROM outbox WHERE dest = 'far'")}
            assert kept == {f"m:{i}".encode() for i in range(quota)}
            sys_values(edge, "far", {"quota/rejected": str(n - quota), "quota/dropped_oldest": "0"})
        # The present uplink's rows all acknowledged. The upstream hands a message to the witness as it sends
        # its PUBACK, and the delete rides with the store's next lazy window: wait for it, not for the witness.
        harness.wait_for(lambda: edge.outbox_rows() == quota, 30,
                         f"the outbox down to the absent uplink's {quota} rows", interval=0.1)
    finally:
        witness.close()
        cloud.stop(check=False)


def test_v5_properties_reach_the_upstream(tmp_path, broker_factory):
    cloud = harness.Mosquitto(tmp_path, name="cloud", sys_interval=60)
    cloud.start()
    sub = paho_connect(cloud, version="mqttv5", client_id="props-witness")
    sub.subscribe("v5/#", qos=1)
    sub.subscribe("v3/#", qos=1)
    try:
        common = {"host": cloud.host, "port": cloud.port, "tls": {"enabled": False}, "reconnect_min_ms": 50,
                  "reconnect_max_ms": 300}
        edge = broker_factory(name="edge", sys_interval=1, extra={"uplinks": [
            {"name": "v5", "version": "5", "client_id": "edge-v5",
             "up": [{"filter": "p/#", "prefix": "v5/", "qos": 1}], **common},
            {"name": "v3", "version": "3.1.1", "client_id": "edge-v3",
             "up": [{"filter": "p/#", "prefix": "v3/", "qos": 1}], **common}]})
        edge.wait_log(r"uplink: v5: online", timeout=10)
        edge.wait_log(r"uplink: v3: online", timeout=10)
        pub = paho_connect(edge, version="mqttv5", client_id="props-pub")
        props = Properties(PacketTypes.PUBLISH)
        props.UserProperty = [("site", "farm-7"), ("unit", "celsius")]
        props.ContentType = "application/json"
        props.ResponseTopic = "p/reply/7"
        props.CorrelationData = b"\x00\x01req"
        props.MessageExpiryInterval = 3600
        pub.publish("p/t", '{"t": 21.5}', qos=1, properties=props)
        pub.close()
        msgs = sub.wait_count(2)
        by_topic = {m.topic: m for m in msgs}
        assert set(by_topic) == {"v5/p/t", "v3/p/t"}, by_topic
        got = by_topic["v5/p/t"].properties
        print(f"v5 upstream received: {got}")
        assert got.UserProperty == [("site", "farm-7"), ("unit", "celsius")]
        assert got.ContentType == "application/json"
        assert got.ResponseTopic == "v5/p/reply/7"  # mapped by the same rule as the topic
        assert got.CorrelationData == b"\x00\x01req"
        assert 0 < got.MessageExpiryInterval <= 3600
        plain = by_topic["v3/p/t"].properties
        assert not getattr(plain, "UserProperty", None) and not getattr(plain, "ContentType", None)
        sys_values(edge, "v3", {"properties_dropped": "1"})
        sys_values(edge, "v5", {"properties_dropped": "0"})
    finally:
        sub.close()
        cloud.stop(check=False)


def test_expired_row_is_never_sent(tmp_path, broker_factory):
    cloud = harness.PersistentMosquitto(tmp_path, name="cloud", sys_interval=60)
    cloud.start()
    witness = Witness(cloud.host, cloud.port, "expiry-witness", "x/#")
    cloud.stop()
    try:
        edge = broker_factory(name="edge", sys_interval=1, extra={"uplinks": [{
            "name": "cloud", "version": "5", "host": cloud.host, "port": cloud.port, "tls": {"enabled": False},
            "client_id": "edge-expiry", "up": [{"filter": "e/#", "prefix": "x/", "qos": 1}],
            "reconnect_min_ms": 50, "reconnect_max_ms": 300}]})
        pub = paho_connect(edge, version="mqttv5", client_id="expiry-pub")
        props = Properties(PacketTypes.PUBLISH)
        props.MessageExpiryInterval = 1
        pub.publish("e/t", "expires:0", qos=1, properties=props)
        keep = Properties(PacketTypes.PUBLISH)
        keep.MessageExpiryInterval = 3600
        pub.publish("e/t", "stays:1", qos=1, properties=keep)
        pub.publish("e/t", "stays:2", qos=1)
        pub.close()
        assert edge.outbox_rows() == 3
        time.sleep(2.2)  # the first one's expiry passes while the cloud is away (the test's condition)
        cloud.start()
        # Same origin, same lane: the expired row would have gone up before the two after it.
        harness.wait_for(lambda: len(witness.snapshot()) >= 2, 30, "the two messages that did not expire")
        time.sleep(0.3)
        assert witness.snapshot() == ["stays:1", "stays:2"]
        sys_values(edge, "cloud", {"message_expired": "1"})
        assert edge.outbox_rows() == 0
    finally:
        witness.close()
        cloud.stop(check=False)
