"""A persistent session's queue lives in the store (store.session_queue; storage/README.md "Persistent sessions'
queues"): an acknowledged QoS 1 message for an absent persistent subscriber is a row of the store, the daemon's
memory does not grow with the queue, and the subscriber gets every message after restarts (also after SIGKILL), in
order. Past the bound, the policy applies and is counted: drop_oldest keeps the newest; reject_new refuses the
publish (MQTT 5 PUBACK 0x97, 3.1.1 no PUBACK) and the refused message reaches no subscriber.

Real clients: paho-mqtt (publishers and the subscriber) and mosquitto_sub for $SYS.
"""
from __future__ import annotations

import collections
import time

import pytest

from dura_common import AckClient, db_path, integrity_check, session_message_count, store_config
from harness import sanitized, vm_rss_kib, wait_for
from peers import MosquittoSub, mosquitto_pub, paho_connect

PAYLOAD = 1000  # bytes per message: 100,000 of them are ~100 MB, which the old in-memory queue held whole


def publish_all(broker, client_id: str, topic: str, count: int, inflight: int = 50) -> None:
    """QoS 1 messages "<seq>:<padding>" (seq 1..count) from one paho client, at most `inflight` unacknowledged (the
    daemon's receive maximum is 64); returns once every one was acknowledged with reason 0 (a refusal or a missing
    PUBACK fails)."""
    c = AckClient(broker, client_id, version="mqttv5")
    c.client.max_inflight_messages_set(inflight)
    pending: collections.deque[int] = collections.deque()

    def settle_oldest() -> None:
        mid = pending.popleft()
        reason = c.wait_puback(mid, timeout=120)
        assert reason == 0, f"PUBACK for mid {mid}: {reason} (None = no PUBACK)"
        c.forget(mid)

    try:
        for seq in range(1, count + 1):
            if len(pending) >= inflight:
                settle_oldest()
            body = f"{seq}:".encode()
            pending.append(c.publish(topic, body + b"x" * (PAYLOAD - len(body)), qos=1))
        while pending:
            settle_oldest()
    finally:
        c.close()


def seq_of(payload: bytes) -> int:
    return int(payload.split(b":", 1)[0])


def receive_queue(broker, client_id: str, topic: str, version: str, last: int, at_least: int,
                  timeout: float) -> list[int]:
    """Reconnects the persistent subscriber (mosquitto_sub -c) until `at_least` messages and the one with seq `last`
    arrived; returns the seqs received. Then shows nothing else was queued: a marker published afterwards is the next message the
    session gets."""
    expiry = 3600 if version == "mqttv5" else None
    with MosquittoSub(broker, topic, version=version, qos=1, client_id=client_id, clean=False,
                      session_expiry=expiry, timeout=30) as sub:
        sub.wait_count(at_least, timeout)
        sub.wait_message(lambda m: seq_of(m.payload) == last, timeout, f"message {last}")
        got = [seq_of(m.payload) for m in sub.snapshot()]
    mosquitto_pub(broker, topic.replace("#", "marker"), "0:marker", qos=1)
    with MosquittoSub(broker, topic, version=version, qos=1, client_id=client_id, clean=False,
                      session_expiry=expiry, count=1, wait=False) as sub:  # it may exit before its SUBACK
        first = sub.wait_count(1, 30)[0]
    assert first.payload == b"0:marker", f"after the last message the session still had {first}"
    return got


def subscribe_offline(broker, client_id: str, topic: str, version: str = "mqttv311") -> None:
    sub = paho_connect(broker, version, client_id=client_id, clean=False,
                       session_expiry=3600 if version == "mqttv5" else None)
    sub.subscribe(topic, qos=1)
    sub.disconnect()


def sys_counter(broker, name: str, at_least: int) -> int:
    """$SYS/broker/messages/dropped/<name> once it reaches at_least (the broker publishes it every second)."""
    with MosquittoSub(broker, f"$SYS/broker/messages/dropped/{name}", qos=0) as sub:
        def value():
            msgs = sub.snapshot()
            return int(msgs[-1].text) if msgs and int(msgs[-1].text) >= at_least else None
        return wait_for(value, 15, f"$SYS dropped/{name} >= {at_least}")


