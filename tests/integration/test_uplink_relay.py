"""Relay rules, presence and several uplinks, with Debian's mosquitto as the clouds (plain TCP; TLS has its own file).

1. Two uplinks, each to its own mosquitto, each with its own up rules: a message goes to every uplink whose rules
   match, mapped by the first matching rule (strip, prefix, QoS cap), and to no other. While one cloud is down its
   rows wait in the outbox, and the other uplink keeps delivering; when it returns its rows arrive.
2. Down rules: a cloud message on a subscribed filter reaches a local subscriber under the mapped topic, and is not
   sent up again even though an up rule matches its local topic.
3. Presence: the gateway's status topic says "online" (retained) after it connects and "offline" (its will) when the
   gateway is SIGKILLed; local clients' connect, clean disconnect and keepalive timeout arrive as device presence,
   and a clean session's end clears the device's retained presence while a persistent session's stays.
   On SIGTERM the gateway itself says "offline" and sends each connected device's end before it closes the uplink;
   a cloud that does not acknowledge holds the stop no longer than stop_timeout_ms, and the ends go up next start.
4. rate_limit: a burst of queued rows drains no faster than the limit allows.
"""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import threading
import time

import paho.mqtt.client as paho
import pytest

import harness
from peers import MosquittoSub, mosquitto_pub
from rawmqtt import RawClient

pytestmark = pytest.mark.netpie_only


class Cloud:
    """A mosquitto 'cloud' with a paho witness subscribed to '#' (persistent session, QoS 1)."""

    def __init__(self, tmp_path, name: str):
        self.broker = harness.PersistentMosquitto(tmp_path, name=name, sys_interval=60)
        self.broker.start()
        self.messages: list[tuple[str, bytes, int, bool]] = []
        self.lock = threading.Lock()
        subscribed = threading.Event()
        self.client = paho.Client(client_id=f"witness-{name}", clean_session=False, protocol=paho.MQTTv311)
        self.client.on_connect = lambda c, u, f, rc: c.subscribe("#", qos=1)
        self.client.on_subscribe = lambda c, u, mid, granted: subscribed.set()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.connect(self.broker.host, self.broker.port, keepalive=10)
        self.client.loop_start()
        assert subscribed.wait(10), f"{name}: no SUBACK"

    def _on_message(self, client, userdata, msg) -> None:
        with self.lock:
            self.messages.append((msg.topic, msg.payload, msg.qos, bool(msg.retain)))

    def got(self, topic: str) -> list[tuple[str, bytes, int, bool]]:
        with self.lock:
            return [m for m in self.messages if m[0] == topic]

    def wait(self, topic: str, payload: bytes | None = None, timeout: float = 15.0):
        def find():
            for m in self.got(topic):
                if payload is None or m[1] == payload:
                    return m
            return None
        return harness.wait_for(find, timeout, f"{topic} {payload!r} at {self.broker.name}")

    def topics(self) -> set[str]:
        with self.lock:
            return {m[0] for m in self.messages}

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        self.client.publish(topic, payload, qos=qos).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        self.broker.stop(check=False)


def uplink(name: str, cloud: Cloud, **over) -> dict:
    u = {"name": name, "host": cloud.broker.host, "port": cloud.broker.port, "tls": {"enabled": False},
         "client_id": f"edge-{name}", "keepalive": 5, "reconnect_min_ms": 100, "reconnect_max_ms": 400}
    u.update(over)
    return u


@pytest.fixture
def clouds(tmp_path):
    made: list[Cloud] = []

    def make(name: str) -> Cloud:
        c = Cloud(tmp_path, name)
        made.append(c)
        return c
    yield make
    for c in made:
        c.close()


