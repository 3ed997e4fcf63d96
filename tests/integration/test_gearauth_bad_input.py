"""Hostile and broken input to the NETPIE endpoint: forged OAuth signatures, stale, future and replayed timestamps,
wrong MQTT HMAC passwords, oversized request lines, headers and bodies, garbage, slowloris clients and a
connection flood. Each is refused with the status the clients understand, and nothing else is disturbed: a Node
microgear witness (connected before the bad input, on this test's own 127.0.12.<n>) still gets chat through
afterwards, and the API still answers. Last, the odd but legitimate requests of embedded clients are accepted.
The OAuth signer and the MQTT credentials are the tests' own (netpie_peers.py, written from RFC 5849 and
docs/netpie-protocol.md §6.1), not the daemon's code.
"""
import socket
import time
import urllib.parse

import pytest

import netpie_peers as n
import rawmqtt as r

pytestmark = pytest.mark.netpie_only


class Witness:
    """Two Node microgears chatting: proof that the endpoint still serves its real clients."""

    def __init__(self, addr, tmp_path):
        self.a = n.MicrogearAgent(addr, tmp_path / "wa.cache", alias="wit-a", present=False, absent=False)
        self.b = n.MicrogearAgent(addr, tmp_path / "wb.cache", alias="wit-b", present=False, absent=False)
        self.a.wait_ev("connected")
        self.b.wait_ev("connected")
        self.n = 0

    def check(self):
        self.n += 1
        msg = f"still here {self.n}"
        # The alias may be set a moment after "connected": retry until the chat arrives.
        deadline = time.monotonic() + 15
        while True:
            mark = self.b.mark()
            self.a.send(op="chat", alias="wit-b", msg=msg)
            try:
                self.b.wait_ev("message", msg=msg, since=mark, timeout=1)
                return
            except AssertionError:
                if time.monotonic() > deadline:
                    raise

    def close(self):
        self.a.close()
        self.b.close()


@pytest.fixture
def witness_at(tmp_path):
    made = []

    def make(addr):
        w = Witness(addr, tmp_path)
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()


def test_the_tests_own_signer_reproduces_the_protocol_vector():
    """The worked example of docs/netpie-protocol.md §3.2: a refusal below is the gateway's doing, not the signer's."""
    h = n.oauth_header("POST", "http://ga.netpie.io:8080/api/rtoken", "sXfqDcXHzbFXiLk",
                       "DNonzg2ivwS8ceksykGntrfQjxbL98",
                       callback="scope=&appid=myappid&mgrev=NJS1b&verifier=mygear",
                       nonce="abcdefghijklmnopqrstuvwxyz012345", timestamp=1500000000)
    assert 'oauth_signature="FIkhimf4pDTItPqqdrjE7Dz7rMU%3D"' in h
    # And §6.1's MQTT password.
    assert n.mqtt_credentials("T0k3nAbCdEfGh123", "S3cr3tS3cr3tS3cr3tS3cr3tS3cr3t12", "sXfqDcXHzbFXiLk",
                              "DNonzg2ivwS8ceksykGntrfQjxbL98", 1500000000) == \
        ("T0k3nAbCdEfGh123", "sXfqDcXHzbFXiLk%1500000000", "dSZA3XJxO55FzPYOK6GS6zUqCK4=")


def rtoken(gw, header, host_header=None):
    """POST /api/rtoken with the given Authorization; returns (status, body)."""
    headers = [f"Authorization: {header}"]
    if host_header:
        headers.append(f"Host: {host_header}")
    status, _, body = n.curl("POST", n.base_url(gw) + "/api/rtoken", headers=headers)
    return status, body


def signed(gw, **kw):
    url = n.base_url(gw) + "/api/rtoken"
    return n.oauth_header("POST", url, kw.pop("key", n.KEY), kw.pop("secret", n.SECRET), callback=n.callback_for(), **kw)


