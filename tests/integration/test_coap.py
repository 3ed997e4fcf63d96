"""The CoAP front end (gateway/coap/README.md) with clients we did not write: coap-client (Debian libcoap3-bin) and
node-coap (npm `coap`, js/coap_client.js), and MQTT on the other side (mosquitto_sub/pub) or the official Node
microgear. Byte-level cases (retransmissions, malformed datagrams) use the raw datagrams built below.

The microgear tests bind the microgear library's fixed ports on 127.0.44.<n> (this file's loopback block); every
other daemon listens on port 0.
"""
from __future__ import annotations

import json
import os
import random
import re
import shutil
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest

import harness
import netpie_peers as n
from peers import MosquittoSub, mosquitto_pub

pytestmark = pytest.mark.netpie_only

HERE = Path(__file__).resolve().parent
COAP_JS = HERE / "js" / "coap_client.js"
AUTH = f"{n.KEY}:{n.SECRET}"


def coap_client_bin() -> str:
    for name in ("coap-client", "coap-client-openssl", "coap-client-gnutls", "coap-client-notls"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("coap-client is not installed (Debian libcoap3-bin; deploy/install-deps.sh --test)")


def coap_client_dtls_bin() -> str:
    for name in ("coap-client-openssl", "coap-client-gnutls"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no DTLS-capable coap-client (Debian libcoap3-bin)")


def coap_listeners(host: str = harness.HOST, coaps: bool = False) -> list[dict]:
    ls = [{"name": "mqtt", "protocol": "mqtt", "bind": host, "port": 0},
          {"name": "coap", "protocol": "coap", "bind": host, "port": 0}]
    if coaps:
        ls.append({"name": "coaps", "protocol": "coaps", "bind": host, "port": 0})
    return ls


def start(broker_factory, coap: dict | None = None, coaps: bool = False, **extra):
    cfg = {"listeners": coap_listeners(coaps=coaps)}
    if coap:
        cfg["coap"] = coap
    cfg.update(extra.pop("extra", {}))
    b = broker_factory(extra=cfg, **extra)
    if b.alive():
        assert b.ports["coap"][1] != 0, b.ports
    return b


def url(b, path: str, scheme: str = "coap", listener: str = "coap") -> str:
    host, port = b.ports[listener]
    return f"{scheme}://{host}:{port}/{path}"


def coap_client(args: list[str], binary: str | None = None, timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run([binary or coap_client_bin(), *args], capture_output=True, timeout=timeout)


def node_coap(args: dict, timeout: float = 30) -> dict:
    p = subprocess.run(["node", str(COAP_JS), json.dumps(args)], capture_output=True, text=True, timeout=timeout,
                       cwd=HERE)
    lines = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
    assert lines, f"node-coap printed nothing: rc {p.returncode}\n{p.stderr}"
    return lines[-1]


class NodeObserver:
    """node-coap observing a path in the background (js/coap_client.js mode observe)."""

    def __init__(self, b, path: str, count: int, query: str = "", timeout_ms: int = 60000):
        host, port = b.ports["coap"]
        args = {"mode": "observe", "host": host, "port": port, "path": path, "query": query, "count": count,
                "timeout_ms": timeout_ms}
        self.proc = subprocess.Popen(["node", str(COAP_JS), json.dumps(args)], stdout=subprocess.PIPE, text=True,
                                     cwd=HERE, preexec_fn=harness.die_with_parent)
        self.events: list[dict] = []

    def next(self, timeout: float = 30) -> dict:
        line = self.proc.stdout.readline()
        assert line, f"node-coap observer ended (rc {self.proc.wait(5)}) after {self.events}"
        ev = json.loads(line)
        self.events.append(ev)
        return ev

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)


# -- raw datagrams (RFC 7252 §3) -----------------------------------------------------------------------------------
CON, NON, ACK, RST = 0, 1, 2, 3
GET, POST, PUT, DELETE = 1, 2, 3, 4


def _ext(x: int) -> tuple[int, bytes]:
    if x < 13:
        return x, b""
    if x < 269:
        return 13, bytes([x - 13])
    return 14, struct.pack(">H", x - 269)


def encode(mtype: int, code: int, mid: int, token: bytes = b"", options: list[tuple[int, bytes]] = (),
           payload: bytes = b"") -> bytes:
    out = bytes([0x40 | mtype << 4 | len(token), code]) + struct.pack(">H", mid) + token
    prev = 0
    for number, value in sorted(options, key=lambda o: o[0]):
        d, de = _ext(number - prev)
        ln, le = _ext(len(value))
        out += bytes([d << 4 | ln]) + de + le + value
        prev = number
    if payload:
        out += b"\xff" + payload
    return out


def uri(path: str, query: list[str] = ()) -> list[tuple[int, bytes]]:
    return [(11, seg.encode()) for seg in path.split("/")] + [(15, q.encode()) for q in query]


def decode(data: bytes) -> dict:
    tkl = data[0] & 0x0F
    code = data[1]
    m = {"type": (data[0] >> 4) & 3, "code": f"{code >> 5}.{code & 31:02d}", "mid": struct.unpack(">H", data[2:4])[0],
         "token": data[4:4 + tkl], "options": [], "payload": b""}
    i, number = 4 + tkl, 0
    while i < len(data):
        if data[i] == 0xFF:
            m["payload"] = data[i + 1:]
            break
        d, ln = data[i] >> 4, data[i] & 15
        i += 1
        for which in ("d", "l"):
            v = d if which == "d" else ln
            if v == 13:
                v, i = data[i] + 13, i + 1
            elif v == 14:
                v, i = struct.unpack(">H", data[i:i + 2])[0] + 269, i + 2
            if which == "d":
                d = v
            else:
                ln = v
        number += d
        m["options"].append((number, data[i:i + ln]))
        i += ln
    return m


class Raw:
    """A UDP socket speaking raw CoAP to the gateway."""

    def __init__(self, b, listener: str = "coap"):
        host, port = b.ports[listener]
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.connect((host, port))
        self.mid = random.randrange(1 << 16)

    def send(self, data: bytes):
        self.sock.send(data)

    def recv(self, timeout: float = 10) -> dict | None:
        self.sock.settimeout(timeout)
        try:
            return decode(self.sock.recv(70000))
        except socket.timeout:
            return None

    def next_mid(self) -> int:
        self.mid = (self.mid + 1) & 0xFFFF
        return self.mid

    def request(self, method: int, path: str, query: list[str] = (), payload: bytes = b"", mtype: int = CON,
                token: bytes = b"\x42", extra: list[tuple[int, bytes]] = ()) -> dict:
        """One request; follows a separate response (empty ACK first) and acknowledges a CON response."""
        mid = self.next_mid()
        self.send(encode(mtype, method, mid, token, [*uri(path, query), *extra], payload))
        while True:
            m = self.recv()
            assert m is not None, f"no answer to {path}"
            if m["type"] == ACK and m["code"] == "0.00":
                continue  # separate response follows
            if m["type"] == CON:
                self.send(encode(ACK, 0, m["mid"]))
            if m["token"] == token:
                return m

    def close(self):
        self.sock.close()


def drain(raw: Raw, done, settle: float = 0.3) -> list[dict]:
    """Datagrams until done(list) holds (10 s at most), then whatever else arrives within `settle` seconds (the
    answers to retransmissions still on their way); CON responses are acknowledged."""
    got: list[dict] = []
    while not done(got):
        m = raw.recv(10)
        assert m is not None, f"no more answers after {got}"
        got.append(m)
        if m["type"] == CON:
            raw.send(encode(ACK, 0, m["mid"]))
    while (m := raw.recv(settle)) is not None:
        got.append(m)
        if m["type"] == CON:
            raw.send(encode(ACK, 0, m["mid"]))
    return got


def max_age(m: dict) -> int | None:
    for number, value in m["options"]:
        if number == 14:
            return int.from_bytes(value, "big") if value else 0
    return None


# -- publish, read, observe ----------------------------------------------------------------------------------------
def test_coap_client_publish_reaches_mosquitto_sub_and_retained_read(broker_factory, tmp_path):
    b = start(broker_factory)
    with MosquittoSub(b, "home/#", qos=1) as sub:
        p = coap_client(["-m", "put", "-e", "21.5", url(b, "ps/home/temp?qos=1&retain")])
        assert p.returncode == 0, p.stderr
        sub.wait_topic_payload("home/temp", b"21.5")
        p = coap_client(["-N", "-m", "post", "-e", "non", url(b, "ps/home/hall")])
        assert p.returncode == 0, p.stderr
        sub.wait_topic_payload("home/hall", b"non")
    # The retained value, and 4.04 for a topic without one.
    p = coap_client(["-m", "get", url(b, "ps/home/temp")])
    assert p.returncode == 0 and p.stdout.strip() == b"21.5", p
    p = coap_client(["-m", "get", url(b, "ps/home/none")])
    assert b"4.04" in p.stdout + p.stderr, p
    # Discovery.
    p = coap_client(["-m", "get", url(b, ".well-known/core")])
    assert b"</ps>" in p.stdout and b"</topic>" in p.stdout, p


def test_mqtt_publishes_reach_a_coap_observer_in_order(broker_factory):
    b = start(broker_factory)
    count = 60
    mosquitto_pub(b, "feed/retained", "r0", qos=1, retain=True)
    obs = NodeObserver(b, "ps/feed/%23", count + 1)  # +1: the retained message comes first
    try:
        assert obs.next()["ev"] == "registered"
        assert obs.next() == {"ev": "message", "payload": "r0"}
        mosquitto_pub(b, "feed/x", lines=[f"m{i}" for i in range(count)], qos=1)
        got = [obs.next()["payload"] for _ in range(count)]
        assert got == [f"m{i}" for i in range(count)]
        assert obs.next()["ev"] == "done"
    finally:
        obs.close()


def test_coap_client_observe_with_qos1_and_cancel(broker_factory):
    """coap-client observes (?qos=1: CON notifications) for a few seconds, then deregisters (Observe 1); the
    daemon's debug log marks both, so the publishes go in between without guessing at timing."""
    b = start(broker_factory, log_level="debug")
    proc = subprocess.Popen([coap_client_bin(), "-s", "4", "-m", "get", url(b, "ps/obs/one?qos=1")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=harness.die_with_parent)
    try:
        b.wait_log(r"coap: .* observes obs/one \(qos 1\)", 15)
        for i in range(5):
            mosquitto_pub(b, "obs/one", f"n{i}", qos=1)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = out.decode()
    positions = [text.find(f"n{i}") for i in range(5)]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), (text, err)
    b.wait_log(r"coap: .* stops observing obs/one", 15)


# -- NETPIE NB-IoT paths -----------------------------------------------------------------------------------------
def netpie_gateway(broker_factory, addr: str, netpie: dict | None = None):
    listeners = [{"name": "mqtt", "protocol": "mqtt", "bind": addr, "port": 1883},
                 {"name": "http", "protocol": "http", "bind": addr, "port": 8080},
                 {"name": "coap", "protocol": "coap", "bind": addr, "port": 0}]
    return n.start_gateway(broker_factory, addr, netpie=netpie, extra={"listeners": listeners})


def test_netpie_paths_reach_a_microgear_with_the_keys_rights(broker_factory, agents, tmp_path):
    addr = "127.0.44.1"
    limited = {"key": n.LIMITED_KEY, "secret": n.LIMITED_SECRET}  # rights: /allowed/# only
    gw = netpie_gateway(broker_factory, addr)
    g = agents(addr, tmp_path / "g.cache", alias="lamp")
    g.wait_ev("connected")
    g.wait(lambda e: e["ev"] == "present" and e["data"].get("alias") == "lamp", what="its alias set")
    g.send(op="subscribe", topic="/home/light")
    g.wait_ev("subscribed", topic="/home/light", ok=1)
    # The NB-IoT library's PUT (NON by default) and coap-client's CON both reach the microgear.
    p = coap_client(["-N", "-m", "put", "-e", "on", url(gw, f"topic/{n.APPID}/home/light?auth={AUTH}")])
    assert p.returncode == 0, p
    m = g.wait_ev("message", msg="on")
    assert m["topic"] == f"/{n.APPID}/home/light"
    r = node_coap({"mode": "request", "host": addr, "port": gw.ports["coap"][1], "method": "PUT",
                   "path": f"/topic/{n.APPID}/home/light", "query": f"auth={AUTH}&retain", "payload": "off"})
    assert r["code"] == "2.04", r
    g.wait_ev("message", msg="off")
    # Chat to the alias.
    r = node_coap({"mode": "request", "host": addr, "port": gw.ports["coap"][1], "method": "PUT",
                   "path": f"/microgear/{n.APPID}/lamp", "query": f"auth={AUTH}", "payload": "blink"})
    assert r["code"] == "2.04", r
    assert g.wait_ev("message", msg="blink")["topic"] == f"/{n.APPID}/gearname/lamp"
    # Retained read: the REST API's JSON.
    r = node_coap({"mode": "request", "host": addr, "port": gw.ports["coap"][1], "method": "GET",
                   "path": f"/topic/{n.APPID}/home/light", "query": f"auth={AUTH}"})
    assert r["code"] == "2.05" and json.loads(r["payload"])[0]["payload"] == "off", r
    # Bad auth: 4.01; another app: 4.03; a key without the right: 4.03; nothing reached the microgear.
    base = {"mode": "request", "host": addr, "port": gw.ports["coap"][1], "method": "PUT", "payload": "x"}
    for path, query, code in [(f"/topic/{n.APPID}/home/light", f"auth={n.KEY}:wrong", "4.01"),
                              (f"/topic/{n.APPID}/home/light", "", "4.01"),
                              ("/topic/otherapp/home/light", f"auth={AUTH}", "4.03"),
                              (f"/topic/{n.APPID}/home/light", f"auth={limited['key']}:{limited['secret']}", "4.03")]:
        r = node_coap({**base, "path": path, "query": query})
        assert r["code"] == code, (path, query, r)
    r = node_coap({**base, "path": f"/topic/{n.APPID}/allowed/x", "query": f"auth={limited['key']}:{limited['secret']}"})
    assert r["code"] == "2.04", r
    g.send(op="publish", topic="/home/light", msg="end")
    g.wait_ev("message", msg="end")
    assert not [e for e in g.events if e.get("ev") == "message" and e.get("msg") == "x"], g.events


def test_coap_publish_reaches_a_microgear(broker_factory, agents, tmp_path):
    """The pub/sub mapping too: a ps/ publish on the microgear's topic (anonymous from loopback)."""
    addr = "127.0.44.2"
    gw = netpie_gateway(broker_factory, addr)
    g = agents(addr, tmp_path / "g.cache", alias="s")
    g.wait_ev("connected")
    g.send(op="subscribe", topic="/sensor")
    g.wait_ev("subscribed", topic="/sensor", ok=1)
    p = coap_client(["-m", "put", "-e", "42", url(gw, f"ps//{n.APPID}/sensor")])
    assert p.returncode == 0, p
    assert g.wait_ev("message", msg="42")["topic"] == f"/{n.APPID}/sensor"


# -- block-wise, DTLS --------------------------------------------------------------------------------------------
def test_blockwise_publish_of_64_kib(broker_factory, tmp_path):
    b = start(broker_factory)
    body = bytes(random.Random(7).randrange(256) for _ in range(64 * 1024))
    f = tmp_path / "body"
    f.write_bytes(body)
    with MosquittoSub(b, "big/t", qos=1) as sub:
        p = coap_client(["-m", "put", "-b", "1024", "-f", str(f), url(b, "ps/big/t?qos=1")], timeout=60)
        assert p.returncode == 0, p
        m = sub.wait_message(lambda m: m.topic == "big/t", timeout=30)
        assert m.payload == body
    # Over coap.max_payload: 4.13, nothing published.
    (tmp_path / "over").write_bytes(body + b"x")
    p = coap_client(["-m", "put", "-b", "1024", "-f", str(tmp_path / "over"), url(b, "ps/big/t")], timeout=60)
    assert b"4.13" in p.stdout + p.stderr, p


def test_dtls_psk_round_trip_and_wrong_key_refused(broker_factory):
    b = start(broker_factory, coaps=True, coap={"psk": [{"identity": "sensor1", "key": "s3cret-psk"}]})
    client = coap_client_dtls_bin()
    with MosquittoSub(b, "secure/#", qos=1) as sub:
        p = coap_client(["-u", "sensor1", "-k", "s3cret-psk", "-m", "put", "-e", "hello",
                         url(b, "ps/secure/t?qos=1", "coaps", "coaps")], binary=client)
        assert p.returncode == 0, p
        sub.wait_topic_payload("secure/t", b"hello")
        p = coap_client(["-u", "sensor1", "-k", "s3cret-psk", "-m", "get", url(b, "ps/secure/t", "coaps", "coaps")],
                        binary=client)
        # Nothing retained: 4.04 over DTLS is still an answer.
        assert b"4.04" in p.stdout + p.stderr, p
        for ident, key in (("sensor1", "wrong-key"), ("nobody", "s3cret-psk")):
            p = coap_client(["-u", ident, "-k", key, "-B", "3", "-m", "put", "-e", "evil",
                             url(b, "ps/secure/t", "coaps", "coaps")], binary=client)
            assert b"evil" not in p.stdout
        mosquitto_pub(b, "secure/t", "witness", qos=1)
        sub.wait_topic_payload("secure/t", b"witness")
        assert not [m for m in sub.messages if m.payload == b"evil"]
    # The plain listener does not speak DTLS and the DTLS one no plain CoAP.
    raw = Raw(b, "coaps")
    raw.send(encode(CON, PUT, 1, b"\x01", uri("ps/secure/t"), b"plain"))
    assert raw.recv(2) is None
    raw.close()


def test_dtls_certificate_round_trip_and_unknown_client_refused(broker_factory, certs):
    """coaps with certificates (coap.cert_file/key_file, and coap.ca_file so that clients must present one signed
    by it): coap-client with the test CA's client certificate publishes and reads over DTLS; a client
    certificate from another CA, or none, is refused and publishes nothing."""
    b = start(broker_factory, coaps=True, coap={"cert_file": str(certs / "server.crt"),
                                                "key_file": str(certs / "server.key"),
                                                "ca_file": str(certs / "ca.crt")})
    client = coap_client_dtls_bin()
    good = ["-c", str(certs / "client.crt"), "-j", str(certs / "client.key"), "-C", str(certs / "ca.crt")]
    with MosquittoSub(b, "pki/#", qos=1) as sub:
        p = coap_client([*good, "-m", "put", "-e", "signed", url(b, "ps/pki/t?qos=1&retain", "coaps", "coaps")],
                        binary=client)
        assert p.returncode == 0, p
        sub.wait_topic_payload("pki/t", b"signed")
        p = coap_client([*good, "-m", "get", url(b, "ps/pki/t", "coaps", "coaps")], binary=client)
        assert p.stdout.strip() == b"signed", p
        wrong = ["-c", str(certs / "wrong-client.crt"), "-j", str(certs / "wrong-client.key")]
        for creds, alert in ((wrong, b"unknown CA"), ([], b"handshake failure")):
            p = coap_client([*creds, "-B", "3", "-m", "put", "-e", "evil", url(b, "ps/pki/t", "coaps", "coaps")],
                            binary=client)
            assert alert in p.stdout + p.stderr, p  # the server's DTLS alert, as coap-client logs it
        mosquitto_pub(b, "pki/t", "witness", qos=1)
        sub.wait_topic_payload("pki/t", b"witness")
        assert not [m for m in sub.messages if m.payload == b"evil"]


# -- exchanges: retransmission, outbox full --------------------------------------------------------------------
@pytest.mark.parametrize("durable", [False, True], ids=["memory", "outbox"])
def test_con_retransmission_is_answered_again_but_published_once(broker_factory, durable):
    from dura_common import store_config
    extra = {"store": store_config(["dup/#"])} if durable else {}
    b = start(broker_factory, extra=extra)
    raw = Raw(b)
    with MosquittoSub(b, "dup/#", qos=1) as sub:
        for i in range(5):
            mid = raw.next_mid()
            dgram = encode(CON, PUT, mid, bytes([i]), uri("dup/t".join(["ps/", ""]), ["qos=1"]), f"once{i}".encode())
            for _ in range(3):  # the original and two retransmissions, back to back
                raw.send(dgram)
            answers = drain(raw, lambda ms: any(m["code"] == "2.04" for m in ms))
            assert any(a["code"] == "2.04" for a in answers), answers
        # A retransmission after the answer gets the answer again (from the exchange cache), piggybacked.
        raw.send(dgram)
        again = drain(raw, lambda ms: any(m["mid"] == mid for m in ms))
        assert [m["code"] for m in again if m["mid"] == mid] == ["2.04"], again
        mosquitto_pub(b, "dup/end", "end", qos=1)
        sub.wait_topic_payload("dup/end", b"end")
        got = [m.payload for m in sub.messages if m.topic == "dup/t"]
        assert got == [f"once{i}".encode() for i in range(5)], got
    if durable:
        assert b.outbox_rows() == 6
    raw.close()


def test_answer_that_waits_for_the_commit_is_one_datagram(broker_factory):
    """A CON publish bound for the outbox gets its 2.04 piggybacked in a late ACK with the request's message id
    once the store committed: one datagram, not an empty ACK + a separate CON response + the client's ACK
    (gateway/coap/README.md "Durability and duplicates"). A NON one gets one NON 2.04, no empty ACK."""
    from dura_common import store_config
    b = start(broker_factory, extra={"store": store_config(["late/#"])})
    raw = Raw(b)
    with MosquittoSub(b, "late/#", qos=1) as sub:
        for i, mtype in enumerate([CON, CON, NON, CON]):
            mid, token = raw.next_mid(), bytes([0x50, i])
            raw.send(encode(mtype, PUT, mid, token, uri("ps/late/t", ["qos=1"]), f"m{i}".encode()))
            got = drain(raw, lambda ms: len(ms) >= 1, settle=0.5)
            assert len(got) == 1, got
            m = got[0]
            assert m["code"] == "2.04" and m["token"] == token, m
            if mtype == CON:
                assert (m["type"], m["mid"]) == (ACK, mid), m
            else:
                assert m["type"] == NON, m
            assert b.outbox_rows() == i + 1  # answered after the commit
        sub.wait_topic_payload("late/t", b"m3")
    raw.close()


def test_outbox_full_answers_4_29_with_max_age(broker_factory):
    from dura_common import store_config
    b = start(broker_factory, extra={"store": store_config(["full/#"], max_rows=3)})
    raw = Raw(b)
    codes = [raw.request(PUT, "ps/full/t", ["qos=1"], f"m{i}".encode(), token=bytes([i + 1]))["code"] for i in range(3)]
    assert codes == ["2.04"] * 3
    refused = raw.request(PUT, "ps/full/t", ["qos=1"], b"m3", token=b"\x09")
    assert refused["code"] == "4.29" and max_age(refused) is not None, refused
    # A QoS 0 (NON) publish is not bound for the outbox's durability: answered, counted as refused there.
    assert b.outbox_rows() == 3
    # node-coap sees the same answer.
    r = node_coap({"mode": "request", "host": b.ports["coap"][0], "port": b.ports["coap"][1], "method": "PUT",
                   "path": "/ps/full/t", "query": "qos=1", "payload": "m4"})
    assert r["code"] == "4.29", r
    raw.close()


def test_exchange_cache_bound_refuses_new_con_requests(broker_factory):
    """coap.max_exchanges: past it a new CON publish gets 5.03 with Max-Age and is not published; remembered
    answers still answer their retransmissions."""
    b = start(broker_factory, coap={"max_exchanges": 16})
    raw = Raw(b)
    with MosquittoSub(b, "ex/#", qos=1) as sub:
        first = None
        for i in range(16):
            mid = raw.next_mid()
            dgram = encode(CON, PUT, mid, bytes([i]), uri("ps/ex/t"), f"m{i}".encode())
            first = first or dgram
            raw.send(dgram)
            assert raw.recv()["code"] == "2.04"
        refused = raw.request(PUT, "ps/ex/t", payload=b"over", token=b"\x77")
        assert refused["code"] == "5.03" and max_age(refused) is not None, refused
        raw.send(first)  # a retransmission of a remembered exchange: answered, not published again
        assert raw.recv()["code"] == "2.04"
        mosquitto_pub(b, "ex/end", "end", qos=1)
        sub.wait_topic_payload("ex/end", b"end")
        assert [m.payload for m in sub.messages if m.topic == "ex/t"] == [f"m{i}".encode() for i in range(16)]
    raw.close()


# -- the listeners' socket receive buffer (coap.receive_buffer) -------------------------------------------------
CAP_NET_ADMIN = 12


def has_net_admin() -> bool:
    """Whether this process (and so the daemon it starts) holds CAP_NET_ADMIN."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> CAP_NET_ADMIN & 1)
    return False


def may_force() -> bool:
    """Whether the daemon's SO_RCVBUFFORCE will work: CAP_NET_ADMIN in the initial user namespace (the kernel checks
    it there; root inside a rootless container holds it only in its own namespace)."""
    initial_ns = Path("/proc/self/uid_map").read_text().split() == ["0", "0", "4294967295"]
    return has_net_admin() and initial_ns


def rmem_max() -> int:
    return int(Path("/proc/sys/net/core/rmem_max").read_text())


def receive_buffer_of(port: int) -> int:
    """`rb` of the UDP socket bound to `port` from `ss -uamn` (iproute2): the bytes the kernel lets its receive queue
    hold, twice the SO_RCVBUF value (the kernel doubles it for its bookkeeping)."""
    ss = shutil.which("ss") or shutil.which("/sbin/ss")
    assert ss, "ss is not installed (Debian iproute2; deploy/install-deps.sh --test)"
    p = subprocess.run([ss, "-uamnH", f"sport = :{port}"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 0, p
    rbs = [int(m) for m in re.findall(r"skmem:\(\S*?\brb(\d+)", p.stdout)]
    assert len(rbs) == 1, f"expected one UDP socket on port {port}:\n{p.stdout}"
    return rbs[0]


def check_receive_buffer(b, listener: str, asked: int, may_force: bool) -> str:
    """The listener's socket has at least `asked` bytes, or, where the kernel would not give them (past
    net.core.rmem_max without CAP_NET_ADMIN), the daemon warned once naming the listener, the sizes and the sysctl.
    Returns which of the two applied."""
    rb = receive_buffer_of(b.ports[listener][1])
    warnings = re.findall(rf"WARN +coap: listener {listener} \(\S+\): receive buffer {asked} bytes asked "
                          rf"\(coap\.receive_buffer\), (\d+) obtained: net\.core\.rmem_max is (\d+); raise it "
                          rf"with 'sysctl -w net\.core\.rmem_max={asked}'", b.log_text())
    if may_force or rmem_max() >= asked:
        assert rb >= asked, f"{listener}: rb {rb} < {asked} asked"
        assert not warnings, warnings
        return "set"
    assert len(warnings) == 1, f"{listener}: rb {rb} < {asked} asked and no (or more than one) warning:\n" \
                               f"{b.log_tail()}"
    obtained, limit = (int(x) for x in warnings[0])
    assert limit == rmem_max() and obtained < asked and rb == 2 * obtained, (warnings, rb)
    return "warned"


def test_receive_buffer_of_coap_and_coaps_sockets(broker_factory):
    """coap.receive_buffer is SO_RCVBUF of each coap and coaps listener's socket (libcoap 4.3.1 keeps the socket to
    itself: the daemon finds it by its bound address), SO_RCVBUFFORCE past net.core.rmem_max where allowed (root,
    CAP_NET_ADMIN), else one warning per listener; the daemon serves either way. The default is 2 MiB."""
    psk = [{"identity": "sensor1", "key": "s3cret-psk"}]
    b = start(broker_factory, coaps=True, coap={"receive_buffer": "1MiB", "psk": psk})
    outcome = {name: check_receive_buffer(b, name, 1 << 20, may_force()) for name in ("coap", "coaps")}
    print(f"receive buffer 1MiB: {outcome}")
    raw = Raw(b)
    assert raw.request(PUT, "ps/rb/t", ["qos=0"], b"served")["code"] == "2.04"
    raw.close()
    default = start(broker_factory)
    print(f"default 2MiB: {check_receive_buffer(default, 'coap', 2 << 20, may_force())}")
    # Past net.core.rmem_max, with CAP_NET_ADMIN: SO_RCVBUFFORCE gets it all (without, the next test).
    if may_force() and rmem_max() < 256 << 20:
        asked = min(256 << 20, 2 * rmem_max())
        forced = start(broker_factory, coap={"receive_buffer": asked})
        assert check_receive_buffer(forced, "coap", asked, True) == "set"
        print(f"{asked} bytes, past net.core.rmem_max {rmem_max()}: set")


def test_receive_buffer_past_rmem_max_without_cap_net_admin_warns_and_serves(broker_factory):
    """Asked for more than net.core.rmem_max without CAP_NET_ADMIN (dropped with setpriv when this test has it), the
    daemon gets what the kernel gives, warns once per listener naming the sysctl that raises it, and serves."""
    asked = 256 << 20  # the largest value coap.receive_buffer takes
    b = start(broker_factory, start=False, coaps=True,
              coap={"receive_buffer": "256MiB", "psk": [{"identity": "sensor1", "key": "s3cret-psk"}]})
    if has_net_admin():  # dropped even where it would not help (a user namespace): the test is the same
        setpriv = shutil.which("setpriv")
        assert setpriv, "setpriv (util-linux) is needed to start the daemon without CAP_NET_ADMIN"
        b.command = lambda: [setpriv, "--inh-caps=-net_admin", "--bounding-set=-net_admin", b.binary, "-c",
                             str(b.config_path)]
    b.start()
    for name in ("coap", "coaps"):
        outcome = check_receive_buffer(b, name, asked, may_force=False)
        assert outcome == ("set" if rmem_max() >= asked else "warned"), outcome
    raw = Raw(b)
    assert raw.request(PUT, "ps/rb/t", ["qos=0"], b"served")["code"] == "2.04"
    raw.close()


def test_check_config_rejects_a_bad_receive_buffer(tmp_path):
    f = tmp_path / "c.yaml"

    def check(value: str) -> subprocess.CompletedProcess:
        f.write_text(f"coap:\n  receive_buffer: {value}\n")
        return subprocess.run([harness.netpie_edge_bin(), "--check-config", "-c", str(f)], capture_output=True,
                              text=True, timeout=30)

    for bad in ("8KiB", "16383", "257MiB", "1GiB", "lots"):
        p = check(bad)
        assert p.returncode == 1, p
        assert f"{f}:2:19: coap.receive_buffer: expected a byte size from 16KiB to 256MiB" in p.stderr + p.stdout, p
        assert f'got "{bad}"' in p.stderr + p.stdout, p
    for good in ("16KiB", "4MiB", "256MiB", "1000000"):
        assert check(good).returncode == 0, good


# -- bad input ---------------------------------------------------------------------------------------------------
def test_malformed_datagrams_get_the_right_answer_or_silence(broker_factory):
    b = start(broker_factory)
    raw = Raw(b)
    rng = random.Random(14)
    cases = [
        ("empty datagram", b"", None),
        ("truncated header", b"\x40\x01", None),
        ("version 2", bytes([0x80, 1, 0, 1]), None),
        *[(f"token length {t}", bytes([0x40 | t, 1, 0, 2]) + bytes(t), "rst") for t in range(9, 16)],
        ("option delta 15 without payload marker", bytes([0x40, 1, 0, 3, 0xF0]), "rst"),
        ("option length 15", bytes([0x40, 1, 0, 4, 0xBF]), "rst"),
        ("payload marker, no payload", bytes([0x40, 3, 0, 5]) + b"\xff", "rst"),
        ("unknown critical option", encode(CON, GET, 6, b"\x01", [*uri("ps/a"), (9, b"x")]), "4.02"),
        ("unknown elective option", encode(CON, GET, 7, b"\x02", [*uri("ps/a"), (1000, b"x")]), "4.04"),
        ("bad Observe value", encode(CON, GET, 8, b"\x03", [(6, b"\x07"), *uri("ps/a")]), "4.02"),
        ("response code as request", encode(CON, 0x45, 9, b"\x04", uri("ps/a")), None),
        ("64 KiB datagram", encode(NON, PUT, 10, b"\x05", uri("ps/big"), bytes(65000)), None),
        *[(f"random {i}", bytes(rng.randrange(256) for _ in range(rng.randrange(1, 80))), None) for i in range(30)],
    ]
    for what, dgram, expect in cases:
        try:
            raw.send(dgram)
        except OSError as e:
            assert "64 KiB" in what, (what, e)  # larger than the socket allows: nothing to test
            continue
        m = raw.recv(0.5 if expect is None else 5)
        if expect == "rst":
            assert m is None or m["type"] == RST, (what, m)
        elif expect is not None:
            assert m is not None and m["code"] == expect, (what, m)
    # A witness: CoAP and MQTT still work, the daemon is alive.
    with MosquittoSub(b, "witness/t", qos=1) as sub:
        assert raw.request(PUT, "ps/witness/t", ["qos=1"], b"alive")["code"] == "2.04"
        sub.wait_topic_payload("witness/t", b"alive")
        p = coap_client(["-m", "put", "-e", "still", url(b, "ps/witness/t")])
        assert p.returncode == 0, p
        sub.wait_topic_payload("witness/t", b"still")
        mosquitto_pub(b, "witness/t", "mqtt", qos=1)
        sub.wait_topic_payload("witness/t", b"mqtt")
    raw.close()


def test_bounds_on_observers_and_anonymous_policy(broker_factory):
    b = start(broker_factory, coap={"max_observers_per_endpoint": 2})
    raw = Raw(b)
    assert raw.request(GET, "ps/a", extra=[(6, b"")], token=b"\x01")["code"] == "2.05"
    assert raw.request(GET, "ps/b", extra=[(6, b"")], token=b"\x02")["code"] == "2.05"
    third = raw.request(GET, "ps/c", extra=[(6, b"")], token=b"\x03")
    assert third["code"] == "4.29", third
    # Cancel one (Observe 1): room for another.
    assert raw.request(GET, "ps/a", extra=[(6, b"\x01")], token=b"\x01")["code"] == "2.05"
    assert raw.request(GET, "ps/c", extra=[(6, b"")], token=b"\x04")["code"] == "2.05"
    raw.close()
    # anonymous: deny: a CoAP client without connection mode is refused (4.01) ...
    d = start(broker_factory, auth={"anonymous": "deny", "users": [{"username": "dev", "password": "pw"}]})
    raw = Raw(d)
    assert raw.request(PUT, "ps/t", payload=b"x")["code"] == "4.01"
    # ... and one that logs in with connection mode is served, with its token.
    r = raw.request(POST, "mqtt/connection", ["clientid=dev1", "username=dev", "password=pw"], token=b"\x05")
    assert r["code"] == "2.01", r
    token = r["payload"].decode()
    assert raw.request(POST, "mqtt/connection", ["clientid=dev2", "username=dev", "password=no"],
                       token=b"\x06")["code"] == "4.01"
    with MosquittoSub(d, "t", qos=1, username="dev", password="pw") as sub:
        assert raw.request(PUT, "ps/t", ["clientid=dev1", f"token={token}"], b"hi", token=b"\x07")["code"] == "2.04"
        sub.wait_topic_payload("t", b"hi")
    assert raw.request(PUT, "ps/t", ["clientid=dev1", "token=bad"], b"no", token=b"\x08")["code"] == "4.01"
    assert raw.request(PUT, "mqtt/connection", ["clientid=dev1", f"token={token}"], token=b"\x09")["code"] == "2.04"
    assert raw.request(DELETE, "mqtt/connection", ["clientid=dev1", f"token={token}"], token=b"\x0a")["code"] == "2.02"
    raw.close()


def test_per_topic_observer_bound_and_counters_in_sys_and_metrics(broker_factory):
    """coap.max_observers_per_topic refuses a third observer of one filter (4.29, counted) while other filters
    stay open, and frees the slot on cancel; the CoAP counters (requests, duplicates, notifications by type,
    refusals by bound, observers now) appear in $SYS/broker/coap/... and in /metrics."""
    listeners = coap_listeners() + [{"name": "http", "protocol": "http", "bind": harness.HOST, "port": 0}]
    b = start(broker_factory, coap={"max_observers_per_topic": 2}, extra={"listeners": listeners}, sys_interval=1)
    a, c, d = Raw(b), Raw(b), Raw(b)
    assert a.request(GET, "ps/hot", extra=[(6, b"")], token=b"\x01")["code"] == "2.05"
    assert c.request(GET, "ps/hot", extra=[(6, b"")], token=b"\x02")["code"] == "2.05"
    third = d.request(GET, "ps/hot", extra=[(6, b"")], token=b"\x03")
    assert third["code"] == "4.29", third
    assert b"max_observers_per_topic" in third["payload"], third
    assert d.request(GET, "ps/cold", extra=[(6, b"")], token=b"\x04")["code"] == "2.05"
    # One message on hot: a NON notification to each of its two observers.
    mosquitto_pub(b, "hot", "h1", qos=0)
    for raw in (a, c):
        m = raw.recv(10)
        assert m is not None and m["payload"] == b"h1", m
    # A cancel (Observe 1) frees a slot on hot.
    assert a.request(GET, "ps/hot", extra=[(6, b"\x01")], token=b"\x01")["code"] == "2.05"
    assert d.request(GET, "ps/hot", extra=[(6, b"")], token=b"\x05")["code"] == "2.05"
    # A CON publish sent twice with one message id: answered twice, run once (a duplicate).
    mid = d.next_mid()
    put = encode(CON, PUT, mid, b"\x06", uri("ps/dup"), b"once")
    for _ in range(2):
        d.send(put)
        m = d.recv(10)
        assert m is not None and m["code"] == "2.04", m

    host, port = b.ports["http"]

    def metric(name: str, **labels) -> float | None:
        text = subprocess.run(["curl", "-sS", "--max-time", "10", f"http://{host}:{port}/metrics"],
                              capture_output=True, text=True, timeout=20).stdout
        want = ",".join(f'{k}="{v}"' for k, v in labels.items())
        for line in text.splitlines():
            head, _, value = line.rpartition(" ")
            if head == (f"{name}{{{want}}}" if want else name):
                return float(value)
        return None

    assert metric("netpie_edge_coap_refused_total", reason="observers") == 1
    assert metric("netpie_edge_coap_refused_total", reason="exchanges") == 0
    assert metric("netpie_edge_coap_duplicates_total") == 1
    assert metric("netpie_edge_coap_notifications_total", type="non") == 2
    assert metric("netpie_edge_coap_notifications_total", type="con") == 0
    assert metric("netpie_edge_coap_observers") == 3  # c and d on hot, d on cold
    assert metric("netpie_edge_coap_endpoints") == 3
    # 8 requests handled: 4 registrations (one refused), 1 cancel, 1 more registration, the PUT twice.
    assert metric("netpie_edge_coap_requests_total") == 8
    with MosquittoSub(b, "$SYS/broker/coap/#") as sys:
        sys.wait_topic_payload("$SYS/broker/coap/refused/observers", b"1")
        sys.wait_topic_payload("$SYS/broker/coap/duplicates", b"1")
        sys.wait_topic_payload("$SYS/broker/coap/observers", b"3")
        sys.wait_topic_payload("$SYS/broker/coap/notifications/non", b"2")
    for raw in (a, c, d):
        raw.close()


# -- durability ----------------------------------------------------------------------------------------------------
def test_acknowledged_con_publishes_survive_sigkill(broker_factory, tmp_path):
    """node-coap publishes CON ps/dura/c with payloads "c:<seq>" one after the other; the daemon is SIGKILLed
    COAP_DURA_KILLS times (5) and restarted on the same ports. Every seq that got 2.04 is an outbox row."""
    from dura_common import port_outside_ephemeral_range, store_config
    kills = int(os.environ.get("COAP_DURA_KILLS", "5"))
    rng = random.Random(int(os.environ.get("COAP_DURA_SEED", "14")))
    b = start(broker_factory, start=False, extra={"store": store_config(["dura/#"])}, sys_interval=0)
    coap_port = port_outside_ephemeral_range()
    b.port = port_outside_ephemeral_range()
    b.extra["listeners"] = [{"name": "mqtt", "protocol": "mqtt", "bind": harness.HOST, "port": b.port},
                            {"name": "coap", "protocol": "coap", "bind": harness.HOST, "port": coap_port}]
    b.start()
    ackfile, stopfile = tmp_path / "acks", tmp_path / "stop"
    ackfile.touch()
    args = {"mode": "dura", "host": harness.HOST, "port": coap_port, "path": "/ps/dura/c", "prefix": "c",
            "ackfile": str(ackfile), "stopfile": str(stopfile), "give_up_ms": 2000}
    pub = subprocess.Popen(["node", str(COAP_JS), json.dumps(args)], cwd=HERE, stdout=subprocess.PIPE, text=True,
                           preexec_fn=harness.die_with_parent)

    def acked() -> list[int]:
        return [int(x) for x in ackfile.read_text().split()]

    try:
        for _ in range(kills):
            before = len(acked())
            harness.wait_for(lambda: len(acked()) >= before + 20, 60, "20 more acknowledged CoAP publishes")
            time.sleep(rng.uniform(0.05, 0.5))
            b.kill()
            b.start()
        before = len(acked())
        harness.wait_for(lambda: len(acked()) >= before + 5, 60, "publishes acknowledged after the last restart")
    finally:
        stopfile.touch()
        pub.wait(30)
    b.stop()
    seqs = acked()
    rows = b.query_state("SELECT payload FROM outbox")
    stored = {bytes(r[0]).decode() for r in rows}
    missing = [s for s in seqs if f"c:{s}" not in stored]
    print(f"coap durability: {len(seqs)} acknowledged, {len(rows)} rows, {kills} kills")
    assert not missing, f"acknowledged but not in the outbox: {missing[:20]}"
    assert seqs == list(range(1, len(seqs) + 1))


def test_embedded_default_serves_coap(tmp_path):
    """No config: CoAP next to MQTT (here on free ports with -p 0, so that nothing collides on 5683)."""
    log = open(tmp_path / "stderr.log", "wb")
    proc = subprocess.Popen([harness.netpie_edge_bin(), "-p", "0"], cwd=tmp_path, stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL, preexec_fn=harness.die_with_parent)
    try:
        text = lambda: (tmp_path / "stderr.log").read_text()
        m = harness.wait_for(lambda: re.search(r"listening coap on 127\.0\.0\.1:(\d+)$", text(), re.M), 15,
                             "the coap listener")
        mq = re.search(r"listening mqtt on 127\.0\.0\.1:(\d+)$", text(), re.M)
        port, mport = int(m.group(1)), int(mq.group(1))
        assert port not in (0, 5683)
        ep = harness.Endpoint("127.0.0.1", mport)
        with MosquittoSub(ep, "default/coap", qos=1) as sub:
            p = coap_client(["-m", "put", "-e", "ok", f"coap://127.0.0.1:{port}/ps/default/coap"])
            assert p.returncode == 0, p
            sub.wait_topic_payload("default/coap", b"ok")
    finally:
        rc = harness.terminate(proc)
        log.close()
    assert rc == 0, (tmp_path / "stderr.log").read_text()