@pytest.mark.netpie_only
@pytest.mark.timeout(900)
@pytest.mark.parametrize("stop", ["sigterm", "sigkill"])
def test_offline_queue_lives_in_the_store_and_survives_restart(broker_factory, stop):
    n = 100_000
    # limits.max_queued_* far above n: the old code kept the whole queue in memory (and with its default of
    # 1,000 dropped the rest after acknowledging them); either way it fails below.
    b = broker_factory(name="sq", sys_interval=0, limits={"max_queued_messages": 10_000_000,
                                                          "max_queued_bytes": "1TiB"},
                       extra={"store": store_config([])})
    subscribe_offline(b, "sq-sub", "sq/#")
    rss_before = vm_rss_kib(b.proc.pid)
    publish_all(b, "sq-pub", "sq/t", n)
    rss_after = vm_rss_kib(b.proc.pid)
    grown_mib = (rss_after - rss_before) / 1024
    print(f"\nsession queue: {n} x {PAYLOAD} B queued for an absent subscriber: VmRSS {rss_before // 1024} -> "
          f"{rss_after // 1024} MiB")
    # ~100 MB of payload is queued; memory may grow by caches (SQLite's 4 MiB page cache, the allocator), not by
    # the queue. The old code grew by well over 100 MiB here. (Not under AddressSanitizer: see harness.sanitized.)
    if not sanitized(b.proc.pid):
        assert grown_mib < 40, f"VmRSS grew by {grown_mib:.0f} MiB while {n} messages were queued offline"

    if stop == "sigkill":
        b.kill()
    else:
        b.stop()
    assert integrity_check(db_path(b)) == "ok"
    t0 = time.monotonic()
    b.start()
    started_s = time.monotonic() - t0
    rss_started = vm_rss_kib(b.proc.pid)
    print(f"session queue: restart with {n} queued rows: ready in {started_s:.2f} s, VmRSS {rss_started // 1024} MiB")
    got = receive_queue(b, "sq-sub", "sq/#", "mqttv311", n, n, timeout=300)
    # Every acknowledged message, once, in publish order (no DUP redelivery here: nothing was in flight).
    assert len(got) == n and got == list(range(1, n + 1)), \
        f"got {len(got)} messages; first differences: " \
        f"{[(i, s) for i, s in enumerate(got) if s != i + 1][:10]}"


@pytest.mark.netpie_only
@pytest.mark.timeout(300)
def test_online_subscriber_queue_spills_to_store_in_order(broker_factory):
    """A connected persistent subscriber that does not read: its queue outgrows memory_rows and spills to the
    store; after it disconnects and comes back it gets everything in order (the head held in memory and the tail
    read back from the store join without a gap or a reordering)."""
    b = broker_factory(name="sqo", sys_interval=0,
                       extra={"store": store_config([], session_queue={"memory_rows": 16})})
    # A raw paho subscriber that never acknowledges: its receive window (inflight 20) fills, the rest queues.
    stalled = paho_connect(b, "mqttv311", client_id="sqo-sub", clean=False)
    stalled.subscribe("sqo/#", qos=1)
    stalled.client.loop_stop()  # stops reading: PUBACKs never go out, TCP fills
    try:
        publish_all(b, "sqo-pub", "sqo/t", 2000)
    finally:
        stalled.client.socket().close()
    got = receive_queue(b, "sqo-sub", "sqo/#", "mqttv311", 2000, 2000, timeout=120)
    # The first messages were in flight when the connection died: they come again (DUP), first, in order.
    distinct = []
    for s in got:
        if not distinct or s > distinct[-1]:
            distinct.append(s)
        else:
            assert s in distinct[-100:], f"reordered: {s} after {distinct[-1]}"
    assert distinct == list(range(1, 2001)), f"missing: {sorted(set(range(1, 2001)) - set(distinct))[:20]}"