def test_two_uplinks_with_their_own_rules_and_outages(broker_factory, clouds):
    a, b = clouds("cloud-a"), clouds("cloud-b")
    edge = broker_factory(name="edge", extra={"uplinks": [
        uplink("a", a, up=[{"filter": "alarm/#", "prefix": "site1/", "lane": 0},
                           {"filter": "sensors/#", "strip": "sensors/", "prefix": "site1/telemetry/", "qos": 0}]),
        uplink("b", b, up=[{"filter": "sensors/#", "prefix": "company/"}]),
    ]})
    edge.wait_log(r"uplink: a: online", timeout=10)
    edge.wait_log(r"uplink: b: online", timeout=10)

    mosquitto_pub(edge, "sensors/t1", "20.5", qos=1)
    mosquitto_pub(edge, "alarm/fire", "ALARM", qos=1)
    mosquitto_pub(edge, "other/x", "stays local", qos=1)
    # a: both rules, mapped; the sensors rule caps QoS at 0.
    m = a.wait("site1/telemetry/t1", b"20.5")
    assert m[2] == 0, f"the rule's qos 0 caps the message: {m}"
    a.wait("site1/alarm/fire", b"ALARM")
    # b: only its own rule.
    b.wait("company/sensors/t1", b"20.5")
    time.sleep(0.5)
    assert not [t for t in b.topics() if "alarm" in t], f"b has no alarm rule: {b.topics()}"
    assert not [t for t in a.topics() | b.topics() if "other" in t], "no rule matches other/x"
    harness.wait_for(lambda: edge.outbox_rows() == 0, 10, "an empty outbox")

    # Cloud b goes down: its rows wait, a keeps delivering.
    b.broker.stop()
    edge.wait_log(r"uplink: b: connection lost", timeout=10)
    for i in range(20):
        mosquitto_pub(edge, "sensors/t2", f"v{i}", qos=1)
    a.wait("site1/telemetry/t2", b"v19")
    harness.wait_for(lambda: edge.outbox_rows() == 20, 10, "b's 20 rows waiting in the outbox")
    b.broker.start()
    payloads = lambda: [m[1] for m in b.got("company/sensors/t2")]  # noqa: E731
    harness.wait_for(lambda: len(set(payloads())) == 20, 20, "b's rows after its return")
    firsts = []
    for p in payloads():
        if p not in firsts:
            firsts.append(p)
    assert firsts == [f"v{i}".encode() for i in range(20)], f"order after the outage: {firsts}"
    harness.wait_for(lambda: edge.outbox_rows() == 0, 10, "an empty outbox after b's return")


def test_down_rules_reach_local_subscribers_and_never_go_back_up(broker_factory, clouds):
    cloud = clouds("cloud")
    edge = broker_factory(name="edge", extra={"uplinks": [
        uplink("c", cloud, up=[{"filter": "#", "prefix": "up/"}],
               down=[{"filter": "cmd/#", "strip": "cmd/", "prefix": "local/cmd/", "qos": 1}]),
    ]})
    edge.wait_log(r"uplink: c: online", timeout=10)
    with MosquittoSub(edge, "local/#", qos=1) as sub:
        # The subscription upstream may lag the CONNACK by a round trip: send until one arrives.
        for i in range(30):
            cloud.publish("cmd/led", f"on-{i}".encode())
            try:
                sub.wait_topic_payload("local/cmd/led", f"on-{i}".encode(), timeout=0.5)
                break
            except AssertionError:
                continue
        else:
            raise AssertionError(f"no down message arrived locally\n{edge.log_tail()}")
        # A local client's message under the same local prefix does go up (the up rule matches it) ...
        mosquitto_pub(edge, "local/cmd/led", "from a device", qos=1)
        cloud.wait("up/local/cmd/led", b"from a device")
    # ... but what came down did not: only the device's message appears under up/.
    harness.wait_for(lambda: edge.outbox_rows() == 0, 10, "an empty outbox")
    ups = [m[1] for m in cloud.got("up/local/cmd/led")]
    assert ups == [b"from a device"], f"a message that came down went up again: {ups}"


