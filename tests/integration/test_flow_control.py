"""Flow control and admission (README.md "What an acknowledgement promises", conf/README.md limits).

A PUBACK from the gateway means the message is in the queue of every matching online QoS >= 1 subscriber: when a
subscriber's queue is full the publisher is not read from and its PUBACK waits until there is room, instead of
the message being acknowledged and then dropped for queue_full. A subscriber that holds publishers back longer
than limits.slow_subscriber_timeout is disconnected. QoS 0 drops over a slow reader by default
(qos0_full_policy: drop, counted) or pauses its publishers (pause). A publish refused before routing (the outbox
full under reject_new: v5 PUBACK 0x97) reaches no local subscriber.

Clients are paho-mqtt (publishers, subscribers, the $SYS reader) and raw sockets for a subscriber that never
reads or reads slowly through a tiny receive buffer. Every wait polls a condition with a generous deadline; no
assertion depends on speed.
"""
from __future__ import annotations

import socket
import threading
import time

import paho.mqtt.client as paho
import pytest

import rawmqtt as r
from dura_common import AckClient, store_config
from harness import wait_for
from peers import MosquittoSub, paho_connect

pytestmark = pytest.mark.netpie_only

SMALL_QUEUES = {"max_queued_messages": 10, "max_inflight": 5}


