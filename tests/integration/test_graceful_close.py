"""The graceful close after every DISCONNECT the gateway sends (and a CONNACK that refuses): the last bytes go out,
the write side is shut down, and what the client still sends is read and discarded until it closes too, within a
time and a byte bound (gateway/net/tcp_server.cpp, kCloseLingerMs and kCloseLingerBytes).

A socket closed with unread input answers with a TCP reset: the client's next read or write fails with
ECONNRESET, and a client library that meets it first (a write of its next PUBLISH) reports "connection lost"
instead of the reason it was given. Raw sockets here, so a reset and an orderly end are told apart
(rawmqtt.RawClient counts a reset as the end of the stream).
"""
from __future__ import annotations

import socket
import time

import pytest

import rawmqtt as r

# What a client at full speed still has in flight when it is told to go: several reads' worth past the 9th
# QoS 2 PUBLISH that exceeds the Receive Maximum, so the gateway stops reading with most of it unread.
IN_FLIGHT = r.publish("rm/t", b"y" * 1000, qos=0, version=r.V5) * 256
ENDED_RX = r"DEBUG net: closing 127\.0\.0\.1:{port}: {why}"


def read_to_the_end(sock: socket.socket, timeout: float) -> tuple[bytes, str]:
    """Reads until the stream ends; returns the bytes and how it ended: "eof" (an orderly end, the gateway's
    shutdown), "reset" (ECONNRESET) or "open" (neither within the timeout)."""
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            return data, "reset"
        if not chunk:
            return data, "eof"
        data += chunk
    return data, "open"


def packets_of(data: bytes) -> list[r.Packet]:
    c = r.RawClient.__new__(r.RawClient)
    c.buf, c.eof = data, True
    out = []
    while True:
        try:
            out.append(c.read_packet(0))
        except r.Closed:
            return out


def connect_v5(broker, client_id: str) -> socket.socket:
    s = socket.create_connection(broker.address, timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(r.connect(client_id, version=r.V5))
    data = b""
    while len(data) < 2 or len(data) < 2 + data[1]:  # a CONNACK of our limits is short (one length byte)
        chunk = s.recv(4096)
        assert chunk, "closed before CONNACK"
        data += chunk
    assert data[0] >> 4 == r.CONNACK and data[3] == 0, f"CONNACK: {data!r}"
    return s


@pytest.mark.netpie_only
@pytest.mark.broker(limits={"receive_maximum": 8})
def test_disconnect_0x93_is_read_by_a_client_still_sending_not_a_reset(broker):
    """Receive Maximum exceeded (MQTT 5.0 §3.3.4) by a client that keeps sending: it reads the DISCONNECT 0x93 and
    then the orderly end of the stream; before the graceful close it read a reset (ECONNRESET)."""
    s = connect_v5(broker, "rm-busy")
    try:
        burst = b"".join(r.publish("rm/t", b"x", qos=2, pid=pid, version=r.V5) for pid in range(1, 10))
        try:
            s.sendall(burst + IN_FLIGHT)
            sent = "all"
        except (BrokenPipeError, ConnectionResetError) as e:
            sent = f"reset while sending ({e})"
        data, end = read_to_the_end(s, timeout=30)
    finally:
        s.close()
    packets = packets_of(data)
    assert packets and packets[-1].type == r.DISCONNECT and packets[-1].reason == 0x93, packets[-3:]
    assert [p.type for p in packets[:-1]] == [r.PUBREC] * 8, packets
    assert sent == "all" and end == "eof", \
        f"the client still sending got: send {sent}, then the stream ended with {end}, not an orderly end"


@pytest.mark.netpie_only
@pytest.mark.broker(log_level="debug")
def test_a_client_that_never_closes_after_the_disconnect_is_closed_after_the_time_bound(broker):
    """A slow-loris client: after the gateway's DISCONNECT (a second CONNECT, 0x82) it keeps the socket open and
    trickles a byte now and then. The gateway closes it once the time bound is over; its sends then fail."""
    s = connect_v5(broker, "loris")
    port = s.getsockname()[1]
    try:
        s.sendall(r.connect("loris", version=r.V5))  # a second CONNECT: Protocol Error (MQTT 5.0 §3.1)
        data, end = read_to_the_end(s, timeout=10)
        assert end == "eof", f"no orderly end after the DISCONNECT: {end}"
        assert packets_of(data)[-1].type == r.DISCONNECT and packets_of(data)[-1].reason == 0x82, data
        # Still open at the gateway (reading and discarding): these sends succeed until the bound closes it,
        # and the first one after that is answered with a reset.
        deadline, failed = time.monotonic() + 60, None
        while time.monotonic() < deadline and failed is None:
            try:
                s.sendall(b"\x00")
            except (BrokenPipeError, ConnectionResetError) as e:
                failed = e
            time.sleep(0.05)
        assert failed is not None, "the gateway never closed a client that did not close after its DISCONNECT"
    finally:
        s.close()
    broker.wait_log(ENDED_RX.format(port=port, why=r"still open \d+ ms after the close"), timeout=10)


@pytest.mark.netpie_only
@pytest.mark.broker(log_level="debug")
def test_a_client_that_floods_after_the_disconnect_is_closed_after_the_byte_bound(broker):
    """A client that sends on and on after the gateway's DISCONNECT is closed once the byte bound is passed (no
    waiting for the time bound); the DISCONNECT was readable before."""
    s = connect_v5(broker, "flood")
    port = s.getsockname()[1]
    try:
        s.sendall(r.connect("flood", version=r.V5))
        chunk, failed, sent = b"\x00" * 65536, None, 0
        while failed is None and sent < 256 * 1024 * 1024:
            try:
                s.sendall(chunk)
                sent += len(chunk)
            except (BrokenPipeError, ConnectionResetError) as e:
                failed = e
        assert failed is not None, f"{sent} bytes sent after the DISCONNECT and the gateway still reads them"
        data, _ = read_to_the_end(s, timeout=10)  # received before the reset: still readable
        assert packets_of(data)[-1:] and packets_of(data)[-1].reason == 0x82, data
    finally:
        s.close()
    broker.wait_log(ENDED_RX.format(port=port, why=r"more than \d+ bytes read after the close"), timeout=10)
