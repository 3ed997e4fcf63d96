"""MQTT over WebSocket (listeners of protocol ws; conf/README.md `websocket`), driven by clients we did not write
and by raw frames built here.

1. MQTT.js (the `ws` transport, as Node apps use it) over ws:// at /mqtt and /, MQTT 3.1.1, 5.0 and 3.1 (MQIsdp,
   sub-protocol mqttv3.1), and over wss:// (the listener's tls block), round trips with mosquitto_pub/sub on the
   TCP listener; a 200 kB payload spans frames and reads.
2. Raw frames: MQTT packets split across frames (fragmented and not, a ping in between) and several packets in
   one frame reach the broker as one stream; a Close is echoed.
3. Bad input: unmasked client frames, reserved opcodes, a 2^63 length, a fragmented ping, a close reason that is
   not UTF-8, a text frame, a frame over websocket.max_frame_bytes, an upgrade without the key, other paths and
   sub-protocols, a plain GET: each gets its close code or HTTP status and closes only that connection (logged);
   a witness WebSocket client keeps working.
4. The upgrade counts as a handshake: an idle connection is closed at handshake_timeout_ms, and past
   max_handshakes new connections are closed at accept.
5. /metrics (curl) and /api/v1/clients name each transport: mqtt, mqtts, ws, wss.
"""
from __future__ import annotations

import json
import socket
import ssl
import subprocess

import pytest

import harness
import netpie_peers as n
import rawmqtt as m
import rawws as w
from peers import MosquittoSub, mosquitto_pub, run_node
from test_ops import metric

pytestmark = pytest.mark.netpie_only


def ws_gateway(broker_factory, ws: dict | None = None, websocket: dict | None = None, **options):
    """A daemon with its plain `mqtt` listener and `ws`, an MQTT-over-WebSocket listener."""
    listener = {"name": "ws", "protocol": "ws", "bind": harness.HOST, "port": 0}
    listener.update(ws or {})
    extra = options.pop("extra", {})
    extra["listeners"] = [{"name": "mqtt", "protocol": "mqtt", "bind": harness.HOST, "port": 0}, listener]
    if websocket:
        extra["websocket"] = websocket
    return broker_factory(extra=extra, **options)


def ws_client(broker, client_id: str, protocols: str = "mqtt") -> w.RawWs:
    """A raw WebSocket client, upgraded and MQTT-connected (3.1.1, CONNACK 0)."""
    c = w.RawWs(broker.ports["ws"])
    c.upgrade("/mqtt", protocols)
    c.send(w.frame(w.BINARY, m.connect(client_id)))
    connack = c.read_mqtt()
    assert connack[:1] == b"\x20" and connack[3] == 0, connack
    return c


def witness_round_trip(broker, witness: w.RawWs, tag: str) -> None:
    """The witness, a WebSocket client subscribed to witness/#, gets a message published over TCP."""
    mosquitto_pub(broker, "witness/x", tag)
    topic, _, payload = m.parse_publish(parse_one(witness.read_mqtt()))
    assert (topic, payload) == ("witness/x", tag.encode())


def parse_one(data: bytes) -> m.Packet:
    length, pos = m.read_varint(data, 1)
    assert len(data) == pos + length, data
    return m.Packet(data[0] >> 4, data[0] & 0x0F, data[pos:])


@pytest.mark.parametrize("version,protocol_id,path,subprotocol", [
    (4, None, "/mqtt", "mqtt"),
    (5, None, "/", "mqtt"),
    (3, "MQIsdp", "/mqtt", "mqttv3.1"),
])
def test_mqttjs_over_ws_round_trips_with_tcp_clients(broker_factory, version, protocol_id, path, subprotocol):
    b = ws_gateway(broker_factory)
    host, port = b.ports["ws"]
    topic = f"ws{version}"
    big = 200_000
    with MosquittoSub(b, f"{topic}/up/#", qos=1, count=4) as sub:
        res = run_node("ws_roundtrip.js", {"url": f"ws://{host}:{port}{path}", "version": version,
                                           "protocolId": protocol_id, "clientId": f"js-ws-{version}",
                                           "tcpHost": b.host, "tcpPort": b.port, "topic": topic, "count": 4,
                                           "qos": 1, "big": big}, timeout=40)
        assert "error" not in res, res
        assert res["subprotocol"] == subprotocol
        assert res["granted"] == [1]
        assert res["down"] == [[f"{topic}/down/x", f"down {i}"] for i in range(4)]
        got = sub.wait_count(4)
    assert [(x.topic, x.payload) for x in got] == [
        (f"{topic}/up/0", b"up 0"), (f"{topic}/up/1", b"b" * big), (f"{topic}/up/2", b"up 2"),
        (f"{topic}/up/3", b"up 3")]
    assert f'client "js-ws-{version}" connected from' in b.log_text()


