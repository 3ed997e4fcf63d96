"""Sessions: persistent sessions queue QoS 1 messages while the client is away; session takeover; keepalive.

Persistence across a restart is not required yet (sessions are in memory for now), so everything here happens
within one broker run.
"""
import time

import pytest

import rawmqtt as r
from peers import MosquittoSub, mosquitto_pub, paho_connect

N = 20


@pytest.mark.parametrize("version", ["mqttv31", "mqttv311"])
def test_persistent_session_v3_receives_queued_qos1_in_order(broker, version):
    cid = f"persist-{version}"
    topic = f"persist/{version}"
    # Subscribe with clean session off, then go away.
    MosquittoSub(broker, topic, version=version, qos=1, client_id=cid, clean=False).close()
    payloads = [f"queued-{i:02d}" for i in range(N)]
    mosquitto_pub(broker, topic, version=version, qos=1, lines=payloads)
    # Come back: the queued messages arrive, in order, without subscribing again (-E would exit at once; the
    # session's subscription must still exist, so subscribe to an unrelated topic only).
    with MosquittoSub(broker, "persist/unrelated", version=version, qos=1, client_id=cid, clean=False) as sub:
        got = sub.wait_count(N)
        mosquitto_pub(broker, topic, "END", version=version, qos=1)
        before = sub.wait_topic_payload(topic, b"END")
    assert [m.text for m in before] == payloads
    assert all(m.qos == 1 for m in got[:N])


def test_persistent_session_v5_session_expiry(broker):
    cid = "persist-v5"
    topic = "persist/v5"
    c = paho_connect(broker, "mqttv5", client_id=cid, clean=True, session_expiry=300)
    c.subscribe(topic, qos=1)
    c.disconnect()
    payloads = [f"v5-{i:02d}" for i in range(N)]
    mosquitto_pub(broker, topic, version="mqttv5", qos=1, lines=payloads)
    c2 = paho_connect(broker, "mqttv5", client_id=cid, clean=False, session_expiry=300)
    try:
        assert c2.session_present, "CONNACK session present flag not set for a resumed v5 session"
        got = c2.wait_count(N)
        assert [m.payload.decode() for m in got[:N]] == payloads
        assert all(m.qos == 1 for m in got[:N])
    finally:
        c2.close()


def test_v3_session_present_flag_and_clean_session_discards(broker):
    c = paho_connect(broker, "mqttv311", client_id="sp-1", clean=False)
    assert not c.session_present
    c.subscribe("sp/t", qos=1)
    c.disconnect()
    c = paho_connect(broker, "mqttv311", client_id="sp-1", clean=False)
    assert c.session_present, "session present flag not set on resuming a persistent session"
    c.disconnect()
    # clean session = 1 discards it: a message published now is not delivered on the next persistent connect.
    c = paho_connect(broker, "mqttv311", client_id="sp-1", clean=True)
    assert not c.session_present
    c.disconnect()
    mosquitto_pub(broker, "sp/t", "after-clean", qos=1)
    c = paho_connect(broker, "mqttv311", client_id="sp-1", clean=False)
    try:
        assert not c.session_present
        c.subscribe("sp/end", qos=1)
        mosquitto_pub(broker, "sp/end", "END", qos=1)
        got = c.wait_count(1)
        assert [m.payload for m in got] == [b"END"]
    finally:
        c.close()


def test_v5_session_expiry_zero_is_not_kept(broker):
    """A v5 session with expiry 0 ends with the connection (5.0 §3.1.2.11.2)."""
    c = paho_connect(broker, "mqttv5", client_id="exp0", clean=True, session_expiry=0)
    c.subscribe("exp0/t", qos=1)
    c.disconnect()
    mosquitto_pub(broker, "exp0/t", "lost", qos=1)
    c2 = paho_connect(broker, "mqttv5", client_id="exp0", clean=False, session_expiry=0)
    try:
        assert not c2.session_present
        c2.subscribe("exp0/end", qos=1)
        mosquitto_pub(broker, "exp0/end", "END", qos=1)
        assert [m.payload for m in c2.wait_count(1)] == [b"END"]
    finally:
        c2.close()


@pytest.mark.parametrize("version", [r.V311, r.V5])
def test_session_takeover(broker, version):
    """A second CONNECT with the same client id disconnects the first (3.1.1 §3.1.4, 5.0 reason 0x8E)."""
    with r.RawClient(broker.address) as first, r.RawClient(broker.address) as second:
        first.connect("takeover-1", version=version)
        second.connect("takeover-1", version=version)
        packets = first.read_until_closed(timeout=5)
        if version == r.V5 and not (broker.kind == "mosquitto" and packets == []):
            # (mosquitto 2.0.11 closes the old v5 connection without the DISCONNECT 0x8E that 5.0 §3.1.4 asks for.)
            assert [p.type for p in packets] == [r.DISCONNECT], packets
            assert packets[0].reason == 0x8E, f"DISCONNECT reason {packets[0].reason:#x}, expected 0x8e"
        else:
            assert packets == [], f"a 3.1.1 server sends nothing before closing: {packets}"
        # The new connection is served.
        second.send(r.subscribe(1, [("take/t", 1)], version=version))
        second.expect(r.SUBACK)
        second.send(r.publish("take/t", b"still here", qos=1, pid=2, version=version))
        got = {second.read_packet().type, second.read_packet().type}
        assert got == {r.PUBACK, r.PUBLISH}