def test_forged_signatures_are_refused(broker_factory, witness_at):
    gw = n.start_gateway(broker_factory, "127.0.12.1")
    w = witness_at("127.0.12.1")
    good = signed(gw)
    # One character of the signature changed.
    sig_at = good.index("oauth_signature=") + len('oauth_signature="')
    forged = good[:sig_at] + ("B" if good[sig_at] != "B" else "C") + good[sig_at + 1:]
    assert rtoken(gw, forged)[0] == 401
    # Signed with the wrong secret; for another host; with a parameter changed after signing.
    assert rtoken(gw, signed(gw, secret="not-the-secret"))[0] == 401
    url = "http://ga.netpie.io:8080/api/rtoken"
    assert rtoken(gw, n.oauth_header("POST", url, n.KEY, n.SECRET, callback=n.callback_for()))[0] == 401
    tampered = good.replace(urllib.parse.quote("verifier=NJS1b", safe=""), urllib.parse.quote("verifier=evil", safe=""))
    assert tampered != good
    assert rtoken(gw, tampered)[0] == 401
    # No OAuth at all; an unknown key; another signature method.
    assert rtoken(gw, "Basic eDp5")[0] == 400
    assert rtoken(gw, signed(gw, key="UnknownKey00000"))[0] == 401
    assert rtoken(gw, good.replace("HMAC-SHA1", "PLAINTEXT"))[0] == 400
    assert "bad signature" in gw.log_text()
    # The signed request itself was fine all along.
    status, body = rtoken(gw, good)
    assert status == 200 and len(urllib.parse.parse_qs(body)["oauth_token"][0]) == 16, body
    w.check()


def test_stale_future_and_replayed_timestamps_are_refused(broker_factory, witness_at):
    gw = n.start_gateway(broker_factory, "127.0.12.2", netpie={"clock_skew_s": 120})
    w = witness_at("127.0.12.2")
    now = int(time.time())
    status, body = rtoken(gw, signed(gw, timestamp=now - 3600))
    assert status == 401 and "too old" in body, body
    status, body = rtoken(gw, signed(gw, timestamp=now + 3600))
    assert status == 401 and "future" in body, body
    assert rtoken(gw, signed(gw, timestamp=now - 60))[0] == 200, "within the skew"
    # The very same request twice: the second is a replay.
    once = signed(gw, nonce="fixednonce")
    assert rtoken(gw, once)[0] == 200
    status, body = rtoken(gw, once)
    assert status == 401 and "replayed" in body, body
    # The access-token call has the same checks.
    status, body = rtoken(gw, signed(gw))
    rt = urllib.parse.parse_qs(body)
    url = n.base_url(gw) + "/api/atoken"
    stale = n.oauth_header("POST", url, n.KEY, n.SECRET, rt["oauth_token"][0], rt["oauth_token_secret"][0],
                           verifier="NJS1b", timestamp=now - 3600)
    assert n.curl("POST", url, headers=[f"Authorization: {stale}"])[0] == 401
    forged = n.oauth_header("POST", url, n.KEY, n.SECRET, rt["oauth_token"][0], "x" * 32, verifier="NJS1b")
    assert n.curl("POST", url, headers=[f"Authorization: {forged}"])[0] == 401
    unknown = n.oauth_header("POST", url, n.KEY, n.SECRET, "A" * 16, rt["oauth_token_secret"][0], verifier="NJS1b")
    assert n.curl("POST", url, headers=[f"Authorization: {unknown}"])[0] == 500, "request token not found (§3.3)"
    good = n.oauth_header("POST", url, n.KEY, n.SECRET, rt["oauth_token"][0], rt["oauth_token_secret"][0],
                          verifier="NJS1b")
    assert n.curl("POST", url, headers=[f"Authorization: {good}"])[0] == 200
    w.check()


