"""Topic filters (MQTT 3.1.1 §4.7): `+` and `#` wildcards, `sport/#` matching `sport`, and `$` topics.

One paho subscriber per filter; one publisher sends every topic then a marker that every subscriber also
subscribes to, so each subscriber's set of received topics is complete when its marker arrives.
"""
import pytest

from peers import MosquittoSub, mosquitto_pub, paho_connect

TOPICS = ["sport", "sport/", "sport/tennis", "sport/tennis/player1", "sport/tennis/player1/ranking",
          "sport/badminton/player1", "/finance", "finance", "a/b/c/d", "Sport/tennis"]
MARKER = "zz/end"

EXPECTED = {
    "sport/#": {"sport", "sport/", "sport/tennis", "sport/tennis/player1", "sport/tennis/player1/ranking",
                "sport/badminton/player1"},
    "sport/tennis/+": {"sport/tennis/player1"},
    "sport/+": {"sport/", "sport/tennis"},
    "sport/+/player1": {"sport/tennis/player1", "sport/badminton/player1"},
    "+": {"sport", "finance"},
    "+/+": {"sport/", "sport/tennis", "/finance", "Sport/tennis"},
    "/+": {"/finance"},
    "#": set(TOPICS),
    "+/tennis/#": {"sport/tennis", "sport/tennis/player1", "sport/tennis/player1/ranking", "Sport/tennis"},
    "sport/tennis/player1/#": {"sport/tennis/player1", "sport/tennis/player1/ranking"},
    "a/+/c/d": {"a/b/c/d"},
    "+/+/+/+": {"a/b/c/d", "sport/tennis/player1/ranking"},
    "a/b/c/d": {"a/b/c/d"},
    "A/b/c/d": set(),
    "sport/tennis": {"sport/tennis"},
}


@pytest.mark.parametrize("version", ["mqttv311", "mqttv5"])
def test_wildcard_matching(broker, version):
    subs = {}
    try:
        for i, f in enumerate(EXPECTED):
            c = paho_connect(broker, version, client_id=f"wc-{version}-{i}")
            c.subscribe(f, qos=1)
            c.subscribe(MARKER, qos=1)
            subs[f] = c
        for t in TOPICS:
            mosquitto_pub(broker, t, f"payload of {t}", qos=1, version=version)
        mosquitto_pub(broker, MARKER, "END", qos=1, version=version)
        problems = []
        for f, c in subs.items():
            deadline_msgs = _until_marker(c)
            got = [m.topic for m in deadline_msgs if m.topic != MARKER]
            if set(got) != EXPECTED[f] or len(got) != len(set(got)):
                problems.append(f"filter {f!r}: got {sorted(got)}, expected {sorted(EXPECTED[f])}")
            for m in deadline_msgs:
                if m.topic != MARKER:
                    assert m.payload == f"payload of {m.topic}".encode()
        assert not problems, "\n".join(problems)
    finally:
        for c in subs.values():
            c.close()


def _until_marker(c, timeout=10.0):
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with c.lock:
            for i, m in enumerate(c.messages):
                if m.topic == MARKER:
                    return list(c.messages[:i])
        time.sleep(0.01)
    raise AssertionError(f"no marker within {timeout}s; got {[m.topic for m in c.messages]}")


@pytest.mark.broker(sys_interval=1)
def test_dollar_topics_not_matched_by_leading_wildcards(broker):
    """`#` and `+/...` do not match topics starting with `$` (3.1.1 §4.7.2); `$SYS/#` does."""
    with MosquittoSub(broker, "#", qos=0) as hash_all, MosquittoSub(broker, "+/broker/#", qos=0) as plus, \
            MosquittoSub(broker, "+/+/+/+", qos=0) as plus4, MosquittoSub(broker, "$SYS/#", qos=0) as sys_sub:
        # Retained $SYS values arrive at once; wait for a live publication (RETAIN 0), made after every
        # subscription above was acknowledged.
        sys_sub.wait_message(lambda m: m.topic.startswith("$SYS/") and not m.retain, timeout=10,
                             what="a live $SYS publication (sys_interval 1)")
        for s in (hash_all, plus, plus4):
            mosquitto_pub(broker, "x/broker/clients/connected", "END", qos=1)
            before = s.wait_topic_payload("x/broker/clients/connected", b"END")
            leaked = [m.topic for m in before if m.topic.startswith("$")]
            assert not leaked, f"{s.cmd[-1]} matched $ topics: {leaked[:5]}"