def test_gateway_and_device_presence(broker_factory, clouds):
    cloud = clouds("cloud")
    edge = broker_factory(name="edge", extra={"uplinks": [
        uplink("p", cloud, presence={"topic": "gw/edge1/status", "devices": "gw/edge1/devices/"})]})
    cloud.wait("gw/edge1/status", b"online")

    # A clean disconnect and a keepalive timeout (a raw client that sends CONNECT with keepalive 1, then nothing).
    mosquitto_pub(edge, "x", "y", client_id="dev-clean")
    sock = socket.create_connection((edge.host, edge.port), timeout=5)
    cid = b"dev-silent"
    body = b"\x00\x04MQTT\x04\x02\x00\x01" + len(cid).to_bytes(2, "big") + cid
    sock.sendall(bytes([0x10, len(body)]) + body)
    assert sock.recv(4)[:2] == b"\x20\x02", "CONNACK"

    def events(client_id: str) -> list[dict]:
        return device_events(cloud, client_id)
    harness.wait_for(lambda: [e["event"] for e in events("dev-clean")] == ["online", "offline"], 15,
                     "dev-clean online then offline")
    assert events("dev-clean")[1]["reason"] == "disconnect"
    harness.wait_for(lambda: len(events("dev-silent")) == 2, 15, "dev-silent online then offline")
    assert events("dev-silent")[1]["reason"] == "keepalive timeout", events("dev-silent")
    sock.close()
    for e in events("dev-clean") + events("dev-silent"):
        assert isinstance(e["time"], int) and e["client_id"] in ("dev-clean", "dev-silent")
    # Both sessions were clean: they ended for good, so nothing stays retained for them upstream (the offline
    # event went up not retained, then an empty retained message cleared the topic).
    for cid in ("dev-clean", "dev-silent"):
        harness.wait_for(lambda: [m[1] for m in cloud.got(f"gw/edge1/devices/{cid}")][-1:] == [b""], 15,
                         f"{cid}'s presence cleared")
        assert retained(cloud, f"gw/edge1/devices/{cid}") == b""
    # A persistent session's end stays retained: the device may come back to it.
    with RawClient((edge.host, edge.port)) as dev:
        dev.connect("dev-persistent", clean=False)
        harness.wait_for(lambda: len(events("dev-persistent")) == 1, 15, "dev-persistent online")
        dev.send(b"\xe0\x00")  # DISCONNECT
    harness.wait_for(lambda: len(events("dev-persistent")) == 2, 15, "dev-persistent offline")
    assert json.loads(retained(cloud, "gw/edge1/devices/dev-persistent"))["event"] == "offline"

    # SIGKILL: the cloud publishes the gateway's will; after the restart it is online again.
    edge.kill()
    cloud.wait("gw/edge1/status", b"offline", timeout=20)
    edge.start()
    harness.wait_for(lambda: [m[1] for m in cloud.got("gw/edge1/status")][-1:] == [b"online"], 15,
                     "online again after the restart")
    statuses = [m[1] for m in cloud.got("gw/edge1/status")]
    assert statuses == [b"online", b"offline", b"online"], statuses


def retained(cloud: Cloud, topic: str) -> bytes:
    """The retained message on `topic` at the cloud, as a new subscriber gets it (b"" when none). A retained
    sentinel subscribed after it marks the end: mosquitto sends the retained messages filter by filter."""
    cloud.client.publish("zz/sentinel", b"s", qos=1, retain=True).wait_for_publish(10)
    r = subprocess.run(["mosquitto_sub", "-h", cloud.broker.host, "-p", str(cloud.broker.port), "-t", topic,
                        "-t", "zz/sentinel", "--retained-only", "-C", "1", "-W", "30", "-v", "-N"],
                       capture_output=True, timeout=60)
    got_topic, _, payload = r.stdout.partition(b" ")
    assert got_topic in (topic.encode(), b"zz/sentinel"), r
    return b"" if got_topic == b"zz/sentinel" else payload


def connected_devices(edge, *client_ids: str) -> list[RawClient]:
    """Local devices that stay connected (raw 3.1.1 clients, keepalive 60 s); an id ending in "-p" keeps a
    persistent session, the others a clean one."""
    out = []
    for cid in client_ids:
        c = RawClient((edge.host, edge.port))
        c.connect(cid, keepalive=60, clean=not cid.endswith("-p"))
        out.append(c)
    return out


def device_events(cloud: Cloud, client_id: str) -> list[dict]:
    """The presence events for a device at the cloud (the empty messages that clear the topic left out)."""
    return [json.loads(m[1]) for m in cloud.got(f"gw/edge1/devices/{client_id}") if m[1]]