def test_wrong_mqtt_hmac_and_bad_tokens_get_connack_4(broker_factory, witness_at):
    addr = "127.0.12.3"
    gw = n.start_gateway(broker_factory, addr, netpie={"mqtt_max_age_s": 600, "clock_skew_s": 120})
    w = witness_at(addr)
    token, secret = n.get_token(gw)
    mqtt = (addr, 1883)

    def connack(client_id, username, password):
        with r.RawClient(mqtt) as c:
            c.send(r.connect(client_id, username=username, password=password, keepalive=10))
            p = c.expect(r.CONNACK)
            if p.reason != 0:
                assert c.read_until_closed(timeout=5) == []
            return p.reason

    cid, user, pw = n.mqtt_credentials(token, secret, n.KEY, n.SECRET)
    assert connack(cid, user, pw[:-2] + ("A=" if pw[-2] != "A" else "B=")) == 4, "wrong HMAC"
    assert connack(cid, user, n.mqtt_credentials(token, "y" * 32, n.KEY, n.SECRET)[2]) == 4, "wrong token secret"
    assert connack(cid, *n.mqtt_credentials(token, secret, n.KEY, n.SECRET, int(time.time()) - 3600)[1:]) == 4, \
        "stale user name time"
    assert connack(cid, *n.mqtt_credentials(token, secret, n.KEY, n.SECRET, int(time.time()) + 3600)[1:]) == 4, \
        "user name time in the future"
    assert connack("UnknownToken0000", *n.mqtt_credentials("UnknownToken0000", secret, n.KEY, n.SECRET)[1:]) == 4
    assert connack(cid, user, pw) == 0, "the right credentials (§6.1, computed by the test)"
    w.check()


def test_oversized_and_garbage_requests(broker_factory, witness_at):
    gw = n.start_gateway(broker_factory, "127.0.12.4")
    w = witness_at("127.0.12.4")
    http = gw.ports["http"]
    # The default bounds: 8 KiB of headers, 256 KiB of body, 4 KiB of URL.
    big_header = b"GET /api/time HTTP/1.1\r\nX-Junk: " + b"j" * 20000 + b"\r\n\r\n"
    assert n.raw_http(http, big_header).startswith(b"HTTP/1.1 431")
    many_headers = b"GET /api/time HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(200)) + b"\r\n"
    assert n.raw_http(http, many_headers).startswith(b"HTTP/1.1 431")
    assert n.raw_http(http, b"GET /" + b"u" * 10000 + b" HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 414")
    big_body = b"PUT /postbox/testapp/x HTTP/1.1\r\nContent-Length: 10000000\r\n\r\n" + b"b" * 65536
    assert n.raw_http(http, big_body).startswith(b"HTTP/1.1 413")
    for garbage in [b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                    b"POST /api/rtoken HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
                    b"POST /api/rtoken HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"]:
        reply = n.raw_http(http, garbage)
        assert reply[:12] in (b"HTTP/1.1 400", b"HTTP/1.1 505"), (garbage, reply)
    assert n.curl("GET", n.base_url(gw) + "/api/time")[0] == 200
    w.check()


def test_slowloris_clients_are_cut_off_and_others_served(broker_factory, witness_at):
    addr = "127.0.12.5"
    gw = n.start_gateway(broker_factory, addr, http={"request_timeout_ms": 1500})
    w = witness_at(addr)
    http = gw.ports["http"]
    slow = []
    for _ in range(20):
        s = socket.create_connection(http, timeout=5)
        s.sendall(b"POST /api/rtoken HTTP/1.1\r\nHost: x\r\n")
        slow.append(s)
    started = time.monotonic()
    answers = {}
    # Dribble a header byte now and then; meanwhile real clients are served.
    while len(answers) < len(slow) and time.monotonic() - started < 10:
        for i, s in enumerate(slow):
            if i in answers:
                continue
            try:
                s.sendall(b"X")
                s.setblocking(False)
                data = s.recv(4096)
                if data:
                    answers[i] = data
            except BlockingIOError:
                pass
            except (BrokenPipeError, ConnectionResetError):
                answers[i] = b"reset"
            finally:
                s.setblocking(True)
        assert n.curl("GET", n.base_url(gw) + "/api/time")[0] == 200
        time.sleep(0.2)
    elapsed = time.monotonic() - started
    for s in slow:
        s.close()
    assert len(answers) == len(slow), f"{len(slow) - len(answers)} slow clients still held after {elapsed:.1f}s"
    assert all(a.startswith(b"HTTP/1.1 408") for a in answers.values()), answers
    assert elapsed < 6, "cut off by the request deadline, however often they sent a byte"
    w.check()


