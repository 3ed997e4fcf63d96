"""A raw WebSocket client (RFC 6455) for byte-level tests of the ws listeners: the upgrade, frames built here
independently of the gateway's codec (masked or not, any opcode, length and fragmentation), and reading the
server's frames, its Close code and the end of the connection. MQTT packets come from rawmqtt."""
from __future__ import annotations

import base64
import hashlib
import os
import struct
import time

from rawmqtt import RawSocket

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def frame(opcode: int, payload: bytes = b"", fin: bool = True, mask: bool = True, rsv: int = 0,
          length: int | None = None) -> bytes:
    """One frame. `length` overrides the length field (to announce more than is sent)."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | rsv | opcode])
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + struct.pack(">H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack(">Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def close_frame(code: int | None = 1000, reason: bytes = b"") -> bytes:
    return frame(CLOSE, b"" if code is None else struct.pack(">H", code) + reason)


class WsClosed(Exception):
    pass


class RawWs(RawSocket):
    peer = "server"
    closed = WsClosed

    def http_response(self, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
        """The server's HTTP response head: status, headers (lower-case names), and the body when it has a
        Content-Length (the bytes after a 101 stay in the buffer as frames)."""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            self._fill(deadline)
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            headers[k.strip().lower()] = v.strip()
        body = b""
        if status != 101 and "content-length" in headers:
            n = int(headers["content-length"])
            while len(self.buf) < n:
                self._fill(deadline)
            body, self.buf = self.buf[:n], self.buf[n:]
        return status, headers, body

    def upgrade(self, path: str = "/mqtt", protocols: str | None = "mqtt", key: str | None = None,
                extra: str = "", expect: int = 101) -> dict[str, str]:
        """Sends the upgrade request and checks the answer's status (and, for 101, its Accept key)."""
        key = key if key is not None else base64.b64encode(os.urandom(16)).decode()
        req = f"GET {path} HTTP/1.1\r\nHost: {self.sock.getpeername()[0]}\r\nUpgrade: websocket\r\n" \
              f"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        if key:
            req += f"Sec-WebSocket-Key: {key}\r\n"
        if protocols:
            req += f"Sec-WebSocket-Protocol: {protocols}\r\n"
        self.send((req + extra + "\r\n").encode())
        status, headers, body = self.http_response()
        assert status == expect, f"upgrade answered {status}, expected {expect}: {headers} {body!r}"
        if status == 101:
            want = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
            assert headers.get("sec-websocket-accept") == want, headers
        headers["_body"] = body.decode(errors="replace")
        return headers

    def read_frame(self, timeout: float = 10.0) -> tuple[int, bool, bytes]:
        """(opcode, fin, payload) of the server's next frame; the server's frames must be unmasked."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 2:
                b0, b1 = self.buf[0], self.buf[1]
                assert not (b1 & 0x80), "a server frame is masked"
                n, pos = b1 & 0x7F, 2
                if n == 126 and len(self.buf) >= 4:
                    n, pos = struct.unpack(">H", self.buf[2:4])[0], 4
                elif n == 127 and len(self.buf) >= 10:
                    n, pos = struct.unpack(">Q", self.buf[2:10])[0], 10
                if (b1 & 0x7F) < 126 or pos > 2:
                    if len(self.buf) >= pos + n:
                        payload, self.buf = self.buf[pos:pos + n], self.buf[pos + n:]
                        return b0 & 0x0F, bool(b0 & 0x80), payload
            if self.eof:
                raise WsClosed()
            self._fill(deadline)

    def read_mqtt(self, timeout: float = 10.0) -> bytes:
        """The payload of the next binary frame (pings from the server are not expected)."""
        op, _, payload = self.read_frame(timeout)
        assert op == BINARY, f"expected a binary frame, got opcode {op}: {payload!r}"
        return payload

    def expect_close(self, code: int | None, timeout: float = 10.0) -> bytes:
        """Reads until the server's Close frame, checks its code, then requires the TCP connection to end."""
        deadline = time.monotonic() + timeout
        while True:
            op, _, payload = self.read_frame(max(0.0, deadline - time.monotonic()))
            if op == CLOSE:
                break
        got = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None
        assert got == code, f"Close code {got}, expected {code} ({payload!r})"
        self.expect_eof(deadline - time.monotonic())
        return payload[2:]

    def expect_eof(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + max(timeout, 0.1)
        try:
            while True:
                self._fill(deadline)
        except WsClosed:
            return
        except TimeoutError:
            raise AssertionError(f"connection still open after {timeout:.1f}s")

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
