"""A client that publishes but never reads its acknowledgements: its output cannot grow without bound.

Once what the daemon holds for that socket passes twice limits.write_high_watermark, the daemon stops reading
from it (counted in $SYS/broker/connections/reads_paused) until the socket drains; the sender's own writes then
block. The daemon's memory stays flat and other clients keep being served.
"""
import socket
import struct
import time

import pytest

import harness
import rawmqtt as r
from peers import MosquittoSub, mosquitto_pub

pytestmark = [pytest.mark.netpie_only,
              pytest.mark.broker(limits={"write_high_watermark": 4096}, sys_interval=1)]


def test_publisher_that_never_reads_is_paused_not_buffered(broker):
    # A raw 3.1.1 client with a tiny receive buffer that floods QoS 1 PUBLISH and never reads a PUBACK.
    s = socket.create_connection(broker.address)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    cid = b"flooder"
    var = b"\x00\x04MQTT\x04\x02\x00\x00"
    payload = struct.pack(">H", len(cid)) + cid
    s.sendall(bytes([0x10, len(var) + len(payload)]) + var + payload)
    topic = b"flood/t"
    blob = b"".join(bytes([0x32, 2 + len(topic) + 2 + 20]) + struct.pack(">H", len(topic)) + topic +
                    struct.pack(">H", i + 1) + b"x" * 20 for i in range(5000))
    rss_before = harness.vm_rss_kib(broker.proc.pid)
    s.settimeout(2.0)
    sent = 0
    blocked = False
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            s.sendall(blob)
            sent += 5000
    except socket.timeout:
        blocked = True
    print(f"sent {sent} PUBLISH before the daemon stopped reading; RSS {rss_before} -> {harness.vm_rss_kib(broker.proc.pid)} KiB")
    assert blocked, f"the daemon kept reading {sent} PUBLISH from a client that reads nothing"
    # The PUBACKs the client never read are not piling up in the daemon (kernel buffers are not in RSS).
    # Under AddressSanitizer freed memory sits in its quarantine, so RSS says nothing there.
    if not harness.sanitized(broker.proc.pid):
        assert harness.vm_rss_kib(broker.proc.pid) - rss_before < 16 * 1024

    # The pause is counted, and another client is served meanwhile.
    with MosquittoSub(broker, "$SYS/broker/connections/reads_paused", qos=0) as sub:
        harness.wait_for(lambda: any(int(m.text) > 0 for m in sub.snapshot()), 10, "reads_paused > 0")
    with MosquittoSub(broker, "witness/t", qos=1) as sub:
        mosquitto_pub(broker, "witness/t", "still served", qos=1)
        sub.wait_message(lambda m: m.text == "still served")
    s.close()