def test_connection_flood_gets_503_beyond_the_bound(broker_factory, witness_at):
    addr = "127.0.12.6"
    gw = n.start_gateway(broker_factory, addr, http={"max_connections": 8, "request_timeout_ms": 2000})
    w = witness_at(addr)  # its token calls are done: it holds no HTTP connection now
    http = gw.ports["http"]
    idle = [socket.create_connection(http, timeout=5) for _ in range(8)]
    over = n.raw_http(http, b"GET /api/time HTTP/1.1\r\n\r\n")
    assert over.startswith(b"HTTP/1.1 503"), over
    # The idle ones are closed at the request deadline, and the slots come back.
    for s in idle:
        assert s.recv(100) == b"", "an idle connection is closed without an answer"
        s.close()
    deadline = time.monotonic() + 5
    while n.curl("GET", n.base_url(gw) + "/api/time")[0] != 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    w.check()


def test_embedded_client_quirks_are_tolerated(broker_factory):
    """Not hostile, only odd: what ESP8266, ESP8266-RTOS and the HTML5 library send (docs/netpie-protocol.md §3.2,
    §4, §11.3)."""
    addr = "127.0.12.7"
    gw = n.start_gateway(broker_factory, addr)
    http = gw.ports["http"]
    # ESP8266-RTOS: "HTTP 1.1" in the request line, no Host; it signed the address it called.
    auth = n.oauth_header("POST", f"http://{addr}:8080/api/rtoken", n.KEY, n.SECRET, callback=n.callback_for(),
                          nonce="sdjkjdf8")
    reply = n.raw_http(http, f"POST /api/rtoken HTTP 1.1\r\nAuthorization: {auth}\r\nContent-length: 0\r\n\r\n".encode())
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK"), reply
    assert b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n" in head + b"\r\n", reply
    assert b"Connection: close" in head and b"chunked" not in head
    assert body.startswith(b"oauth_token=") and b"\n" not in body
    # ESP8266's GETs: no Host header at all; the answer is read as one line from a fixed column.
    reply = n.raw_http(http, b"GET /api/time HTTP/1.1\r\n\r\n")
    assert reply[:12] == b"HTTP/1.1 200" and abs(int(reply.split(b"\r\n\r\n")[1]) - time.time()) < 5, reply
    reply = n.raw_http(http, f"GET /api/endpoint/{n.KEY} HTTP/1.1\r\n\r\n".encode())
    assert reply.split(b"\r\n\r\n")[1] == f"pie://{addr}:1883".encode(), reply
    # HTML5 from another origin: the pre-flight and the answer carry CORS headers.
    status, hdrs, _ = n.curl("OPTIONS", n.base_url(gw) + "/api/rtoken",
                             headers=["Origin: http://dashboard.lan", "Access-Control-Request-Method: POST",
                                      "Access-Control-Request-Headers: authorization"])
    assert status == 200 and hdrs["access-control-allow-origin"] == "*", hdrs
    assert "authorization" in hdrs["access-control-allow-headers"].lower()
    status, hdrs, _ = n.curl("GET", n.base_url(gw) + "/api/time", headers=["Origin: http://dashboard.lan"])
    assert hdrs["access-control-allow-origin"] == "*"