SYS_TOPICS = ["$SYS/broker/clients/connected", "$SYS/broker/messages/received", "$SYS/broker/messages/sent",
              "$SYS/broker/bytes/received", "$SYS/broker/bytes/sent"]


@pytest.mark.broker(sys_interval=1)
def test_sys_topics_published_and_counting(broker):
    with MosquittoSub(broker, "$SYS/broker/#", qos=0) as sub:
        values = {}
        for t in SYS_TOPICS:
            # A live (RETAIN 0) value, published after this subscriber connected.
            m = sub.wait_message(lambda m, t=t: m.topic == t and not m.retain, timeout=10, what=t)
            assert m.text.strip().isdigit(), f"{t} = {m.text!r} is not a non-negative integer"
            values[t] = int(m.text)
        assert values["$SYS/broker/clients/connected"] >= 1  # this subscriber
        # $SYS values are retained: a newcomer gets them immediately.
        with MosquittoSub(broker, "$SYS/broker/clients/connected", qos=0) as late:
            m = late.wait_message(lambda m: True, timeout=3, what="the retained clients/connected")
            assert m.retain
        start = len(sub.snapshot())
        mosquitto_pub(broker, "count/t", qos=1, lines=[str(i) for i in range(10)])
        base = values["$SYS/broker/messages/received"]
        m = sub.wait_message(
            lambda m: m.topic == "$SYS/broker/messages/received" and int(m.text) >= base + 10
            and sub.snapshot().index(m) >= start, timeout=10, what="messages/received grown by the 10 publishes")
        assert int(m.text) >= base + 10


import rawmqtt as r  # noqa: E402


def _unsubscribe(pid, filters, version):
    var = r.u16(pid) + (r.props() if version == r.V5 else b"")
    return r.packet(0xA2, var + b"".join(r.string(f) for f in filters))


@pytest.mark.parametrize("version", [r.V311, r.V5])
def test_unsubscribe_stops_delivery(broker, version):
    with r.RawClient(broker.address) as c:
        c.connect(f"unsub-{version}", version=version)
        c.send(r.subscribe(1, [("un/a", 1), ("un/end", 1)], version=version))
        c.expect(r.SUBACK)
        c.send(_unsubscribe(2, ["un/a", "un/never"], version))
        ack = c.expect(r.UNSUBACK)
        assert ack.body[:2] == b"\x00\x02"
        if version == r.V5:
            # 5.0 §3.11.3: one reason per filter: 0x00 Success, 0x11 No subscription existed.
            plen, pos = r.read_varint(ack.body, 2)
            assert ack.body[pos + plen:] == b"\x00\x11", ack
        mosquitto_pub(broker, "un/a", "after unsubscribe", qos=1)
        mosquitto_pub(broker, "un/end", "END", qos=1)
        p = c.expect(r.PUBLISH)
        assert r.parse_publish(p, version)[0] == "un/end", "a message arrived after UNSUBSCRIBE"


