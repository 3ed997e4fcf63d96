"""Bounds and their policies (STYLE.md §11): session queues, connection count, receive maximum, packet sizes."""
import pytest

import harness
import rawmqtt as r
from peers import MosquittoSub, mosquitto_pub, paho_connect

QUEUE = 5


def _queue_then_reconnect(broker, cid, n):
    with r.RawClient(broker.address) as c:
        c.connect(cid, clean=False)
        c.send(r.subscribe(1, [("q/t", 1)]))
        c.expect(r.SUBACK)
        c.send(r.disconnect())
    mosquitto_pub(broker, "q/t", qos=1, lines=[f"m{i}" for i in range(n)])
    c = r.RawClient(broker.address)
    c.connect(cid, clean=False)
    mosquitto_pub(broker, "q/t", "END", qos=1)
    got = []
    while True:
        p = c.expect(r.PUBLISH)
        _, pid, payload = r.parse_publish(p)
        c.send(r.ack(r.PUBACK, pid))
        if payload == b"END":
            break
        got.append(payload.decode())
    c.close()
    return got


# Queues held in memory (no store): with a store, a persistent session's queue is bounded by store.session_queue
# instead (test_session_queue.py).
NO_STORE = {"store": {"enabled": False}}


@pytest.mark.broker(limits={"max_queued_messages": QUEUE, "queue_policy": "drop_new", "max_inflight": 20},
                    extra=NO_STORE)
def test_offline_queue_bound_drop_new(broker):
    got = _queue_then_reconnect(broker, "qnew", 12)
    assert got == [f"m{i}" for i in range(QUEUE)], got


@pytest.mark.netpie_only
@pytest.mark.broker(limits={"max_queued_messages": QUEUE, "queue_policy": "drop_oldest"}, sys_interval=1,
                    extra=NO_STORE)
def test_offline_queue_bound_drop_oldest_and_drops_counted(broker):
    got = _queue_then_reconnect(broker, "qold", 12)
    assert got == [f"m{i}" for i in range(12 - QUEUE, 12)], got
    # Drops are counted, never silent: $SYS/broker/messages/dropped/<reason> adds up to at least the 7 dropped.
    with MosquittoSub(broker, "$SYS/broker/messages/dropped/#", qos=0) as sub:
        def total():
            latest = {}
            for m in sub.snapshot():
                latest[m.topic] = int(m.text)
            return sum(latest.values())
        harness.wait_for(lambda: total() >= 12 - QUEUE, 10, "$SYS dropped counters to reach 7")


@pytest.mark.netpie_only  # mosquitto 2.0.11 accepted a 6th client with max_connections 5 on the listener
@pytest.mark.broker(limits={"max_connections": 5})
def test_max_connections(broker):
    clients = []
    try:
        for i in range(5):
            c = r.RawClient(broker.address)
            c.connect(f"mc-{i}")
            clients.append(c)
        with r.RawClient(broker.address) as extra:
            extra.try_send(r.connect("mc-extra", version=r.V5))
            try:
                packets = extra.read_until_closed(timeout=5)
            except ConnectionResetError:
                packets = []
            assert all(p.type == r.CONNACK and p.reason != 0 for p in packets), \
                f"the 6th connection was accepted: {packets}"
        # Room again after one leaves.
        clients.pop().close()
        for _ in range(50):
            with r.RawClient(broker.address) as again:
                again.try_send(r.connect("mc-again"))
                try:
                    p = again.read_packet(timeout=2)
                    if p.type == r.CONNACK and p.reason == 0:
                        break
                except (r.Closed, TimeoutError):
                    pass  # the broker may not have seen the close yet
        else:
            raise AssertionError("no connection accepted after one of 5 left")
    finally:
        for c in clients:
            c.close()


@pytest.mark.netpie_only
@pytest.mark.broker(limits={"receive_maximum": 8, "topic_alias_maximum": 4})
def test_connack_advertises_limits(broker):
    c = paho_connect(broker, "mqttv5", client_id="adv")
    try:
        props = c.connack_properties
        assert props.ReceiveMaximum == 8
        assert props.TopicAliasMaximum == 4
    finally:
        c.close()