@pytest.mark.netpie_only
@pytest.mark.timeout(300)
def test_drop_oldest_keeps_the_newest_and_counts(broker_factory):
    b = broker_factory(name="sqd", sys_interval=1,
                       extra={"store": store_config([], session_queue={"max_rows": 50, "policy": "drop_oldest",
                                                                         "memory_rows": 8})})
    subscribe_offline(b, "sqd-sub", "sqd/#", version="mqttv5")
    publish_all(b, "sqd-pub", "sqd/t", 300)  # every one acknowledged: drop_oldest takes from the queue's head
    assert sys_counter(b, "session_queue_oldest", 250) == 250
    b.kill()
    b.start()
    got = receive_queue(b, "sqd-sub", "sqd/#", "mqttv5", 300, 50, timeout=60)
    assert got == list(range(251, 301)), got


@pytest.mark.netpie_only
@pytest.mark.timeout(300)
def test_reject_new_refuses_the_publish_and_it_reaches_nobody(broker_factory):
    b = broker_factory(name="sqr", sys_interval=1,
                       extra={"store": store_config([], session_queue={"max_rows": 10, "policy": "reject_new"})})
    subscribe_offline(b, "sqr-sub", "sqr/#")
    # An online subscriber on the same topic: a refused publish must not reach it either.
    online = paho_connect(b, "mqttv5", client_id="sqr-online")
    online.subscribe("sqr/#", qos=1)
    online.subscribe("ctl/#", qos=1)
    v5 = AckClient(b, "sqr-pub5", version="mqttv5")
    v3 = AckClient(b, "sqr-pub3", version="mqttv311")
    try:
        for i in range(1, 11):
            assert v5.wait_puback(v5.publish("sqr/t", f"{i}:ok")) == 0
        # The queue holds 10: the 11th is refused with 0x97 Quota exceeded (MQTT 5.0 §3.4.2.1).
        assert v5.wait_puback(v5.publish("sqr/t", b"11:refused-v5")) == 0x97
        # MQTT 3.1.1 has no refusal: no PUBACK. The acknowledgement of a later publish (acks go in order,
        # MQTT 3.1.1 §4.6) shows that none is coming, without waiting on a clock.
        refused = v3.publish("sqr/t", b"12:refused-v311")
        later = v3.publish("ctl/x", b"13:ctl")
        assert v3.wait_puback(later) == 0
        assert not v3.has_puback(refused), "a refused 3.1.1 publish was acknowledged"
        got = online.wait_count(11)  # 10 accepted, then ctl
        wait_for(lambda: any(m.topic == "ctl/x" for m in online.messages), 10, "the control message")
        payloads = [m.payload for m in online.messages]
        assert b"11:refused-v5" not in payloads and b"12:refused-v311" not in payloads, payloads
        assert len(got) >= 11
    finally:
        v5.close()
        v3.close()
        online.close()
    assert sys_counter(b, "session_queue_rejected", 2) == 2
    got = receive_queue(b, "sqr-sub", "sqr/#", "mqttv311", 10, 10, timeout=60)
    assert got == list(range(1, 11)), got


@pytest.mark.netpie_only
@pytest.mark.timeout(300)
def test_resumed_with_expiry_zero_still_gets_its_stored_queue(broker_factory):
    """MQTT 5.0 §3.1.2.11.2: a session resumed with Session Expiry 0 goes on until the connection ends, queue
    included. Its queue is in the store: it is read from there (not forgotten at CONNECT), in order, and the
    store forgets the session when it ends."""
    b = broker_factory(name="sqz", sys_interval=0,
                       extra={"store": store_config([], session_queue={"memory_rows": 16})})
    subscribe_offline(b, "sqz-sub", "sqz/#", version="mqttv5")
    publish_all(b, "sqz-pub", "sqz/t", 500)
    sub = paho_connect(b, "mqttv5", client_id="sqz-sub", clean=False, session_expiry=0)
    try:
        assert sub.session_present
        sub.publish("sqz/t", b"501:live", qos=1)  # published while the stored queue drains: it comes last
        got = [seq_of(m.payload) for m in sub.wait_count(501, timeout=60)]
        sub.disconnect()
    finally:
        sub.close()
    assert got == list(range(1, 502)), got[:20]
    b.stop()
    assert session_message_count(db_path(b), "sqz-sub") == 0
