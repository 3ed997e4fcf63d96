"""MQTT 5.0 features: message expiry, topic aliases (paho and MQTT.js), user and other properties forwarded."""
import time

import pytest

import rawmqtt as r
from peers import MosquittoSub, Properties, PacketTypes, mosquitto_pub, paho_connect, run_node


def _until(c, pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with c.lock:
            for i, m in enumerate(c.messages):
                if pred(m):
                    return list(c.messages[:i + 1])
        time.sleep(0.01)
    raise AssertionError(f"condition not met within {timeout}s; got {[(m.topic, m.payload) for m in c.messages]}")


def test_message_expiry_for_offline_session(broker):
    """A queued message whose expiry interval passes while the session is offline is not delivered (5.0 §3.3.2.3.3),
    and one still alive is delivered with its expiry reduced by the time it waited."""
    c = paho_connect(broker, "mqttv5", client_id="mx-sub", session_expiry=300)
    c.subscribe("mx/t", qos=1)
    c.disconnect()
    mosquitto_pub(broker, "mx/t", "short", version="mqttv5", qos=1, props=[("publish", "message-expiry-interval", "1")])
    mosquitto_pub(broker, "mx/t", "long", version="mqttv5", qos=1, props=[("publish", "message-expiry-interval", "100")])
    mosquitto_pub(broker, "mx/t", "forever", version="mqttv5", qos=1)
    time.sleep(2.2)  # the expiry itself is what is under test: 1 s must pass (plus one second of rounding)
    c2 = paho_connect(broker, "mqttv5", client_id="mx-sub", clean=False, session_expiry=300)
    try:
        assert c2.session_present
        mosquitto_pub(broker, "mx/t", "END", version="mqttv5", qos=1)
        got = _until(c2, lambda m: m.payload == b"END")
        assert [m.payload for m in got] == [b"long", b"forever", b"END"]
        long_props = got[0].properties
        assert hasattr(long_props, "MessageExpiryInterval"), "forwarded message lost its expiry interval"
        assert 1 <= long_props.MessageExpiryInterval <= 98, \
            f"expiry {long_props.MessageExpiryInterval}: not reduced by the >= 2 s it waited"
        assert not hasattr(got[1].properties, "MessageExpiryInterval")
    finally:
        c2.close()


def test_message_expiry_forwarded_live(broker):
    with MosquittoSub(broker, "mx/live", version="mqttv5", qos=1) as sub:
        mosquitto_pub(broker, "mx/live", "hi", version="mqttv5", qos=1,
                      props=[("publish", "message-expiry-interval", "60")])
        m = sub.wait_message(lambda m: m.text == "hi")
        assert m.expiry and 55 <= int(m.expiry) <= 60


def test_retained_message_expires(broker):
    mosquitto_pub(broker, "mx/ret", "stale", version="mqttv5", qos=1, retain=True,
                  props=[("publish", "message-expiry-interval", "1")])
    time.sleep(2.2)  # let the retained message's 1 s expiry pass
    with MosquittoSub(broker, "mx/ret", version="mqttv5", qos=1) as sub:
        mosquitto_pub(broker, "mx/ret", "END", version="mqttv5", qos=1)
        assert sub.wait_topic_payload("mx/ret", b"END") == [], "an expired retained message was delivered"


def test_paho_publishes_with_topic_alias(broker):
    pub = paho_connect(broker, "mqttv5", client_id="alias-pub")
    try:
        alias_max = getattr(pub.connack_properties, "TopicAliasMaximum", 0)
        assert alias_max >= 1, "broker advertised no TopicAliasMaximum in CONNACK"
        with MosquittoSub(broker, "alias/#", version="mqttv5", qos=1) as sub:
            def props(alias):
                p = Properties(PacketTypes.PUBLISH)
                p.TopicAlias = alias
                return p
            pub.publish("alias/a", "1", qos=1, properties=props(1))   # sets alias 1 -> alias/a
            pub.publish("", "2", qos=1, properties=props(1))          # uses it
            pub.publish("alias/b", "3", qos=1, properties=props(1))   # re-maps alias 1 -> alias/b
            pub.publish("", "4", qos=0, properties=props(1))
            pub.publish("alias/c", "5", qos=1, properties=props(alias_max))  # the highest allowed alias
            pub.publish("", "6", qos=1, properties=props(alias_max))
            pub.publish("", "7", qos=1, properties=props(1))
            got = sub.wait_count(7)
        assert [(m.topic, m.text) for m in got] == [("alias/a", "1"), ("alias/a", "2"), ("alias/b", "3"),
                                                    ("alias/b", "4"), ("alias/c", "5"), ("alias/c", "6"),
                                                    ("alias/b", "7")]
    finally:
        pub.close()


@pytest.mark.parametrize("alias", ["zero", "too-big"])
def test_invalid_topic_alias_disconnects_0x94(broker, alias):
    """Alias 0 or above the advertised maximum: DISCONNECT 0x94 'Topic Alias invalid' (5.0 §3.3.2.3.4)."""
    with r.RawClient(broker.address) as c:
        connack = c.connect("bad-alias", version=r.V5)
        value = 0 if alias == "zero" else _connack_topic_alias_max(connack) + 1
        c.send(r.publish("a/b", b"x", qos=0, version=r.V5, properties=r.prop_u16(0x23, value)))
        packets = c.read_until_closed(timeout=5)
        assert [p.type for p in packets] in ([r.DISCONNECT], []), packets
        # 0x94 Topic Alias invalid; for alias 0, Protocol Error 0x82 is also defensible. (mosquitto 2.0.11 says
        # Malformed Packet 0x81 for alias 0.)
        allowed = {0x94} if alias == "too-big" else {0x94, 0x82}
        if broker.kind == "mosquitto":
            allowed.add(0x81)
        else:
            assert packets, "no DISCONNECT before the close"
        assert not packets or packets[0].reason in allowed, f"DISCONNECT reason {packets[0].reason:#x}"


def test_unknown_topic_alias_is_protocol_error(broker):
    """An empty topic with an alias the client never set: Protocol Error 0x82 (5.0 §3.3.4)."""
    with r.RawClient(broker.address) as c:
        c.connect("unknown-alias", version=r.V5)
        c.send(r.publish("", b"x", qos=0, version=r.V5, properties=r.prop_u16(0x23, 1)))
        packets = c.read_until_closed(timeout=5)
        assert [(p.type, p.reason) for p in packets] in ([(r.DISCONNECT, 0x82)], []), packets
        if broker.kind != "mosquitto":
            assert packets, "no DISCONNECT 0x82 before the close"


def _connack_topic_alias_max(p: r.Packet) -> int:
    body = p.body
    length, pos = r.read_varint(body, 2)
    end = pos + length
    while pos < end:
        ident = body[pos]
        pos += 1
        if ident == 0x22:
            return int.from_bytes(body[pos:pos + 2], "big")
        # skip the other CONNACK properties by type (5.0 §2.2.2.2)
        if ident in (0x24, 0x25, 0x28, 0x29, 0x2A):
            pos += 1
        elif ident in (0x13, 0x21):
            pos += 2
        elif ident in (0x11, 0x27):
            pos += 4
        elif ident in (0x12, 0x1A, 0x1C, 0x1F, 0x15, 0x16):
            pos += 2 + int.from_bytes(body[pos:pos + 2], "big")
        elif ident == 0x26:
            for _ in range(2):
                pos += 2 + int.from_bytes(body[pos:pos + 2], "big")
        else:
            raise AssertionError(f"unknown CONNACK property {ident:#x}")
    return 0


def test_mqttjs_topic_alias(broker):
    res = run_node("topic_alias.js", {"host": broker.host, "port": broker.port, "count": 10}, timeout=30)
    assert "error" not in res, res
    assert res["pubTopicAliasMaximum"] >= 1, res
    assert res["sentAliasOnly"] >= 9, f"MQTT.js did not publish with an alias alone: {res}"
    assert res["received"] == [["alias/js/x", f"m{i}"] for i in range(10)] + [["alias/js/end", "END"]], res


def test_user_and_other_properties_forwarded(broker):
    """User properties keep their order and duplicates; content type, response topic, correlation data and the
    payload format indicator reach the subscriber unaltered (5.0 §3.3.2.3)."""
    sub = paho_connect(broker, "mqttv5", client_id="props-sub")
    try:
        sub.subscribe("props/t", qos=1)
        mosquitto_pub(broker, "props/t", "with props", version="mqttv5", qos=1, props=[
            ("publish", "user-property", "k1", "v1"), ("publish", "user-property", "k2", "v2"),
            ("publish", "user-property", "k1", "v3"), ("publish", "content-type", "text/plain"),
            ("publish", "response-topic", "props/reply"), ("publish", "correlation-data", "abc123"),
            ("publish", "payload-format-indicator", "1")])
        m = sub.wait_count(1)[0]
        assert m.payload == b"with props"
        p = m.properties
        assert p.UserProperty == [("k1", "v1"), ("k2", "v2"), ("k1", "v3")]
        assert p.ContentType == "text/plain"
        assert p.ResponseTopic == "props/reply"
        assert p.CorrelationData == b"abc123"
        assert p.PayloadFormatIndicator == 1
    finally:
        sub.close()


def test_user_properties_to_mosquitto_sub(broker):
    with MosquittoSub(broker, "props/m", version="mqttv5", qos=1) as sub:
        mosquitto_pub(broker, "props/m", "x", version="mqttv5", qos=1,
                      props=[("publish", "user-property", "site", "farm-7"), ("publish", "user-property", "unit", "C")])
        m = sub.wait_message(lambda m: m.text == "x")
        assert m.user_properties == "site:farm-7 unit:C"


def test_v5_subscriber_receives_properties_from_v311_publisher_none(broker):
    """A 3.1.1 publication forwarded to a v5 subscriber carries no user properties."""
    sub = paho_connect(broker, "mqttv5", client_id="props-none")
    try:
        sub.subscribe("props/none", qos=1)
        mosquitto_pub(broker, "props/none", "plain", version="mqttv311", qos=1)
        m = sub.wait_count(1)[0]
        assert not hasattr(m.properties, "UserProperty")
    finally:
        sub.close()


# -- subscription options (5.0 §3.8.3.1) ---------------------------------------------------------------------------
def _sub_opts(c, topic, qos=1, no_local=False, retain_as_published=False, retain_handling=0):
    from paho.mqtt.subscribeoptions import SubscribeOptions
    c.subscribe(topic, options=SubscribeOptions(qos=qos, noLocal=no_local, retainAsPublished=retain_as_published,
                                                retainHandling=retain_handling))


def test_no_local(broker):
    c = paho_connect(broker, "mqttv5", client_id="nolocal")
    try:
        _sub_opts(c, "nl/t", no_local=True)
        _sub_opts(c, "nl/end")
        c.publish("nl/t", "mine", qos=1)
        mosquitto_pub(broker, "nl/t", "theirs", version="mqttv5", qos=1)
        c.publish("nl/end", "END", qos=1)
        got = _until(c, lambda m: m.payload == b"END")
        assert [m.payload for m in got] == [b"theirs", b"END"]
    finally:
        c.close()


def test_retain_as_published_and_retain_handling(broker):
    mosquitto_pub(broker, "rh/t", "old", version="mqttv5", qos=1, retain=True)
    c = paho_connect(broker, "mqttv5", client_id="rap")
    try:
        _sub_opts(c, "rh/t", retain_as_published=True, retain_handling=0)  # gets "old" (RETAIN 1)
        mosquitto_pub(broker, "rh/t", "new", version="mqttv5", qos=1, retain=True)
        got = c.wait_count(2)
        assert [(m.payload, m.retain) for m in got[:2]] == [(b"old", True), (b"new", True)], \
            "with Retain As Published a live retained publish keeps RETAIN 1"
    finally:
        c.close()
    c = paho_connect(broker, "mqttv5", client_id="rh2")
    try:
        _sub_opts(c, "rh/t", retain_handling=2)  # 2: do not send retained messages at subscribe time
        _sub_opts(c, "rh/end")
        mosquitto_pub(broker, "rh/end", "END", version="mqttv5", qos=1)
        got = _until(c, lambda m: m.payload == b"END")
        assert [m.payload for m in got] == [b"END"], "retain handling 2 still sent the retained message"
        # 1: send retained only for a new subscription, not when it is repeated.
        _sub_opts(c, "rh/x", retain_handling=1)
    finally:
        c.close()
    c = paho_connect(broker, "mqttv5", client_id="rh1")
    try:
        _sub_opts(c, "rh/t", retain_handling=1)
        _sub_opts(c, "rh/t", retain_handling=1)  # repeated: no second copy
        _sub_opts(c, "rh/end")
        mosquitto_pub(broker, "rh/end", "END", version="mqttv5", qos=1)
        got = _until(c, lambda m: m.payload == b"END")
        assert [m.payload for m in got] == [b"new", b"END"]
    finally:
        c.close()