@pytest.mark.broker(limits={"receive_maximum": 8})
def test_receive_maximum_exceeded_disconnects_0x93(broker):
    """More unreleased QoS 2 PUBLISHes than the advertised Receive Maximum: DISCONNECT 0x93 (5.0 §3.3.4)."""
    with r.RawClient(broker.address) as c:
        connack = c.connect("rm", version=r.V5)
        recv_max = _connack_u16(connack, 0x21, default=65535)
        if broker.kind != "mosquitto":
            assert recv_max == 8
        for pid in range(1, recv_max + 2):
            c.try_send(r.publish("rm/t", b"x", qos=2, pid=pid, version=r.V5))
        if broker.kind == "mosquitto":
            # mosquitto 2.0.11 refuses the extra one with PUBREC 0x97 and stays connected (not the spec's 0x93).
            packets = [c.expect(r.PUBREC) for _ in range(recv_max + 1)]
            assert packets[-1].body[2:3] == b"\x97", packets[-1]
            return
        packets = c.read_until_closed(timeout=5)
        assert [p.type for p in packets[:-1]] == [r.PUBREC] * (len(packets) - 1), packets
        assert packets and packets[-1].type == r.DISCONNECT and packets[-1].reason == 0x93, packets[-1:]


@pytest.mark.netpie_only
@pytest.mark.broker(limits={"receive_maximum": 8}, extra={"store": {"outbox": {"filters": ["rm/#"]}}})
def test_receive_maximum_counts_a_qos2_publish_waiting_for_its_commit_once(broker):
    """Exactly Receive Maximum QoS 2 PUBLISHes bound for the outbox, in one write: each PUBREC waits for the store
    commit, and each message counts once against the maximum (5.0 §4.9), so all 8 are received and stay unreleased
    without a DISCONNECT; the 9th is one too many. (It was counted twice, while in the inbound QoS 2 set and while
    its PUBREC waited: DISCONNECT 0x93 at the 5th, which broke a netpie-edge uplink to a netpie-edge upstream.)"""
    with r.RawClient(broker.address) as c:
        connack = c.connect("rm2", version=r.V5)
        assert _connack_u16(connack, 0x21, default=65535) == 8
        c.send(b"".join(r.publish("rm/t", b"%d" % pid, qos=2, pid=pid, version=r.V5) for pid in range(1, 9)))
        recs = [c.expect(r.PUBREC, timeout=5) for _ in range(8)]
        assert [int.from_bytes(p.body[0:2], "big") for p in recs] == list(range(1, 9))
        assert all(len(p.body) == 2 or p.body[2] == 0 for p in recs), recs
        c.send(r.publish("rm/t", b"9", qos=2, pid=9, version=r.V5))
        packets = c.read_until_closed(timeout=5)
        assert packets and packets[-1].type == r.DISCONNECT and packets[-1].reason == 0x93, packets


def _connack_u16(p, ident, default):
    body = p.body
    length, pos = r.read_varint(body, 2)
    end = pos + length
    while pos < end:
        i = body[pos]
        pos += 1
        if i == ident:
            return int.from_bytes(body[pos:pos + 2], "big")
        if i in (0x24, 0x25, 0x28, 0x29, 0x2A):
            pos += 1
        elif i in (0x13, 0x21, 0x22):
            pos += 2
        elif i in (0x11, 0x27):
            pos += 4
        elif i == 0x26:
            for _ in range(2):
                pos += 2 + int.from_bytes(body[pos:pos + 2], "big")
        else:
            pos += 2 + int.from_bytes(body[pos:pos + 2], "big")
    return default


def test_client_maximum_packet_size_respected(broker):
    """A message larger than the v5 client's Maximum Packet Size is not sent to it (5.0 §3.1.2.11.4)."""
    with r.RawClient(broker.address) as c:
        c.connect("small", version=r.V5, properties=r.prop_u32(0x27, 200))
        c.send(r.subscribe(1, [("mps/t", 1)], version=r.V5))
        c.expect(r.SUBACK)
        mosquitto_pub(broker, "mps/t", "B" * 500, qos=1)
        mosquitto_pub(broker, "mps/t", "small", qos=1)
        p = c.expect(r.PUBLISH)
        topic, pid, payload = r.parse_publish(p, version=r.V5)
        assert payload == b"small", f"got a {len(payload)}-byte payload"


@pytest.mark.broker(limits={"topic_alias_maximum": 1})
def test_MQTT_3_1_2_24_disconnect_within_the_clients_maximum_packet_size(broker):
    """Nothing over the client's Maximum Packet Size is sent [MQTT-3.1.2-24], DISCONNECT included: its reason
    string is dropped first (5.0 §3.14.2.2.2)."""
    with r.RawClient(broker.address) as c:
        c.connect("small-disconnect", version=r.V5, properties=r.prop_u32(0x27, 24))
        c.send(r.publish("t", b"x", version=r.V5, properties=r.prop_u16(0x23, 2)))  # alias 2 > maximum 1
        packets = c.read_until_closed(timeout=5)
        if broker.kind != "mosquitto" or packets:
            assert [p.type for p in packets] == [r.DISCONNECT] and packets[0].reason == 0x94, packets
            assert 2 + len(packets[0].body) <= 24, f"a {2 + len(packets[0].body)}-byte DISCONNECT: {packets[0]}"
