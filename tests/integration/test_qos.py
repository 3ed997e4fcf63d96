"""QoS 0/1/2 round trips with mosquitto_pub/mosquitto_sub at MQTT 3.1, 3.1.1 and 5.0.

Each case publishes N numbered messages then an END marker on one connection (-l); the subscriber must see exactly
those messages in order (ordered topic, MQTT 3.1.1 §4.6), with the delivered QoS = min(publish QoS, subscription
QoS) and the payload bytes unchanged. QoS 2 must arrive exactly once; over loopback no QoS 0/1 loss or duplicate is
expected either, so all are held to the same bar.
"""
import pytest

from peers import VERSIONS, MosquittoSub, mosquitto_pub

N = 25


def _roundtrip(broker, pub_version, sub_version, pub_qos, sub_qos, topic):
    lines = [f"msg {i:03d} pub{pub_qos} sub{sub_qos} {pub_version}->{sub_version}" for i in range(N)]
    with MosquittoSub(broker, topic, version=sub_version, qos=sub_qos) as sub:
        mosquitto_pub(broker, topic, version=pub_version, qos=pub_qos, lines=lines + ["END"])
        before = sub.wait_topic_payload(topic, b"END")
    assert [m.text for m in before] == lines, "payloads, order or count differ"
    want_qos = min(pub_qos, sub_qos)
    assert {m.qos for m in before} == {want_qos}
    assert not any(m.retain for m in before)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("pub_qos", [0, 1, 2])
@pytest.mark.parametrize("sub_qos", [0, 1, 2])
def test_qos_roundtrip(broker, version, pub_qos, sub_qos):
    _roundtrip(broker, version, version, pub_qos, sub_qos, f"qos/{version}/{pub_qos}{sub_qos}")


@pytest.mark.parametrize("pub_version,sub_version", [("mqttv31", "mqttv5"), ("mqttv5", "mqttv31"),
                                                     ("mqttv311", "mqttv5"), ("mqttv5", "mqttv311")])
def test_cross_version(broker, pub_version, sub_version):
    _roundtrip(broker, pub_version, sub_version, 2, 2, f"cross/{pub_version}/{sub_version}")


@pytest.mark.parametrize("version", VERSIONS)
def test_qos2_exactly_once_binary_payload(broker, version):
    """Every byte value survives, and a QoS 2 message arrives exactly once (nothing after it)."""
    payload = bytes(range(256)) * 4
    topic = f"bin/{version}"
    with MosquittoSub(broker, topic, version=version, qos=2) as sub:
        mosquitto_pub(broker, topic, payload, version=version, qos=2)
        mosquitto_pub(broker, topic, "END", version=version, qos=2)
        before = sub.wait_topic_payload(topic, b"END")
    assert len(before) == 1
    assert before[0].payload == payload and before[0].qos == 2


def test_fan_out_to_several_subscribers(broker):
    """One publication reaches every matching subscriber once, each at its own subscription QoS."""
    subs = [MosquittoSub(broker, "fan/t", version=v, qos=q) for v in VERSIONS for q in (0, 1, 2)]
    try:
        mosquitto_pub(broker, "fan/t", "hello", qos=2)
        mosquitto_pub(broker, "fan/t", "END", qos=2)
        for s in subs:
            before = s.wait_topic_payload("fan/t", b"END")
            assert [m.text for m in before] == ["hello"], s.cmd
    finally:
        for s in subs:
            s.close()


# -- QoS 2 exactly once under retransmission (raw sockets: the protocol flows are driven by hand) ----------------
import rawmqtt as r  # noqa: E402