def test_takeover_of_persistent_session_keeps_subscription(broker):
    with r.RawClient(broker.address) as first:
        first.connect("takeover-2", clean=False)
        first.send(r.subscribe(1, [("take2/t", 1)]))
        first.expect(r.SUBACK)
        with r.RawClient(broker.address) as second:
            p = second.connect("takeover-2", clean=False)
            assert p.body[0] & 1, "session present must be 1 when taking over a persistent session"
            first.read_until_closed(timeout=5)
            mosquitto_pub(broker, "take2/t", "for-the-new-one", qos=1)
            pub = second.expect(r.PUBLISH)
            assert r.parse_publish(pub)[::2] == ("take2/t", b"for-the-new-one")


@pytest.mark.parametrize("version", [r.V311, r.V5])
def test_keepalive_timeout_closes_and_fires_will(broker, version):
    """No packet within 1.5 x keepalive: the server closes the connection and publishes the will (§3.1.2.10)."""
    keepalive = 2
    topic = f"ka/will/{version}"
    with MosquittoSub(broker, topic, qos=1) as sub, r.RawClient(broker.address) as silent:
        silent.connect(f"silent-{version}", version=version, keepalive=keepalive, will=(topic, b"timed out", 1))
        t0 = time.monotonic()
        packets = silent.read_until_closed(timeout=keepalive * 1.5 + 3)
        elapsed = time.monotonic() - t0
        if version == r.V5 and packets:
            assert [p.type for p in packets] == [r.DISCONNECT] and packets[0].reason == 0x8D, packets
        else:
            assert packets == [], packets
        assert elapsed >= keepalive, f"closed after {elapsed:.2f}s, before the keepalive even ran out"
        # 1.5 x keepalive, plus 0.75 s of scheduling slack (ctest -j2 runs files side by side). (mosquitto
        # 2.0.11 checks keepalives on a coarse timer and takes up to ~6 s here, so it gets a looser bound.)
        slack = 0.75 if broker.kind != "mosquitto" else 3.5
        assert elapsed <= keepalive * 1.5 + slack, f"closed after {elapsed:.2f}s, expected within 1.5 x {keepalive}s"
        msg = sub.wait_message(lambda m: m.topic == topic, timeout=5, what="the will after keepalive timeout")
        assert msg.text == "timed out"


def test_pingreq_keeps_connection_alive(broker):
    """A client that sends PINGREQ every keepalive is not disconnected (and gets PINGRESP)."""
    with r.RawClient(broker.address) as c:
        c.connect("pinger", keepalive=1)
        for _ in range(3):  # 3 s > 1.5 x keepalive
            time.sleep(0.9)  # pacing a client's keepalive, not waiting for the broker
            c.send(r.pingreq())
            assert c.expect(r.PINGRESP, timeout=2).body == b""


def _takeovers_then_new_clients(broker, takeovers: int, max_connections: int) -> None:
    """`takeovers` CONNECTs with one client id, each taking over the one before; then new clients up to
    max_connections (with a $SYS watcher and the last taker) must all be accepted, and $SYS must count them."""
    with MosquittoSub(broker, "$SYS/broker/clients/connected") as sub:
        packet = r.connect("taken-over")
        clients = []
        try:
            for i in range(takeovers):
                c = r.RawClient(broker.address)
                c.send(packet)
                p = c.expect(r.CONNACK)
                assert p.reason == 0, f"takeover {i} refused with CONNACK {p.reason}"
                if clients:
                    clients.pop().close()
                clients.append(c)
            for i in range(max_connections - 2):
                c = r.RawClient(broker.address)
                clients.append(c)
                c.connect(f"fresh-{i}")
            sub.wait_message(lambda m: m.text == str(max_connections), timeout=10,
                             what=f"$SYS/broker/clients/connected = {max_connections} "
                                  f"(saw {[m.text for m in sub.snapshot()]})")
        finally:
            for c in clients:
                c.close()


@pytest.mark.netpie_only
@pytest.mark.broker(limits={"max_connections": 5}, sys_interval=1)
def test_takeovers_give_back_their_connection_slot(broker):
    """Issue 11: each takeover used to keep the old connection counted, so after max_connections takeovers every
    new client got CONNACK 3. Now the count follows the connections."""
    _takeovers_then_new_clients(broker, 20, 5)


@pytest.mark.netpie_only
@pytest.mark.timeout(300)
@pytest.mark.broker(limits={"max_connections": 1002}, sys_interval=1, log_level="warn")
def test_ten_thousand_takeovers_then_a_thousand_new_clients(broker):
    _takeovers_then_new_clients(broker, 10_000, 1002)


@pytest.mark.parametrize("version", [r.V311, r.V5])
def test_MQTT_3_1_2_6_takeover_of_a_clean_session_starts_a_new_one(broker, version):
    """A CleanSession=1 (v5: Session Expiry 0) session ends with its connection [MQTT-3.1.2-6], also when a
    CleanSession=0 connection takes it over: session present 0 [MQTT-3.2.2-2] and no old subscription."""
    with r.RawClient(broker.address) as first:
        first.connect("clean-then-kept", version=version, clean=True)
        first.send(r.subscribe(1, [("ctk/t", 1)], version=version))
        first.expect(r.SUBACK)
        expiry = r.prop_u32(0x11, 300) if version == r.V5 else b""
        with r.RawClient(broker.address) as second:
            p = second.connect("clean-then-kept", version=version, clean=False, properties=expiry)
            assert p.body[0] & 1 == 0, "session present must be 0: the taken-over session ended with its connection"
            first.read_until_closed(timeout=5)
            mosquitto_pub(broker, "ctk/t", "for-nobody", qos=1)
            # The PUBLISH would have been written before mosquitto_pub's PUBACK, so before this PINGRESP.
            second.send(r.pingreq())
            second.expect(r.PINGRESP)
