"""Device presence upstream ends with the device's session, and its count is bounded (uplinks[].presence), with
Debian's mosquitto as the cloud and mosquitto_pub as the devices.

1. A v5 persistent session (mosquitto_pub -c -x N): its `offline` stays retained upstream while the session lives,
   and is cleared (empty retained message) when the session expires.
2. A session that expired while the daemon was down (found in the store at start) is cleared after the start.
3. presence.max_retained: past the bound the longest absent device's retained presence is cleared
   (full_policy evict_oldest_absent); a connected device's is never cleared. With full_policy unretained the new
   devices' events go up not retained and nothing is cleared.
"""
from __future__ import annotations

import json
import time

import pytest

import harness
from peers import mosquitto_pub
from rawmqtt import RawClient
from test_uplink_relay import clouds, device_events, retained, uplink  # noqa: F401 (clouds is a fixture)

pytestmark = pytest.mark.netpie_only

DEVICES = "gw/edge1/devices/"


def presence_edge(broker_factory, cloud, **presence):
    edge = broker_factory(name="edge", log_level="debug", extra={"uplinks": [
        uplink("p", cloud, presence={"topic": "gw/edge1/status", "devices": DEVICES, **presence})]})
    cloud.wait("gw/edge1/status", b"online")
    return edge


def persistent_v5_device(edge, client_id: str, expiry_s: int) -> None:
    """mosquitto_pub with Clean Start 0 and a session expiry: connects, publishes, disconnects."""
    mosquitto_pub(edge, "x", "y", version="mqttv5", client_id=client_id, extra=["-c", "-x", str(expiry_s)])


def cleared(cloud, client_id: str) -> bool:
    """The last message on the device's presence topic is the empty one that clears it (the witness, subscribed
    already, gets it without the retain flag: MQTT 3.1.1 §3.3.1.3)."""
    got = cloud.got(DEVICES + client_id)
    return bool(got) and got[-1][1] == b""


def test_a_persistent_sessions_presence_is_cleared_when_it_expires(broker_factory, clouds):  # noqa: F811
    cloud = clouds("cloud")
    edge = presence_edge(broker_factory, cloud)
    persistent_v5_device(edge, "dev-exp", 3)
    harness.wait_for(lambda: [e["event"] for e in device_events(cloud, "dev-exp")] == ["online", "offline"], 15,
                     "dev-exp online then offline")
    # The session lives on for 3 s: then the broker ends it and the retained presence is cleared.
    harness.wait_for(lambda: cleared(cloud, "dev-exp"), 30, "dev-exp's presence cleared at its expiry")
    assert "session dev-exp expired" in edge.log_text(), "cleared by the expiry, not at the disconnect"
    assert retained(cloud, DEVICES + "dev-exp") == b""
    assert len(device_events(cloud, "dev-exp")) == 2, "no other event came with the clear"


def test_a_session_that_expired_while_the_daemon_was_down_is_cleared_at_start(broker_factory, clouds):  # noqa: F811
    cloud = clouds("cloud")
    edge = presence_edge(broker_factory, cloud)
    expiry = 12
    persistent_v5_device(edge, "dev-down", expiry)
    gone = time.monotonic()
    # The offline event came out of the outbox, so the session's disconnect (written before it) is committed.
    harness.wait_for(lambda: [e["event"] for e in device_events(cloud, "dev-down")] == ["online", "offline"],
                     expiry - 2, "dev-down online then offline")
    edge.kill()  # the session is in the store, counted from its disconnect
    # Down past the session's expiry (the store keeps the disconnect time in whole seconds).
    time.sleep(max(0.0, gone + expiry + 2 - time.monotonic()))
    edge.start()
    # The store found it expired (so it had not expired before the kill) and deleted it at start.
    edge.wait_log(r"deleted 1 persistent sessions whose expiry interval passed", timeout=10)
    harness.wait_for(lambda: cleared(cloud, "dev-down"), 30, "dev-down's presence cleared after the start")
    assert retained(cloud, DEVICES + "dev-down") == b""


def test_past_max_retained_the_longest_absent_devices_presence_is_cleared(broker_factory, clouds):  # noqa: F811
    cloud = clouds("cloud")
    edge = presence_edge(broker_factory, cloud, max_retained=3)
    with RawClient((edge.host, edge.port)) as online:
        online.connect("dev-online", keepalive=60, clean=False)
        harness.wait_for(lambda: len(device_events(cloud, "dev-online")) == 1, 15, "dev-online online")
        # Five persistent 3.1.1 devices come and go, one after the other (their sessions never expire).
        for i in range(1, 6):
            mosquitto_pub(edge, "x", "y", client_id=f"dev-{i}", extra=["-c"])
            harness.wait_for(lambda: len(device_events(cloud, f"dev-{i}")) == 2, 15, f"dev-{i} online then offline")
        # Three places: dev-online holds one; each new device took the place of the one absent longest.
        for i in (1, 2, 3):
            harness.wait_for(lambda: cleared(cloud, f"dev-{i}"), 15, f"dev-{i}'s presence cleared")
            assert retained(cloud, DEVICES + f"dev-{i}") == b""
        for i in (4, 5):
            assert json.loads(retained(cloud, DEVICES + f"dev-{i}"))["event"] == "offline"
            assert not cleared(cloud, f"dev-{i}")
        assert json.loads(retained(cloud, DEVICES + "dev-online"))["event"] == "online"
        assert not cleared(cloud, "dev-online")


def test_full_policy_unretained_sends_new_devices_plain_and_clears_nothing(broker_factory, clouds):  # noqa: F811
    cloud = clouds("cloud")
    edge = presence_edge(broker_factory, cloud, max_retained=2, full_policy="unretained")
    for i in range(1, 5):
        mosquitto_pub(edge, "x", "y", client_id=f"dev-{i}", extra=["-c"])
        harness.wait_for(lambda: len(device_events(cloud, f"dev-{i}")) == 2, 15, f"dev-{i} online then offline")
    for i in (1, 2):
        assert json.loads(retained(cloud, DEVICES + f"dev-{i}"))["event"] == "offline"
    for i in (3, 4):
        assert retained(cloud, DEVICES + f"dev-{i}") == b"", "past the bound the events went up not retained"
    assert not any(m[1] == b"" for i in range(1, 5) for m in cloud.got(DEVICES + f"dev-{i}")), "nothing cleared"
