"""TLS on the daemon's own listeners (listeners[].tls), driven by clients we did not write.

1. MQTT over TLS with mosquitto_pub/sub --cafile: without a client certificate, with one, and a client that trusts
   the wrong CA (refused with OpenSSL's "certificate verify failed" on its side and the alert in our log).
2. require_client_cert: no certificate or one from an unknown CA fails the handshake, with a log line naming why.
3. use_identity_as_username: the certificate's CN is the user name (anonymous logins denied, no password sent).
4. Bad input on the TLS port: garbage instead of a ClientHello, an HTTP request, a truncated record, a truncated
   ClientHello; each closes only that connection while a witness TLS client keeps working.
5. The bound on handshakes in progress (max_handshakes, policy refuse_new) and the handshake timeout.
6. SIGHUP reloads a changed certificate without dropping a live TLS subscriber; a broken key keeps the old one.
7. Start-up and --check-config name the file and the reason: key mismatch, unreadable file, not a certificate.
8. HTTPS: curl --cacert on the gearauth token flow (signed for https://host:port, verified natively) and REST.
9. Resumption by ticket and by cache; only ECDHE with AEAD suites; TLS 1.1 refused.
10. idle_release_ms: connections released again and again still carry messages both ways, and resume.

Certificates come from tests/tls/make-test-ca.sh (openssl CLI) at test time, plus leaves made here for the
reload test.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import ssl
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest

import harness
import netpie_peers as n
import rawmqtt as m
from peers import MosquittoSub, mosquitto_pub

pytestmark = pytest.mark.netpie_only



def make_leaf(out: Path, name: str, ca: Path, ca_name: str, san: str, cn: str = "localhost") -> tuple[Path, Path]:
    """A server certificate for `san` signed by <ca>/<ca_name>.crt, made with the openssl CLI."""
    key, csr, crt, ext = (out / f"{name}.key", out / f"{name}.csr", out / f"{name}.crt", out / f"{name}.ext")
    ext.write_text(f"basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                   f"extendedKeyUsage=serverAuth\nsubjectAltName={san}\n")
    run = lambda *a: subprocess.run(list(a), check=True, capture_output=True, timeout=30)  # noqa: E731
    run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(key))
    run("openssl", "req", "-new", "-key", str(key), "-subj", f"/O=netpie-edge tests/CN={cn}", "-out", str(csr))
    run("openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca / f"{ca_name}.crt"), "-CAkey",
        str(ca / f"{ca_name}.key"), "-set_serial", "0x" + __import__("os").urandom(8).hex(), "-days", "30",
        "-sha256", "-extfile", str(ext), "-out", str(crt))
    return crt, key


def tls_block(certs: Path, **more) -> dict:
    return {"cert_file": str(certs / "server.crt"), "key_file": str(certs / "server.key"), **more}


def tls_gateway(broker_factory, certs: Path, tls: dict | None = None, listener: dict | None = None, **options):
    """A daemon with its plain `mqtt` listener (the witness's) and `mqtts`, a TLS MQTT listener."""
    mqtts = {"name": "mqtts", "protocol": "mqtt", "bind": harness.HOST, "port": 0, "tls": tls or tls_block(certs)}
    mqtts.update(listener or {})
    extra = options.pop("extra", {})
    extra["listeners"] = [{"name": "mqtt", "protocol": "mqtt", "bind": harness.HOST, "port": 0}, mqtts]
    return broker_factory(extra=extra, **options)


class Tls:
    """mosquitto_pub/sub arguments for the gateway's TLS listener."""

    def __init__(self, broker, certs: Path, ca: str = "ca.crt", cert: str | None = None):
        self.host, self.port = broker.ports["mqtts"]
        self.args = ["--cafile", str(certs / ca)]
        if cert:
            self.args += ["--cert", str(certs / f"{cert}.crt"), "--key", str(certs / f"{cert}.key")]


def pub(target: Tls, topic: str, payload: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(["mosquitto_pub", "-h", target.host, "-p", str(target.port), *target.args, "-t", topic,
                           "-m", payload, "-q", "1", *extra], capture_output=True, text=True, timeout=30)


def tls_sub(target: Tls, topic: str, count: int, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(["mosquitto_sub", "-h", target.host, "-p", str(target.port), *target.args, "-t", topic,
                             "-q", "1", "-C", str(count), "-v", *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def witness_round_trip(broker, certs: Path, tag: str) -> None:
    """A full TLS client (mosquitto_pub over TLS) and a plain subscriber still work."""
    with MosquittoSub(broker, f"witness/{tag}", qos=1) as sub:
        r = pub(Tls(broker, certs), f"witness/{tag}", "alive")
        assert r.returncode == 0, r.stderr
        sub.wait_topic_payload(f"witness/{tag}", b"alive")


def client_hello() -> bytes:
    """A real TLS 1.2 ClientHello from Python's ssl (OpenSSL), taken from a memory BIO."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_side=False)
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return out.read()


def read_until_closed(sock: socket.socket, timeout: float = 10.0) -> bytes:
    """Everything the server sends until it closes; fails (socket.timeout) if it keeps the connection open."""
    sock.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def half_open(addr, n: int, into: list) -> None:
    """n connections in order, each sending the first 20 bytes of a ClientHello and nothing more."""
    hello = client_hello()
    for _ in range(n):
        s = socket.create_connection(addr, timeout=10)
        s.sendall(hello[:20])  # a ClientHello that never finishes
        into.append(s)


# -- 1. MQTT over TLS with mosquitto clients --------------------------------------------------------------------------
def test_mosquitto_clients_over_tls_with_and_without_a_client_certificate(broker_factory, certs):
    gw = tls_gateway(broker_factory, certs, tls=tls_block(certs, ca_file=str(certs / "ca.crt")))
    target = Tls(gw, certs)
    sub = tls_sub(target, "tls/#", 2)
    try:
        gw.wait_log(r"client \"[^\"]+\" subscribed|connected from", timeout=10)
        harness.wait_for(lambda: gw.log_text().count("connected from") >= 1, 10, "the TLS subscriber")
        r = pub(target, "tls/plain-cert", "no client certificate")
        assert r.returncode == 0, r.stderr
        r = pub(Tls(gw, certs, cert="client"), "tls/with-cert", "with a client certificate")
        assert r.returncode == 0, r.stderr
        out, err = sub.communicate(timeout=20)
    finally:
        if sub.poll() is None:
            sub.kill()
    assert sub.returncode == 0, err
    assert out.splitlines() == ["tls/plain-cert no client certificate", "tls/with-cert with a client certificate"]


def test_a_client_trusting_another_ca_is_refused_on_both_sides(broker_factory, certs):
    gw = tls_gateway(broker_factory, certs)
    r = pub(Tls(gw, certs, ca="wrong-ca.crt"), "x", "never", "-d")  # -d: OpenSSL's reason too
    assert r.returncode != 0
    assert "certificate verify failed" in r.stdout + r.stderr, r.stdout + r.stderr
    m = gw.wait_log(r"net: mqtts: 127\.0\.0\.1:\d+: ([^\n]*)")
    assert "alert unknown_ca" in m.group(1), m.group(0)
    witness_round_trip(gw, certs, "wrong-ca")


# -- 2. Required client certificates ----------------------------------------------------------------------------------
def test_required_client_certificate(broker_factory, certs):
    gw = tls_gateway(broker_factory, certs,
                     tls=tls_block(certs, ca_file=str(certs / "ca.crt"), require_client_cert=True))
    r = pub(Tls(gw, certs), "x", "no certificate")
    assert r.returncode != 0 and "TLS" in r.stderr, r.stderr
    gw.wait_log(r"net: mqtts: 127\.0\.0\.1:\d+: client certificate required but none was sent")
    r = pub(Tls(gw, certs, cert="wrong-client"), "x", "unknown CA")
    assert r.returncode != 0 and "TLS" in r.stderr, r.stderr
    gw.wait_log(r"net: mqtts: 127\.0\.0\.1:\d+: client certificate verify failed: not signed by a trusted CA")
    with MosquittoSub(gw, "mtls/#", qos=1) as sub:
        r = pub(Tls(gw, certs, cert="client"), "mtls/ok", "good certificate")
        assert r.returncode == 0, r.stderr
        sub.wait_topic_payload("mtls/ok", b"good certificate")
    assert "mtls/ok" not in [x for x in gw.log_text().splitlines() if "refused" in x]


# -- 3. The certificate as the MQTT identity --------------------------------------------------------------------------
def test_use_identity_as_username(broker_factory, certs):
    gw = tls_gateway(broker_factory, certs, auth={"anonymous": "deny"},
                     tls=tls_block(certs, ca_file=str(certs / "ca.crt"), use_identity_as_username=True))
    # No user name, no password: the certificate's CN stands in, and the log shows it as the user.
    r = pub(Tls(gw, certs, cert="client"), "id/1", "hello", "-i", "cert-dev")
    assert r.returncode == 0, r.stderr
    gw.wait_log(r'client "cert-dev" connected from 127\.0\.0\.1:\d+: user test-client,')
    # A user name in the CONNECT does not override the certificate.
    r = pub(Tls(gw, certs, cert="client"), "id/2", "hello", "-i", "cert-dev2", "-u", "admin", "-P", "x")
    assert r.returncode == 0, r.stderr
    gw.wait_log(r'client "cert-dev2" connected from 127\.0\.0\.1:\d+: user test-client,')
    # Without a certificate the client is anonymous, and anonymous logins are denied.
    r = pub(Tls(gw, certs), "id/3", "hello", "-i", "no-cert")
    assert r.returncode != 0
    assert "not authori" in r.stderr.lower(), r.stderr
    gw.wait_log(r'refused CONNECT from 127\.0\.0\.1:\d+: client "no-cert", user -: not authorized')


# -- 4. Bad input -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("what", ["garbage", "http", "truncated_record", "truncated_hello", "hello_then_garbage"])
def test_bad_tls_input_closes_only_that_connection(broker_factory, certs, what):
    gw = tls_gateway(broker_factory, certs, listener={"handshake_timeout_ms": 2000})
    addr = gw.ports["mqtts"]
    hello = client_hello()
    payload = {
        "garbage": bytes(range(256)) * 4,
        "http": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        # A handshake record header announcing 16000 bytes, then 100 of them, then the client's FIN.
        "truncated_record": b"\x16\x03\x03\x3e\x80" + b"\x01" * 100,
        "truncated_hello": hello[: len(hello) // 2],
        "hello_then_garbage": hello + b"\x17\x03\x03\x00\x10" + b"\xee" * 16,
    }[what]
    with socket.create_connection(addr, timeout=10) as s:
        s.sendall(payload)
        if what in ("truncated_record", "truncated_hello"):
            s.shutdown(socket.SHUT_WR)  # the peer gives up mid-record: EOF must close it, not hang it
        answer = read_until_closed(s)
    if what in ("garbage", "http", "hello_then_garbage"):
        # mbedTLS answers a broken handshake with a fatal alert record (content type 21) or just closes.
        assert answer == b"" or answer[:1] in (b"\x15", b"\x16"), answer[:32]
        gw.wait_log(r"net: mqtts: 127\.0\.0\.1:\d+: TLS handshake failed")
    witness_round_trip(gw, certs, what)
    assert gw.alive()


# -- 5. Handshakes in progress: bound and timeout ----------------------------------------------------------------------
def test_half_open_handshakes_are_bounded_and_time_out(broker_factory, certs):
    """max_handshakes 50, refuse_new, with 200 half-open handshakes: the 51st and later are closed at accept, a
    plain witness works throughout, and once the first 50 time out the TLS listener serves again."""
    bound, total = 50, 200
    harness.raise_nofile(4096)
    gw = tls_gateway(broker_factory, certs, listener={"max_handshakes": bound, "handshake_timeout_ms": 3000,
                                                      "handshake_full_policy": "refuse_new"})
    socks = []
    try:
        half_open(gw.ports["mqtts"], total, socks)
        # Accepted in order: the first `bound` hold the slots; every later one is closed without an answer.
        for s in socks[bound:]:
            assert read_until_closed(s, timeout=10) == b""
        m = gw.wait_log(r"net: mqtts: (\d+) handshakes in progress \(max_handshakes\): closing new connections "
                        r"\(refuse_new\)")
        assert int(m.group(1)) == bound
        with MosquittoSub(gw, "plain/witness", qos=1) as sub:
            mosquitto_pub(gw, "plain/witness", "the plain listener is not affected", qos=1)
            sub.wait_topic_payload("plain/witness", b"the plain listener is not affected")
        # The slot holders are closed by the handshake timeout (they sent nothing more) ...
        for s in socks[:bound]:
            assert read_until_closed(s, timeout=30) == b""
    finally:
        for s in socks:
            s.close()
    # ... and a TLS client gets in again.
    witness_round_trip(gw, certs, "after-flood")


def test_close_oldest_lets_a_real_client_through_a_slowloris(broker_factory, certs):
    """max_handshakes 50, close_oldest (the default), 200 half-open handshakes that never finish and a handshake
    timeout far away: every newcomer evicts the oldest, so the first 150 are closed, the last 50 hold the slots,
    and a real TLS client still gets through during the flood (evicting one more)."""
    bound, total = 50, 200
    harness.raise_nofile(4096)
    gw = tls_gateway(broker_factory, certs, listener={"max_handshakes": bound, "handshake_timeout_ms": 600000})
    socks = []
    try:
        half_open(gw.ports["mqtts"], total, socks)
        for s in socks[: total - bound]:
            assert read_until_closed(s, timeout=10) == b""
        m = gw.wait_log(r"net: mqtts: (\d+) handshakes in progress \(max_handshakes\): closing the oldest "
                        r"\(close_oldest\)")
        assert int(m.group(1)) == bound
        witness_round_trip(gw, certs, "during-flood")
        # The real client's arrival evicted the oldest of the survivors, and only that one.
        assert read_until_closed(socks[total - bound], timeout=10) == b""
        for s in socks[total - bound + 1:]:
            s.settimeout(0)
            with pytest.raises(BlockingIOError):
                s.recv(1)
    finally:
        for s in socks:
            s.close()


# -- 6. SIGHUP reload -------------------------------------------------------------------------------------------------
def test_sighup_reloads_a_changed_certificate_without_dropping_connections(broker_factory, certs, tmp_path):
    live_crt, live_key = tmp_path / "live.crt", tmp_path / "live.key"
    live_crt.write_bytes((certs / "server.crt").read_bytes())
    live_key.write_bytes((certs / "server.key").read_bytes())
    gw = tls_gateway(broker_factory, certs, tls={"cert_file": str(live_crt), "key_file": str(live_key)})
    old = Tls(gw, certs)
    sub = tls_sub(old, "reload/#", 2)
    try:
        harness.wait_for(lambda: "connected from" in gw.log_text(), 10, "the TLS subscriber")
        # A new certificate from another CA, moved into place the way renewal tools do it.
        crt, key = make_leaf(tmp_path, "renewed", certs, "wrong-ca", "DNS:localhost,IP:127.0.0.1")
        (tmp_path / "tmp.crt").write_bytes(crt.read_bytes())
        (tmp_path / "tmp.key").write_bytes(key.read_bytes())
        (tmp_path / "tmp.key").replace(live_key)
        (tmp_path / "tmp.crt").replace(live_crt)
        gw.signal(signal.SIGHUP)
        gw.wait_log(r"SIGHUP: listener mqtts: certificate and key reloaded from " + str(live_crt))
        # New connections get the new certificate: the old CA no longer verifies it, the new one does ...
        r = pub(old, "reload/x", "old ca", "-d")
        assert r.returncode != 0 and "certificate verify failed" in r.stdout + r.stderr, r.stdout + r.stderr
        new = Tls(gw, certs, ca="wrong-ca.crt")
        assert pub(new, "reload/1", "after reload").returncode == 0
        # ... and a key that does not load (here: not the certificate's) keeps the running pair.
        bad = tmp_path / "bad.key"
        bad.write_bytes((certs / "client.key").read_bytes())
        bad.replace(live_key)
        gw.signal(signal.SIGHUP)
        m = gw.wait_log(r"SIGHUP: listener mqtts: TLS material not reloaded, keeping the running one: ([^\n]*)")
        assert f"tls.key_file {live_key}: is not the key of tls.cert_file {live_crt}" in m.group(1), m.group(0)
        assert pub(new, "reload/2", "still the renewed pair").returncode == 0
        # The subscriber connected before the reloads was never dropped: it gets both messages.
        out, err = sub.communicate(timeout=20)
    finally:
        if sub.poll() is None:
            sub.kill()
    assert sub.returncode == 0, err
    assert out.splitlines() == ["reload/1 after reload", "reload/2 still the renewed pair"]


# -- 7. Errors at start and in --check-config ---------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["mismatch", "missing", "not_a_cert"])
def test_bad_tls_files_are_named_with_the_reason(broker_factory, certs, tmp_path, case):
    missing = tmp_path / "missing.crt"
    garbage = tmp_path / "garbage.crt"
    garbage.write_text("hello\n")
    tls, expect = {
        "mismatch": (tls_block(certs, key_file=str(certs / "client.key")),
                     f"listeners[1].tls.key_file: {certs / 'client.key'}: is not the key of tls.cert_file "
                     f"{certs / 'server.crt'}"),
        "missing": (tls_block(certs, cert_file=str(missing)),
                    f"listeners[1].tls.cert_file: {missing}: cannot read: No such file or directory"),
        "not_a_cert": (tls_block(certs, cert_file=str(garbage)),
                       f"listeners[1].tls.cert_file: {garbage}: not a PEM certificate"),
    }[case]
    gw = tls_gateway(broker_factory, certs, tls=tls, start=False)
    gw.write_config()
    r = subprocess.run(gw.command() + ["--check-config"], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert expect in r.stdout + r.stderr, r.stdout + r.stderr
    r = subprocess.run(gw.command(), capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert expect in r.stderr, r.stderr


# -- 8. HTTPS: gearauth and REST with curl ------------------------------------------------------------------------------
def test_https_gearauth_token_flow_and_rest_with_curl(broker_factory, certs):
    gw = broker_factory(extra={
        "listeners": [{"name": "mqtt", "protocol": "mqtt", "bind": harness.HOST, "port": 0},
                      {"name": "https", "protocol": "http", "bind": harness.HOST, "port": 0,
                       "tls": tls_block(certs)}],
        "netpie": {"enabled": True, "apps": n.default_apps()}})
    host, port = gw.ports["https"]
    # The certificate names localhost and 127.0.0.1; the request is signed for the URL curl uses.
    url = f"https://localhost:{port}"
    cacert = str(certs / "ca.crt")
    token, token_secret = n.get_token(gw, url=url, cacert=cacert)
    assert token and token_secret
    # The signature base string used https://localhost:<port>: the same signature over http is refused.
    bad_status, _, body = n.curl(
        "POST", url + "/api/rtoken", cacert=cacert,
        headers=[f"Authorization: {n.oauth_header('POST', url.replace('https', 'http') + '/api/rtoken', n.KEY, n.SECRET, callback=n.callback_for())}"])
    assert bad_status == 401, body
    status, body = n.curl_json("PUT", f"{url}/topic/{n.APPID}/tls/rest", data="over https",
                               user=f"{n.KEY}:{n.SECRET}", cacert=cacert)
    assert status == 200, body
    # curl with the wrong CA refuses the server, and the server logs the alert.
    r = subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", str(certs / "wrong-ca.crt"),
                        f"{url}/api/time"], capture_output=True, text=True, timeout=20)
    assert r.returncode == 60, r.stderr  # CURLE_PEER_FAILED_VERIFICATION
    gw.wait_log(r"http: https: 127\.0\.0\.1:\d+: TLS handshake refused by the peer: alert")
    # Plain HTTP on the TLS port is not answered in clear.
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(b"GET /api/time HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = read_until_closed(s)
    assert b"HTTP/1.1" not in answer
    status, _, _ = n.curl("GET", f"{url}/api/time", cacert=cacert)
    assert status == 200


# -- 9. Resumption and what is offered --------------------------------------------------------------------------------
def tls_client_context(certs: Path, tickets: bool = True) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(str(certs / "ca.crt"))
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2  # the listener speaks 1.2; a 1.3 offer would be declined anyway
    if not tickets:
        ctx.options |= ssl.OP_NO_TICKET
    return ctx


def handshake(ctx: ssl.SSLContext, addr, session=None) -> ssl.SSLSocket:
    s = ctx.wrap_socket(socket.create_connection(addr, timeout=10), server_hostname="localhost", session=session)
    return s


@pytest.mark.parametrize("cache_size,tickets,resumes", [(1000, True, True), (1000, False, True), (0, False, False)])
def test_sessions_resume_by_ticket_or_cache(broker_factory, certs, cache_size, tickets, resumes):
    """Python's ssl (OpenSSL) reconnects with the session of its first connection: by ticket (RFC 5077), or by
    session id from the server's cache when tickets are off; with the cache off and no ticket it cannot."""
    gw = tls_gateway(broker_factory, certs, tls=tls_block(certs, session_cache_size=cache_size))
    addr = gw.ports["mqtts"]
    ctx = tls_client_context(certs, tickets=tickets)
    with handshake(ctx, addr) as first:
        assert not first.session_reused
        assert first.version() == "TLSv1.2"
        session = first.session
        first.sendall(b"\xe0\x00")  # an MQTT DISCONNECT: the session is complete (OpenSSL keeps it then)
    with handshake(ctx, addr, session=session) as second:
        assert second.session_reused is resumes
    witness_round_trip(gw, certs, f"resume-{cache_size}-{tickets}")


@pytest.mark.parametrize("ciphers,accepted", [
    ("ECDHE-ECDSA-AES128-GCM-SHA256", True),
    ("ECDHE-ECDSA-CHACHA20-POLY1305", True),
    ("ECDHE-ECDSA-AES256-GCM-SHA384", True),
    ("ECDHE-ECDSA-AES128-SHA256", False),  # ECDHE but CBC: not AEAD
    ("AES128-GCM-SHA256", False),  # AEAD but static RSA key exchange: no forward secrecy
])
def test_only_ecdhe_with_aead_suites_are_offered(broker_factory, certs, ciphers, accepted):
    gw = tls_gateway(broker_factory, certs)
    ctx = tls_client_context(certs)
    ctx.set_ciphers(ciphers)
    if accepted:
        with handshake(ctx, gw.ports["mqtts"]) as s:
            assert s.cipher()[0] == ciphers
    else:
        with pytest.raises(ssl.SSLError):
            handshake(ctx, gw.ports["mqtts"]).close()
        gw.wait_log(r"net: mqtts: 127\.0\.0\.1:\d+: TLS handshake failed")


def test_tls_1_1_is_refused(broker_factory, certs):
    gw = tls_gateway(broker_factory, certs)
    ctx = tls_client_context(certs)
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    with pytest.raises(ssl.SSLError):
        handshake(ctx, gw.ports["mqtts"]).close()
    gw.wait_log(r"net: mqtts: 127\.0\.0\.1:\d+: TLS handshake failed")


# -- 10. Idle connections give their record buffers' memory back -----------------------------------------------------
def tls_mqtt(ctx: ssl.SSLContext, addr, client_id: str, topic: str, session=None) -> m.RawClient:
    """A raw MQTT 3.1.1 client over Python's ssl (OpenSSL), connected and subscribed to `topic` at QoS 0."""
    c = m.RawClient(addr)
    c.sock = ctx.wrap_socket(c.sock, server_hostname="localhost", session=session)
    c.connect(client_id)
    c.send(m.subscribe(1, [(topic, 0)]))
    c.expect(m.SUBACK)
    return c


def test_idle_connections_release_their_record_buffers_and_keep_working(broker_factory, certs):
    """With idle_release_ms, a TLS connection idle that long gives the pages of mbedTLS's record buffers back
    (TlsSession::release_idle_memory; logged at debug level with the bytes). Released again and again, between
    every exchange, the connections still carry messages both ways, of one record and of many, and a client
    that resumes its session (ticket) on a new connection works the same."""
    gw = tls_gateway(broker_factory, certs, tls=tls_block(certs, idle_release_ms=100), log_level="debug")
    addr = gw.ports["mqtts"]
    ctx = tls_client_context(certs)

    def releases(c: m.RawClient) -> list[int]:
        port = c.sock.getsockname()[1]
        return [int(x) for x in re.findall(rf"net: mqtts: 127\.0\.0\.1:{port}: idle 100 ms, (\d+) bytes released",
                                           gw.log_text())]

    seen: dict[int, int] = {}  # release lines of each client already waited for

    def wait_released(*clients: m.RawClient) -> None:
        """Each client's connection was released since it was last waited for (a release needs traffic
        since the last one, so the new line comes after the client's last message)."""
        for c in clients:
            port = c.sock.getsockname()[1]
            got = harness.wait_for(lambda: releases(c)[seen.get(port, 0):], 10, "an idle release")
            seen[port] = seen.get(port, 0) + len(got)
            assert got[-1] >= 8192, got  # at least two pages of the record buffers

    def send(src: m.RawClient, dst: m.RawClient, topic: str, payload: bytes) -> None:
        wait_released(src, dst)
        src.send(m.publish(topic, payload))
        got = m.parse_publish(dst.expect(m.PUBLISH))
        assert (got[0], got[2] == payload) == (topic, True), (got[0], len(got[2]))

    a = tls_mqtt(ctx, addr, "idle-a", "to/a")
    b = tls_mqtt(ctx, addr, "idle-b", "to/b")
    session = a.sock.session
    for i in range(3):
        for size in (10, 100_000):  # one record; seven 16 KiB records
            send(a, b, "to/b", os.urandom(size))
            send(b, a, "to/a", os.urandom(size + i))
    a.send(m.disconnect())
    a.close()
    c = tls_mqtt(ctx, addr, "idle-a", "to/a", session=session)
    assert c.sock.session_reused
    for size in (50_000, 5):
        send(b, c, "to/a", os.urandom(size))
        send(c, b, "to/b", os.urandom(size))
    b.close()
    c.close()