def test_mqttjs_over_wss_round_trips_with_tcp_clients(broker_factory, certs):
    tls = {"cert_file": str(certs / "server.crt"), "key_file": str(certs / "server.key")}
    b = ws_gateway(broker_factory, ws={"tls": tls})
    host, port = b.ports["ws"]
    with MosquittoSub(b, "wss/up/#", qos=1, count=4) as sub:
        res = run_node("ws_roundtrip.js", {"url": f"wss://{host}:{port}/mqtt", "version": 4, "clientId": "js-wss",
                                           "ca": str(certs / "ca.crt"), "tcpHost": b.host, "tcpPort": b.port,
                                           "topic": "wss", "count": 4, "qos": 1, "big": 100_000}, timeout=40)
        assert "error" not in res, res
        assert res["subprotocol"] == "mqtt"
        assert res["down"] == [["wss/down/x", f"down {i}"] for i in range(4)]
        got = sub.wait_count(4)
    assert [x.payload for x in got] == [b"up 0", b"b" * 100_000, b"up 2", b"up 3"]


def test_packets_split_across_frames_and_several_in_one_frame(broker_factory):
    b = ws_gateway(broker_factory)
    c = w.RawWs(b.ports["ws"])
    c.upgrade("/", "mqttv3.1")
    # CONNECT and SUBSCRIBE in one frame: CONNACK and SUBACK come back.
    c.send(w.frame(w.BINARY, m.connect("raw-ws") + m.subscribe(1, [("back/#", 1)])))
    stream = b""
    while len(stream) < 4 + 5:
        stream += c.read_mqtt()
    assert stream[:4] == b"\x20\x02\x00\x00" and stream[4:] == b"\x90\x03\x00\x01\x01", stream
    with MosquittoSub(b, "split/#", qos=1, count=3) as sub:
        p1 = m.publish("split/a", b"x" * 300, qos=1, pid=10)
        p2 = m.publish("split/b", b"second", qos=1, pid=11)
        p3 = m.publish("split/c", b"third", qos=0)
        # p1 cut into a fragmented message with a ping inside; p2 and the first half of p3 in one frame; the rest
        # of p3 in a frame of its own; the whole written one byte at a time.
        wire = (w.frame(w.BINARY, p1[:3], fin=False) + w.frame(w.PING, b"hi") +
                w.frame(w.CONT, p1[3:100], fin=False) + w.frame(w.CONT, p1[100:]) +
                w.frame(w.BINARY, p2 + p3[:4]) + w.frame(w.BINARY, p3[4:]))
        for i in range(len(wire)):
            c.send(wire[i:i + 1])
        assert c.read_frame() == (w.PONG, True, b"hi")
        acks = b""
        while len(acks) < 8:
            acks += c.read_mqtt()
        assert acks == b"\x40\x02\x00\x0a\x40\x02\x00\x0b"
        got = sub.wait_count(3)
    assert [(x.topic, x.payload) for x in got] == [("split/a", b"x" * 300), ("split/b", b"second"),
                                                   ("split/c", b"third")]
    # Down the other way: a TCP publish reaches the WebSocket subscriber in a binary frame.
    mosquitto_pub(b, "back/1", "down", qos=1)
    topic, pid, payload = m.parse_publish(parse_one(c.read_mqtt()))
    assert (topic, payload) == ("back/1", b"down")
    # A Close from the client is echoed with its code, then the server closes TCP.
    c.send(w.frame(w.BINARY, m.ack(m.PUBACK, pid)) + w.close_frame(1000, b"bye"))
    c.expect_close(1000)


