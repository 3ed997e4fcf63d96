"""Retained messages (MQTT 3.1.1 §3.3.1.3): set, replace, clear with an empty payload, and wildcard delivery.

Absence is checked without sleeping: after subscribing, a live (non-retained) END marker is published to the same
topic, and everything that arrived before END is what the broker sent for the subscription.
"""
import pytest

from peers import VERSIONS, MosquittoSub, mosquitto_pub


def _on_subscribe(broker, topic, version, qos=1, filter_=None):
    """Messages a new subscriber receives before a live END marker on `topic`."""
    with MosquittoSub(broker, filter_ or topic, version=version, qos=qos) as sub:
        mosquitto_pub(broker, topic, "END", version=version, qos=1)
        return [m for m in sub.wait_topic_payload(topic, b"END")]


@pytest.mark.parametrize("version", VERSIONS)
def test_retained_set_replace_clear(broker, version):
    topic = f"ret/{version}/temp"
    mosquitto_pub(broker, topic, "v1", version=version, qos=1, retain=True)
    got = _on_subscribe(broker, topic, version)
    assert [(m.text, m.retain) for m in got] == [("v1", True)]

    mosquitto_pub(broker, topic, "v2", version=version, qos=1, retain=True)
    got = _on_subscribe(broker, topic, version)
    assert [(m.text, m.retain) for m in got] == [("v2", True)], "the retained message was not replaced"

    mosquitto_pub(broker, topic, version=version, qos=1, retain=True, null=True)  # -r -n clears it
    got = _on_subscribe(broker, topic, version)
    assert got == [], "the retained message was not cleared by an empty retained publish"


def test_live_delivery_of_retained_publish_has_retain_flag_clear(broker):
    """To an existing subscription a retained publish is forwarded with RETAIN 0 (3.1.1 §3.3.1.3)."""
    with MosquittoSub(broker, "ret/live", qos=1) as sub:
        mosquitto_pub(broker, "ret/live", "x", qos=1, retain=True)
        msg = sub.wait_message(lambda m: m.text == "x")
        assert not msg.retain
    # ...and a later subscriber gets it with RETAIN 1.
    got = _on_subscribe(broker, "ret/live", "mqttv311")
    assert [(m.text, m.retain) for m in got] == [("x", True)]


def test_retained_with_wildcard_and_qos_downgrade(broker):
    for i in range(5):
        mosquitto_pub(broker, f"ret/many/{i}", f"value-{i}", qos=2, retain=True)
    mosquitto_pub(broker, "ret/other/x", "not-me", qos=1, retain=True)
    with MosquittoSub(broker, "ret/many/+", qos=0) as sub:
        got = sub.wait_count(5)
        mosquitto_pub(broker, "ret/many/end", "END", qos=1)
        before = sub.wait_topic_payload("ret/many/end", b"END")
    assert sorted((m.topic, m.text) for m in before) == [(f"ret/many/{i}", f"value-{i}") for i in range(5)]
    assert all(m.retain and m.qos == 0 for m in got[:5])


def test_empty_retained_publish_to_unknown_topic_is_harmless(broker):
    mosquitto_pub(broker, "ret/never/set", qos=1, retain=True, null=True)
    assert _on_subscribe(broker, "ret/never/set", "mqttv5") == []


@pytest.mark.netpie_only
def test_sys_values_are_not_kept_in_the_store(broker_factory):
    """$SYS values describe the running process: they are retained in memory but never written to the store, so
    a restarted daemon does not hand out the dead process's numbers. A client's retained message is written."""
    import harness
    b = broker_factory(sys_interval=1)
    with MosquittoSub(b, "$SYS/broker/uptime") as sub:
        sub.wait_count(1, timeout=5)
    mosquitto_pub(b, "keep/me", "v", retain=True, qos=1)

    def stored() -> list[str]:
        return [r[0] for r in b.query_state("SELECT topic FROM retained")]
    harness.wait_for(lambda: "keep/me" in stored(), 5, "the client's retained message in the store")
    assert not [t for t in stored() if t.startswith("$SYS/")], stored()
    b.restart()
    assert "restored 0 sessions (0 messages) and 1 retained messages" in b.log_text(), b.log_tail()
