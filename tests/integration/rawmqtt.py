"""MQTT packets built by hand for raw-socket tests, independent of the daemon's own codec.

Each builder follows the spec section it cites and returns bytes; tests that need malformed input splice bytes
themselves. RawClient is a blocking socket with a receive buffer and a minimal packet reader (fixed header and
remaining length only; tests pick apart the bodies they care about).
"""
from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = 8, 9, 10, 11, 12, 13, 14, 15

V31, V311, V5 = 3, 4, 5


def varint(n: int) -> bytes:
    """MQTT 3.1.1 §2.2.3 / 5.0 §1.5.5 variable byte integer."""
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def u16(n: int) -> bytes:
    return struct.pack(">H", n)


def string(s: str | bytes) -> bytes:
    """UTF-8 string / binary data: 2-byte length prefix (§1.5.3, §1.5.4 in 5.0)."""
    b = s.encode() if isinstance(s, str) else s
    return u16(len(b)) + b


def packet(first_byte: int, body: bytes) -> bytes:
    return bytes([first_byte]) + varint(len(body)) + body


def props(raw: bytes = b"") -> bytes:
    """A v5 property block: length then the already-encoded properties."""
    return varint(len(raw)) + raw


def prop_u32(ident: int, v: int) -> bytes:
    return bytes([ident]) + struct.pack(">I", v)


def prop_u16(ident: int, v: int) -> bytes:
    return bytes([ident]) + u16(v)


def prop_user(k: str, v: str) -> bytes:
    return b"\x26" + string(k) + string(v)


def connect(client_id: str = "", version: int = V311, keepalive: int = 60, clean: bool = True,
            will: tuple | None = None, username: str | None = None, password: str | None = None,
            properties: bytes = b"", will_properties: bytes = b"") -> bytes:
    """CONNECT (3.1.1 §3.1, 5.0 §3.1). will = (topic, payload, qos, retain)."""
    name = b"MQIsdp" if version == V31 else b"MQTT"
    flags = 0
    if clean:
        flags |= 0x02
    payload = string(client_id)
    if will:
        topic, wpayload, wqos, wretain = (list(will) + [0, False])[:4]
        flags |= 0x04 | (wqos << 3) | (0x20 if wretain else 0)
        if version == V5:
            payload += props(will_properties)
        payload += string(topic) + string(wpayload)
    if username is not None:
        flags |= 0x80
        payload += string(username)
    if password is not None:
        flags |= 0x40
        payload += string(password)
    var = string(name) + bytes([version, flags]) + u16(keepalive)
    if version == V5:
        var += props(properties)
    return packet(0x10, var + payload)


def publish(topic: str | bytes, payload: bytes = b"", qos: int = 0, pid: int = 1, retain: bool = False,
            dup: bool = False, version: int = V311, properties: bytes = b"") -> bytes:
    """PUBLISH (§3.3). `topic` may be raw bytes so tests can send invalid UTF-8."""
    first = 0x30 | (0x08 if dup else 0) | (qos << 1) | (0x01 if retain else 0)
    var = string(topic)
    if qos:
        var += u16(pid)
    if version == V5:
        var += props(properties)
    return packet(first, var + payload)


def subscribe(pid: int, filters: list[tuple[str, int]], version: int = V311, properties: bytes = b"") -> bytes:
    """SUBSCRIBE (§3.8): fixed header flags must be 0010."""
    var = u16(pid) + (props(properties) if version == V5 else b"")
    body = b"".join(string(f) + bytes([opts]) for f, opts in filters)
    return packet(0x82, var + body)


def unsubscribe(pid: int, filters: list[str | bytes], version: int = V311) -> bytes:
    """UNSUBSCRIBE (§3.10): fixed header flags must be 0010."""
    var = u16(pid) + (props() if version == V5 else b"")
    return packet(0xA2, var + b"".join(string(f) for f in filters))


def ack(kind: int, pid: int, reason: int | None = None) -> bytes:
    """PUBACK/PUBREC/PUBCOMP (flags 0) and PUBREL (flags 0010); 3.1.1 form, or v5 with a reason code and no
    properties (5.0 §3.4.2.2.1)."""
    return packet((kind << 4) | (0x02 if kind == PUBREL else 0), u16(pid) + (b"" if reason is None else bytes([reason])))


