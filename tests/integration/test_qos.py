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