BAD_FRAMES = {
    "unmasked client frame": (w.frame(w.BINARY, m.pingreq(), mask=False), 1002, "unmasked client frame"),
    "reserved data opcode": (w.frame(0x3, b"x"), 1002, "reserved opcode"),
    "reserved control opcode": (w.frame(0xB, b""), 1002, "reserved opcode"),
    "2^63 length": (bytes([0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]), 1002,
                    "64-bit frame length with the top bit set"),
    "fragmented ping": (w.frame(w.PING, b"x", fin=False), 1002, "fragmented control frame"),
    "close reason not UTF-8": (w.close_frame(1000, b"\xc3\x28\xff"), 1007, "close reason is not UTF-8"),
    "text frame": (w.frame(w.TEXT, b"hello"), 1003, "text frame"),
    "frame over max_frame_bytes": (w.frame(w.BINARY, b"", length=4096), 1009, "frame over the size limit"),
}


def test_bad_frames_close_only_that_connection(broker_factory):
    b = ws_gateway(broker_factory, websocket={"max_frame_bytes": "1KiB"})
    witness = ws_client(b, "witness")
    witness.send(w.frame(w.BINARY, m.subscribe(1, [("witness/#", 0)])))
    assert witness.read_mqtt() == b"\x90\x03\x00\x01\x00"
    for n, (name, (bad, code, why)) in enumerate(BAD_FRAMES.items()):
        c = ws_client(b, f"bad-{n}")
        c.send(bad)
        c.expect_close(code)
        b.wait_log(rf"ws: 127\.0\.0\.1:\d+: WebSocket close {code}: {why}")
        witness_round_trip(b, witness, f"after {name}")
    # The broker saw each of them connect and lose the connection; none took the witness with it.
    assert b.log_text().count("disconnected from") >= len(BAD_FRAMES)


BAD_UPGRADES = {
    "no key": ("/mqtt", "mqtt", "", 400, "Sec-WebSocket-Key missing"),
    "other path": ("/other", "mqtt", None, 404, "no WebSocket endpoint at this path"),
    "unknown sub-protocol": ("/mqtt", "wamp", None, 400, "no offered sub-protocol"),
}