def test_overlapping_subscriptions_v311_one_copy_at_highest_qos(broker):
    """3.1.1 §3.3.5: overlapping filters of one client: delivered respecting the maximum QoS of the matches."""
    c = paho_connect(broker, "mqttv311", client_id="overlap")
    try:
        c.subscribe("ov/#", qos=0)
        c.subscribe("ov/+", qos=2)
        # paho hands a QoS 2 message over at PUBREL, so the marker is QoS 2 as well to keep the order.
        c.subscribe("end/ov", qos=2)
        mosquitto_pub(broker, "ov/x", "one", qos=2)
        mosquitto_pub(broker, "end/ov", "END", qos=2)
        got = _until_marker_topic(c, "end/ov")
    finally:
        c.close()
    assert [m.payload for m in got] == [b"one"], f"{len(got)} copies"
    assert got[0].qos == 2


def _until_marker_topic(c, topic, timeout=10.0):
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with c.lock:
            for i, m in enumerate(c.messages):
                if m.topic == topic:
                    return list(c.messages[:i])
        time.sleep(0.01)
    raise AssertionError(f"no {topic} within {timeout}s")


@pytest.mark.parametrize("version", [r.V311, r.V5])
@pytest.mark.parametrize("bad", ["inv/#/x", "inv+", "inv/a#", "inv/+x/y"])
def test_invalid_topic_filter(broker, version, bad):
    """An invalid filter (3.1.1 §4.7.1) is refused: SUBACK 0x80 (v5: 0x8F) or the connection is closed; a valid
    filter in the same SUBSCRIBE is unaffected when the broker answers per filter."""
    with r.RawClient(broker.address) as c:
        c.connect(f"inv-{version}", version=version)
        c.send(r.subscribe(1, [(bad, 0), ("inv/ok", 0)], version=version))
        try:
            p = c.read_packet(timeout=5)
        except r.Closed:
            return  # closing the connection is allowed
        if p.type == r.DISCONNECT:
            assert version == r.V5 and p.reason in (0x8F, 0x81, 0x82), p
            return
        assert p.type == r.SUBACK, p
        codes = p.body[2:] if version != r.V5 else p.body[2 + 1 + p.body[2]:]
        assert codes[0] in ((0x80,) if version != r.V5 else (0x8F, 0x80)), f"SUBACK codes {codes.hex()}"
        assert codes[1] == 0x00


def _rss_kib(broker) -> int:
    with open(f"/proc/{broker.proc.pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


@pytest.mark.netpie_only
def test_deep_filters_are_refused_and_cost_no_memory(broker):
    """Issue 11: a filter of 30,000 levels was accepted, and twenty of them took about 100 MiB. Past
    limits.max_topic_levels (128) a filter gets SUBACK 0x80 (3.1.1) / 0x8F (5.0), and the daemon's memory stays
    where it was."""
    deep = "/".join(["l"] * 30_000)
    with r.RawClient(broker.address) as c4, r.RawClient(broker.address) as c5:
        c4.connect("deep-4")
        c5.connect("deep-5", version=r.V5)
        before = _rss_kib(broker)
        for i in range(10):
            c4.send(r.subscribe(i + 1, [(f"{deep}/{i}", 1)]))
            assert c4.expect(r.SUBACK).body[2:] == b"\x80"
            c5.send(r.subscribe(i + 1, [(f"{deep}/{i}", 1)], version=r.V5))
            assert c5.expect(r.SUBACK).body[3:] == b"\x8f"
        grown = _rss_kib(broker) - before
        assert grown < 8 * 1024, f"the daemon grew by {grown} KiB for 20 refused filters"
        # 128 levels are still fine.
        c4.send(r.subscribe(99, [("/".join(["l"] * 128), 1)]))
        assert c4.expect(r.SUBACK).body[2:] == b"\x01"


@pytest.mark.netpie_only
@pytest.mark.parametrize("version", [r.V311, r.V5])
def test_publish_topic_past_max_topic_levels_closes(broker, version):
    with r.RawClient(broker.address) as c:
        c.connect("deep-pub", version=version)
        c.send(r.publish("/".join(["l"] * 129), b"x", version=version))
        packets = c.read_until_closed(timeout=5)
        assert [(p.type, p.reason) for p in packets] == ([(r.DISCONNECT, 0x90)] if version == r.V5 else [])