@pytest.mark.parametrize("version", [r.V311, r.V5])
def test_qos2_inbound_duplicate_publish_delivered_once(broker, version):
    """A PUBLISH re-sent with DUP=1 before PUBREL (its PUBREC was 'lost') is not delivered twice (§4.3.3)."""
    with MosquittoSub(broker, "q2in/t", qos=2) as sub, r.RawClient(broker.address) as c:
        c.connect(f"q2in-{version}", version=version)
        c.send(r.publish("q2in/t", b"exactly-once", qos=2, pid=7, version=version))
        assert c.expect(r.PUBREC).body[:2] == b"\x00\x07"
        c.send(r.publish("q2in/t", b"exactly-once", qos=2, pid=7, dup=True, version=version))
        assert c.expect(r.PUBREC).body[:2] == b"\x00\x07"
        c.send(r.ack(r.PUBREL, 7))
        assert c.expect(r.PUBCOMP).body[:2] == b"\x00\x07"
        # The same packet id is free again: a new message with it is a new message.
        c.send(r.publish("q2in/t", b"second", qos=2, pid=7, version=version))
        c.expect(r.PUBREC)
        c.send(r.ack(r.PUBREL, 7))
        c.expect(r.PUBCOMP)
        mosquitto_pub(broker, "q2in/t", "END", qos=2)
        before = sub.wait_topic_payload("q2in/t", b"END")
    assert [m.text for m in before] == ["exactly-once", "second"]


def test_qos2_outbound_resent_after_reconnect(broker):
    """Unacknowledged QoS 2 PUBLISH and PUBREL are re-sent to a persistent session on reconnect (§4.4), the
    PUBLISH with DUP=1, and the message completes exactly once."""
    cid = "q2out"
    with r.RawClient(broker.address) as c:
        c.connect(cid, clean=False)
        c.send(r.subscribe(1, [("q2out/t", 2)]))
        c.expect(r.SUBACK)
        mosquitto_pub(broker, "q2out/t", "precious", qos=2)
        p = c.expect(r.PUBLISH)
        topic, pid, payload = r.parse_publish(p)
        assert (topic, payload, (p.flags >> 1) & 3) == ("q2out/t", b"precious", 2)
        # Vanish without PUBREC.
    with r.RawClient(broker.address) as c:
        connack = c.connect(cid, clean=False)
        assert connack.body[0] & 1, "session present expected"
        p = c.expect(r.PUBLISH)
        topic2, pid2, payload2 = r.parse_publish(p)
        assert (topic2, payload2, pid2) == ("q2out/t", b"precious", pid)
        assert p.flags & 0x08, "a re-sent PUBLISH must have DUP=1 (3.1.1 §3.3.1.1)"
        c.send(r.ack(r.PUBREC, pid))
        assert c.expect(r.PUBREL).body[:2] == pid.to_bytes(2, "big")
        # Vanish again before PUBCOMP: now the PUBREL is what is owed.
    with r.RawClient(broker.address) as c:
        c.connect(cid, clean=False)
        p = c.read_packet()
        assert p.type == r.PUBREL and p.body[:2] == pid.to_bytes(2, "big"), f"expected PUBREL re-sent, got {p}"
        c.send(r.ack(r.PUBCOMP, pid))
        mosquitto_pub(broker, "q2out/t", "END", qos=2)
        p = c.expect(r.PUBLISH)
        assert r.parse_publish(p)[2] == b"END", "the completed message was delivered again"
        c.send(r.ack(r.PUBREC, r.parse_publish(p)[1]))
        c.expect(r.PUBREL)


def test_qos1_outbound_resent_after_reconnect(broker):
    cid = "q1out"
    with r.RawClient(broker.address) as c:
        c.connect(cid, clean=False)
        c.send(r.subscribe(1, [("q1out/t", 1)]))
        c.expect(r.SUBACK)
        mosquitto_pub(broker, "q1out/t", lines=["a", "b", "c"], qos=1)
        got = [r.parse_publish(c.expect(r.PUBLISH)) for _ in range(3)]
        assert [g[2] for g in got] == [b"a", b"b", b"c"]
        c.send(r.ack(r.PUBACK, got[0][1]))  # acknowledge only the first
        c.send(r.pingreq())
        c.expect(r.PINGRESP)  # the PUBACK was processed before we vanish
    with r.RawClient(broker.address) as c:
        c.connect(cid, clean=False)
        again = [c.expect(r.PUBLISH) for _ in range(2)]
        assert [r.parse_publish(p)[2] for p in again] == [b"b", b"c"]
        assert all(p.flags & 0x08 for p in again), "re-sent QoS 1 PUBLISH must have DUP=1"
        for p in again:
            c.send(r.ack(r.PUBACK, r.parse_publish(p)[1]))
        mosquitto_pub(broker, "q1out/t", "END", qos=1)
        assert r.parse_publish(c.expect(r.PUBLISH))[2] == b"END"