def pingreq() -> bytes:
    return b"\xc0\x00"


def disconnect(version: int = V311, reason: int = 0) -> bytes:
    if version == V5 and reason:
        return packet(0xE0, bytes([reason]) + props())
    return b"\xe0\x00"


@dataclass
class Packet:
    type: int
    flags: int
    body: bytes

    def __repr__(self) -> str:
        return f"Packet(type={self.type}, flags={self.flags:#x}, body={self.body.hex()})"

    @property
    def reason(self) -> int | None:
        """CONNACK return code / v5 reason code, or a v5 DISCONNECT's reason (0 when omitted)."""
        if self.type == CONNACK:
            return self.body[1]
        if self.type == DISCONNECT:
            return self.body[0] if self.body else 0
        return None


class Closed(Exception):
    pass


def read_varint(buf: bytes, pos: int) -> tuple[int, int] | None:
    value, mult = 0, 1
    for i in range(4):
        if pos + i >= len(buf):
            return None
        b = buf[pos + i]
        value += (b & 0x7F) * mult
        if not b & 0x80:
            return value, pos + i + 1
        mult *= 128
    raise ValueError("malformed remaining length from the server")


def parse_publish(p: Packet, version: int = V311) -> tuple[str, int | None, bytes]:
    """(topic, packet id or None, payload) of a PUBLISH; v5 properties are skipped."""
    assert p.type == PUBLISH, p
    n = struct.unpack(">H", p.body[:2])[0]
    topic = p.body[2:2 + n].decode()
    pos = 2 + n
    pid = None
    if (p.flags >> 1) & 3:
        pid = struct.unpack(">H", p.body[pos:pos + 2])[0]
        pos += 2
    if version == V5:
        plen, pos = read_varint(p.body, pos)
        pos += plen
    return topic, pid, p.body[pos:]


class RawSocket:
    """A TCP connection read into a buffer before a deadline; `eof` once the peer closed. Subclasses name the
    peer (for the timeout message) and the exception a close raises."""
    peer = "peer"
    closed: type[Exception] = Closed

    def __init__(self, address: tuple[str, int], timeout: float = 10.0):
        self.sock = socket.create_connection(address, timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self, deadline: float) -> None:
        """Appends what the peer sent next (up to 64 KiB); raises `closed` when it closed or reset the
        connection, TimeoutError when nothing came before `deadline` (time.monotonic())."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no data from the {self.peer} in time")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError(f"no data from the {self.peer} in time")
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            raise self.closed()
        self.buf += data


class RawClient(RawSocket):
    peer = "broker"

    def try_send(self, data: bytes) -> bool:
        """Sends, reporting False if the peer already closed (EPIPE/ECONNRESET) instead of raising."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def read_packet(self, timeout: float = 10.0) -> Packet:
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 2:
                r = read_varint(self.buf, 1)
                if r is not None:
                    length, pos = r
                    if len(self.buf) >= pos + length:
                        p = Packet(self.buf[0] >> 4, self.buf[0] & 0x0F, self.buf[pos:pos + length])
                        self.buf = self.buf[pos + length:]
                        return p
            if self.eof:
                raise Closed()
            self._fill(deadline)

    def expect(self, ptype: int, timeout: float = 10.0) -> Packet:
        p = self.read_packet(timeout)
        assert p.type == ptype, f"expected packet type {ptype}, got {p}"
        return p

    def read_until_closed(self, timeout: float = 10.0) -> list[Packet]:
        """Reads packets until the broker closes the connection; fails if it is still open at the deadline."""
        deadline = time.monotonic() + timeout
        got = []
        while True:
            try:
                got.append(self.read_packet(max(0.0, deadline - time.monotonic())))
            except Closed:
                return got
            except TimeoutError:
                raise AssertionError(f"connection still open after {timeout}s; packets received: {got}")

    def connect(self, client_id: str = "", version: int = V311, expect_rc: int = 0, **kw) -> Packet:
        self.send(connect(client_id, version=version, **kw))
        p = self.expect(CONNACK)
        assert p.reason == expect_rc, f"CONNACK code {p.reason}, expected {expect_rc}: {p}"
        return p

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> "RawClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
