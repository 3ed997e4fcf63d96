"""MQTT.js (npm `mqtt`, as Node apps and browsers use it) round trips at 3.1.1 and 5.0, QoS 0/1/2."""
import pytest

from peers import run_node

N = 20


@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.parametrize("pub_qos,sub_qos", [(0, 0), (1, 1), (2, 2), (2, 1), (1, 2), (2, 0)])
def test_mqttjs_roundtrip(broker, version, pub_qos, sub_qos):
    topic = f"js/{version}/{pub_qos}{sub_qos}"
    res = run_node("roundtrip.js", {"host": broker.host, "port": broker.port, "version": version, "topic": topic,
                                    "pubQos": pub_qos, "subQos": sub_qos, "count": N}, timeout=30)
    assert "error" not in res, res
    assert res["granted"] == [sub_qos]
    want = [[topic, f"js {i} สวัสดี".encode().hex(), min(pub_qos, sub_qos), False] for i in range(N)]
    assert res["received"] == want