def edge_with_devices(broker_factory, cloud: Cloud, stop_timeout_ms: int, *client_ids: str):
    """An edge relaying presence to `cloud`, with these devices connected and their online events acknowledged."""
    edge = broker_factory(name="edge", extra={"uplinks": [
        uplink("p", cloud, presence={"topic": "gw/edge1/status", "devices": "gw/edge1/devices/"},
               stop_timeout_ms=stop_timeout_ms)]})
    cloud.wait("gw/edge1/status", b"online")
    devices = connected_devices(edge, *client_ids)
    for cid in client_ids:
        harness.wait_for(lambda: [e["event"] for e in device_events(cloud, cid)] == ["online"], 15, f"{cid} online")
    harness.wait_for(lambda: edge.outbox_rows() == 0, 15, "the online events acknowledged")
    return edge, devices


def test_sigterm_says_offline_and_sends_each_devices_end_first(broker_factory, clouds):
    cloud = clouds("cloud")
    edge, devices = edge_with_devices(broker_factory, cloud, 30_000, "dev-a-p", "dev-b")

    edge.stop()  # SIGTERM; exits only once the uplink closed
    log = edge.log_text()
    assert "uplink: p: stopping (online, 2 local devices connected" in log, log[-2000:]
    assert "uplink: p: stop complete" in log, log[-2000:]
    for cid in ("dev-a-p", "dev-b"):
        harness.wait_for(lambda: [e["event"] for e in device_events(cloud, cid)] == ["online", "offline"], 15,
                         f"{cid} offline")
        assert device_events(cloud, cid)[1]["reason"] == "closed by the gateway (reason 0x8b)"
    # The persistent session's end stays retained; the clean one's presence is cleared.
    assert json.loads(retained(cloud, "gw/edge1/devices/dev-a-p"))["event"] == "offline"
    harness.wait_for(lambda: [m[1] for m in cloud.got("gw/edge1/devices/dev-b")][-1:] == [b""], 15, "dev-b cleared")
    assert retained(cloud, "gw/edge1/devices/dev-b") == b""
    cloud.wait("gw/edge1/status", b"offline")
    assert retained(cloud, "gw/edge1/status") == b"offline"
    for d in devices:
        d.close()
    assert edge.outbox_rows() == 0, "every device event went up before the stop ended"


def test_stop_timeout_bounds_the_stop_and_the_ends_go_up_next_start(broker_factory, clouds):
    cloud = clouds("cloud")
    edge, devices = edge_with_devices(broker_factory, cloud, 300, "dev-c-p")
    cloud.broker.signal(signal.SIGSTOP)  # the cloud keeps the connection but acknowledges nothing
    try:
        edge.stop()  # must not wait for the cloud longer than stop_timeout_ms
        assert "uplink: p: stop cut short" in edge.log_text()
        assert edge.outbox_rows() == 1, "dev-c-p's end waits in the outbox"
    finally:
        cloud.broker.signal(signal.SIGCONT)
    for d in devices:
        d.close()
    edge.start()
    harness.wait_for(lambda: [e["event"] for e in device_events(cloud, "dev-c-p")] == ["online", "offline"], 15,
                     "dev-c-p's end after the restart")


def test_rate_limit_paces_a_backlog(broker_factory, clouds):
    cloud = clouds("cloud")
    edge = broker_factory(name="edge", extra={"uplinks": [
        uplink("r", cloud, up=[{"filter": "m/#"}], rate_limit=50)]})
    edge.wait_log(r"uplink: r: online", timeout=10)
    # One burst of one second's credit, then 50 per second: 200 rows take at least (200 - 50) / 50 = 3 s.
    t0 = time.monotonic()  # before publishing: rows drain while the publisher is still sending
    mosquitto_pub(edge, "m/x", qos=1, lines=[f"{i}" for i in range(200)])
    harness.wait_for(lambda: len(cloud.got("m/x")) >= 200, 30, "200 rows upstream")
    took = time.monotonic() - t0
    print(f"rate_limit 50/s: 200 rows in {took:.2f} s")
    assert took >= 2.5, f"200 rows went up in {took:.2f} s: faster than 50/s after a 50-row burst"