def test_bad_upgrades_get_an_http_error_and_close_only_that_connection(broker_factory):
    b = ws_gateway(broker_factory)
    witness = ws_client(b, "witness")
    witness.send(w.frame(w.BINARY, m.subscribe(1, [("witness/#", 0)])))
    assert witness.read_mqtt() == b"\x90\x03\x00\x01\x00"
    for name, (path, protocols, key, status, why) in BAD_UPGRADES.items():
        c = w.RawWs(b.ports["ws"])
        headers = c.upgrade(path, protocols, key=key, expect=status)
        assert headers.get("connection") == "close", (name, headers)
        assert why in headers["_body"], (name, headers)
        c.expect_eof()
        b.wait_log(rf"ws: 127\.0\.0\.1:\d+: WebSocket upgrade refused \({status}\): {why}")
        witness_round_trip(b, witness, f"after {name}")
    # Not an upgrade at all: a browser's plain GET, and MQTT bytes sent to the WebSocket port.
    c = w.RawWs(b.ports["ws"])
    c.send(b"GET /mqtt HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, _ = c.http_response()
    assert status == 426 and headers.get("upgrade") == "websocket", headers
    c.expect_eof()
    c = w.RawWs(b.ports["ws"])
    c.send(m.connect("tcp-on-ws-port") + b"\r\n")  # an MQTT client on the wrong port (the line end: see below)
    status, _, _ = c.http_response()
    assert status == 400
    c.expect_eof()
    witness_round_trip(b, witness, "after plain requests")


def test_the_upgrade_counts_as_a_handshake(broker_factory):
    """A connection that never completes its upgrade (an MQTT client on the WebSocket port, waiting for a
    CONNACK that cannot come, or a slowloris) holds a handshake slot until handshake_timeout_ms (policy
    refuse_new here; close_oldest, the default, is tested in test_tls_listeners.py)."""
    b = ws_gateway(broker_factory,
                   ws={"max_handshakes": 2, "handshake_full_policy": "refuse_new", "handshake_timeout_ms": 3000})
    idle = [socket.create_connection(b.ports["ws"]) for _ in range(2)]
    # The two idle connections hold both slots: a third is closed at accept, before it can say anything.
    third = w.RawWs(b.ports["ws"])
    third.expect_eof()
    b.wait_log(r"ws: 2 handshakes in progress \(max_handshakes\): closing new connections")
    # Both are closed at their deadline, which frees the slots for an upgrade that completes.
    for s in idle:
        s.settimeout(20)
        assert s.recv(100) == b""
        s.close()
    c = ws_client(b, "after-timeouts")
    c.send(w.frame(w.BINARY, m.disconnect()))
    c.expect_eof()


def test_metrics_and_the_clients_list_name_each_transport(broker_factory, certs):
    """Each listener kind has its own `protocol`: mqtt (TCP), mqtts (TLS), ws, wss (WebSocket over TLS), in
    /metrics (curl) and in /api/v1/clients; before, every TCP-based connection said mqtt."""
    tls = {"cert_file": str(certs / "server.crt"), "key_file": str(certs / "server.key")}
    b = broker_factory(extra={"listeners": [
        {"name": "mqtt", "protocol": "mqtt", "bind": harness.HOST, "port": 0},
        {"name": "mqtts", "protocol": "mqtt", "bind": harness.HOST, "port": 0, "tls": tls},
        {"name": "ws", "protocol": "ws", "bind": harness.HOST, "port": 0},
        {"name": "wss", "protocol": "ws", "bind": harness.HOST, "port": 0, "tls": tls},
        {"name": "http", "protocol": "http", "bind": harness.HOST, "port": 0}]})
    http = "http://%s:%d" % b.ports["http"]
    host, port = b.ports["mqtts"]
    sub = subprocess.Popen(["mosquitto_sub", "-h", host, "-p", str(port), "--cafile", str(certs / "ca.crt"),
                            "-i", "held-mqtts", "-t", "names/#", "-C", "1", "-v"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    plain = m.RawClient(b.ports["mqtt"])
    try:
        plain.connect("held-mqtt")
        ws = ws_client(b, "held-ws")
        wss = w.RawWs(b.ports["wss"])
        ctx = ssl.create_default_context(cafile=str(certs / "ca.crt"))
        wss.sock = ctx.wrap_socket(wss.sock, server_hostname="localhost")
        wss.upgrade("/mqtt", "mqtt")
        wss.send(w.frame(w.BINARY, m.connect("held-wss")))
        assert wss.read_mqtt()[:4] == b"\x20\x02\x00\x00"

        def listed() -> dict[str, str] | None:
            status, _, body = n.curl("GET", http + "/api/v1/clients")
            assert status == 200, body
            got = {c["client_id"]: c["protocol"] for c in json.loads(body)["items"]}
            return got if len(got) == 4 else None

        # mosquitto_sub connects on its own time: wait until all four are listed.
        got = harness.wait_for(listed, 20, "four clients in /api/v1/clients")
        assert got == {"held-mqtt": "mqtt", "held-mqtts": "mqtts", "held-ws": "ws", "held-wss": "wss"}
        status, _, text = n.curl("GET", http + "/metrics")
        assert status == 200
        for proto in ("mqtt", "mqtts", "ws", "wss"):
            assert metric(text, "netpie_edge_connections", protocol=proto) == 1, (proto, text)
        for proto in ("mqtts", "ws", "wss"):
            assert metric(text, "netpie_edge_connects_total", protocol=proto) == 1, (proto, text)
        # A message from the wss client to the TLS subscriber is counted on both protocols' rows.
        wss.send(w.frame(w.BINARY, m.publish("names/x", b"from wss")))
        out, err = sub.communicate(timeout=20)
        assert (sub.returncode, out) == (0, "names/x from wss\n"), err
        status, _, text = n.curl("GET", http + "/metrics")
        assert metric(text, "netpie_edge_messages_received_total", protocol="wss", qos="0") == 1, text
        assert metric(text, "netpie_edge_messages_sent_total", protocol="mqtts", qos="0") == 1, text
        assert metric(text, "netpie_edge_messages_received_total", protocol="mqtt", qos="0") in (None, 0), text
    finally:
        plain.close()
        if sub.poll() is None:
            sub.kill()
            sub.communicate()