class Publisher:
    """A paho 3.1.1 client publishing `count` messages "<name>:<seq>" as fast as paho lets it; records which seqs
    were acknowledged (PUBACK received)."""

    def __init__(self, broker, name: str, topic: str, count: int, qos: int = 1, size: int = 0):
        self.name, self.topic, self.count, self.qos = name, topic, count, qos
        self.pad = b"x" * size
        self.acked: set[int] = set()
        self._mids: dict[int, int] = {}
        self._early: set[int] = set()  # PUBACKs seen before publish() returned the mid
        self._lock = threading.Lock()
        self.client = paho.Client(client_id=name, clean_session=True, protocol=paho.MQTTv311)
        self.client.reconnect_delay_set(60, 120)
        self.client.on_publish = self._on_publish
        connected = threading.Event()
        self.client.on_connect = lambda *a: connected.set()
        self.client.connect(broker.host, broker.port, keepalive=60)
        self.client.loop_start()
        assert connected.wait(10), f"{name}: no CONNACK"
        self.last = None

    def _on_publish(self, client, userdata, mid):
        with self._lock:
            seq = self._mids.pop(mid, None)
            if seq is None:
                self._early.add(mid)
            else:
                self.acked.add(seq)

    def run(self) -> None:
        for seq in range(1, self.count + 1):
            info = self.client.publish(self.topic, f"{self.name}:{seq}:".encode() + self.pad, qos=self.qos)
            assert info.rc == paho.MQTT_ERR_SUCCESS, f"{self.name}: publish returned {info.rc}"
            with self._lock:
                if info.mid in self._early:
                    self._early.discard(info.mid)
                    self.acked.add(seq)
                else:
                    self._mids[info.mid] = seq
            self.last = info

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def run_publishers(pubs: list[Publisher]) -> None:
    threads = [threading.Thread(target=p.run) for p in pubs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


class SysWatch:
    """The latest value of each $SYS/broker counter (retained, republished every sys_interval)."""

    def __init__(self, broker):
        self.sub = MosquittoSub(broker, "$SYS/broker/#", qos=0)
        self.sub.__enter__()

    def value(self, name: str) -> int | None:
        latest = None
        for m in self.sub.snapshot():
            if m.topic == f"$SYS/broker/{name}":
                latest = int(m.text)
        return latest

    def wait(self, name: str, pred, what: str, timeout: float = 30.0) -> int:
        wait_for(lambda: self.value(name) is not None and pred(self.value(name)), timeout, f"$SYS {name} {what}")
        return self.value(name)

    def close(self) -> None:
        self.sub.__exit__(None, None, None)


def payload_key(data: bytes) -> tuple[str, int]:
    name, seq = data.split(b":")[:2]
    return name.decode(), int(seq)


@pytest.mark.broker(limits=SMALL_QUEUES, sys_interval=1)
def test_every_acknowledged_message_reaches_a_slow_qos1_subscriber(broker):
    """(a) 4 QoS 1 publishers at full speed into 1 slow QoS 1 subscriber with a 10-message queue."""
    delivered: list[tuple[str, int]] = []
    lock = threading.Lock()
    sub = paho_connect(broker, client_id="slow-sub")

    def on_message(client, userdata, msg):
        time.sleep(0.0005)  # a slow consumer: its socket backs up, its queue fills
        with lock:
            delivered.append(payload_key(msg.payload))

    sub.subscribe("fan/in", qos=1)
    sub.client.on_message = on_message
    pubs = [Publisher(broker, f"p{i}", "fan/in", 1500) for i in range(4)]
    sys = SysWatch(broker)
    try:
        run_publishers(pubs)
        total = sum(p.count for p in pubs)
        sys.wait("messages/received", lambda v: v >= total, f">= {total}", timeout=90)
        # paho resends nothing on a live connection, so each message is acknowledged once it is queued.
        wait_for(lambda: sum(len(p.acked) for p in pubs) == total, 90, f"all {total} publishes acknowledged")
        acked = {(p.name, s) for p in pubs for s in p.acked}
        # Each message ends delivered or dropped (counted): wait for that, then compare.
        wait_for(lambda: len(delivered) + (sys.value("messages/dropped/queue_full") or 0) >= total, 90,
                 f"{total} deliveries or drops")
        with lock:
            got = list(delivered)
        missing = acked - set(got)
        assert not missing, f"{len(missing)} ACKNOWLEDGED messages never delivered, e.g. {sorted(missing)[:10]}"
        assert len(got) == len(set(got)) == total, f"{len(got)} deliveries, {len(set(got))} distinct, {total} sent"
        for p in pubs:  # per publisher, in order (MQTT 3.1.1 §4.6)
            seqs = [s for n, s in got if n == p.name]
            assert seqs == sorted(seqs), f"{p.name} delivered out of order"
        assert sys.value("messages/dropped/queue_full") == 0, "QoS 1 dropped for queue_full"
        paused = sys.wait("connections/flow_paused", lambda v: v > 0, "> 0")
        withheld = sys.wait("messages/acks_withheld", lambda v: v > 0, "> 0")
        reads_paused = sys.wait("connections/reads_paused", lambda v: v > 0, "> 0")
        print(f"\n{total} acknowledged and delivered; flow_paused {paused}, acks_withheld {withheld}, "
              f"reads_paused {reads_paused}")
    finally:
        sys.close()
        for p in pubs:
            p.close()
        sub.close()


@pytest.mark.broker(limits={**SMALL_QUEUES, "slow_subscriber_timeout": 2}, sys_interval=1)
def test_a_subscriber_that_stops_reading_is_disconnected_and_publishers_go_on(broker):
    """(b) A QoS 1 subscriber that never acknowledges holds the publishers back for at most
    slow_subscriber_timeout; then it is disconnected, and a healthy subscriber gets every acknowledged message."""
    stuck = r.RawClient(broker.address)
    stuck.connect("stuck")
    stuck.send(r.subscribe(1, [("fan/b", 1)]))
    stuck.expect(r.SUBACK)
    healthy = paho_connect(broker, client_id="healthy")
    healthy.subscribe("fan/b", qos=1)
    pubs = [Publisher(broker, f"b{i}", "fan/b", 300) for i in range(2)]
    sys = SysWatch(broker)
    try:
        run_publishers(pubs)
        total = sum(p.count for p in pubs)
        broker.wait_log(r"INFO  broker: slow subscriber: stuck \(\S+\) held publishers back for 2 s; disconnecting",
                        timeout=60)
        stuck.read_until_closed(timeout=30)  # its socket is closed (after the messages it never acknowledged)
        wait_for(lambda: sum(len(p.acked) for p in pubs) == total, 90, f"all {total} publishes acknowledged")
        acked = {(p.name, s) for p in pubs for s in p.acked}
        healthy.wait_count(total, timeout=90)
        got = {payload_key(m.payload) for m in healthy.messages}
        assert acked <= got, f"{len(acked - got)} acknowledged messages missing at the healthy subscriber"
        sys.wait("connections/slow_subscribers", lambda v: v == 1, "== 1")
    finally:
        sys.close()
        for p in pubs:
            p.close()
        healthy.close()
        stuck.close()


class SlowReader:
    """A raw QoS 0 subscriber with a 4 KiB receive buffer that reads in bursts with pauses, counting messages."""

    def __init__(self, broker, topic: str):
        self.c = r.RawClient.__new__(r.RawClient)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: the window stays small
        s.connect(broker.address)
        s.settimeout(10)
        self.c.sock, self.c.buf, self.c.eof = s, b"", False
        self.c.send(r.connect("slow-reader"))
        assert self.c.expect(r.CONNACK).reason == 0
        self.c.send(r.subscribe(1, [(topic, 0)]))
        self.c.expect(r.SUBACK)
        self.count = 0
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop:
            try:
                p = self.c.read_packet(timeout=0.5)
            except (TimeoutError, socket.timeout, AssertionError):
                continue
            except Exception:
                return
            if p.type == r.PUBLISH:
                self.count += 1
                if self.count % 50 == 0:
                    time.sleep(0.02)

    def close(self) -> None:
        self.stop = True
        self.thread.join(5)
        self.c.close()


def qos0_fan_in(broker, pause: bool):
    reader = SlowReader(broker, "fan/q0")
    pubs = [Publisher(broker, f"z{i}", "fan/q0", 2000, qos=0, size=1000) for i in range(2)]
    sys = SysWatch(broker)
    try:
        run_publishers(pubs)
        for p in pubs:
            p.last.wait_for_publish(90)  # written to its socket (paho buffers while the gateway does not read)
        total = sum(p.count for p in pubs)
        sys.wait("messages/received", lambda v: v >= total, f">= {total}", timeout=90)
        if pause:
            wait_for(lambda: reader.count >= total, 90, f"{total} QoS 0 messages at the slow reader")
            assert sys.value("messages/dropped/slow_consumer") == 0
            sys.wait("connections/flow_paused", lambda v: v > 0, "> 0")
        else:
            dropped = sys.wait("messages/dropped/slow_consumer", lambda v: v > 0, "> 0")
            # The counts add up: each message was either delivered or dropped (counted).
            wait_for(lambda: reader.count + (sys.value("messages/dropped/slow_consumer") or 0) == total, 90,
                     f"delivered + dropped == {total}")
            dropped = sys.value("messages/dropped/slow_consumer")
            assert sys.value("connections/flow_paused") == 0
        print(f"\nqos0_full_policy {'pause' if pause else 'drop'}: {total} sent, {reader.count} delivered, "
              f"{sys.value('messages/dropped/slow_consumer')} dropped (slow_consumer)")
    finally:
        sys.close()
        for p in pubs:
            p.close()
        reader.close()


@pytest.mark.broker(limits={"write_high_watermark": "4KiB", "qos0_full_policy": "pause"}, sys_interval=1)
def test_qos0_pause_policy_loses_nothing_over_a_slow_reader(broker):
    """(c) qos0_full_policy: pause: QoS 0 publishers wait for a slow reader instead of losing messages."""
    qos0_fan_in(broker, pause=True)


@pytest.mark.broker(limits={"write_high_watermark": "4KiB", "qos0_full_policy": "drop"}, sys_interval=1)
def test_qos0_drop_policy_counts_what_a_slow_reader_misses(broker):
    """(c) qos0_full_policy: drop (the default): QoS 0 over the watermark is dropped and counted."""
    qos0_fan_in(broker, pause=False)


def test_a_refused_publish_reaches_no_local_subscriber(broker_factory):
    """(d) Item 9: the outbox is full under reject_new: the v5 publisher gets 0x97 and the message reaches no local
    subscriber (the client's retry would otherwise make a duplicate); a 3.1.1 publisher gets no PUBACK and its
    message is not delivered either. A later message on a topic outside the outbox proves delivery order."""
    b = broker_factory(name="refuse", sys_interval=1,
                       extra={"store": store_config(["up/#"], max_rows=5, policy="reject_new")})
    local = paho_connect(b, client_id="local")
    local.subscribe("up/#", qos=1)
    local.subscribe("witness", qos=1)
    pub = AckClient(b, "pub-v5", "mqttv5")
    old = AckClient(b, "pub-v311", "mqttv311")
    sys = SysWatch(b)
    try:
        reasons = [pub.wait_puback(pub.publish("up/t", f"m{i}".encode()), timeout=10) for i in range(1, 8)]
        assert reasons == [0, 0, 0, 0, 0, 0x97, 0x97], f"PUBACK reasons {reasons}"
        assert old.wait_puback(old.publish("up/t", b"v311-refused"), timeout=3) is None
        assert pub.wait_puback(pub.publish("witness", b"after"), timeout=10) == 0
        msgs = local.wait_count(6, timeout=10)
        wait_for(lambda: any(m.topic == "witness" for m in local.messages), 10, "the witness delivered")
        got = [m.payload for m in local.messages]
        assert got == [b"m1", b"m2", b"m3", b"m4", b"m5", b"after"], f"local subscriber got {got}"
        assert b.outbox_rows() == 5
        sys.wait("messages/dropped/refused", lambda v: v == 3, "== 3")
        del msgs
    finally:
        sys.close()
        pub.close()
        old.close()
        local.close()
