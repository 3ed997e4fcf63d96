"""The official Node microgear (npm `microgear` 0.8.1, unmodified) with useTLS(true) against the gateway's own TLS
listeners: the token flow over HTTPS on 8081 (OAuth 1.0a signed for https://<host>:8081, verified natively) and MQTT
over TLS on 8883, the library's fixed ports. Node trusts the test CA through NODE_EXTRA_CA_CERTS and checks the
gateway's certificate against the address it connects to, so the certificate is made here for that address.

Fixed ports on fixed loopback addresses 127.0.42.<n> (this file's block); CTest runs it under the
netpie_fixed_addresses lock with the other microgear files.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import harness
import netpie_peers as n
from peers import MosquittoSub, mosquitto_pub

pytestmark = pytest.mark.netpie_only


def leaf_for(certs: Path, out: Path, address: str) -> tuple[Path, Path]:
    """A server certificate for `address` (IP subjectAltName) signed by the test CA, with the openssl CLI."""
    key, csr, crt, ext = out / "gw.key", out / "gw.csr", out / "gw.crt", out / "gw.ext"
    ext.write_text("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                   f"extendedKeyUsage=serverAuth\nsubjectAltName=IP:{address}\n")
    for cmd in (["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(key)],
                ["openssl", "req", "-new", "-key", str(key), "-subj", f"/CN={address}", "-out", str(csr)],
                ["openssl", "x509", "-req", "-in", str(csr), "-CA", str(certs / "ca.crt"), "-CAkey",
                 str(certs / "ca.key"), "-set_serial", "0x" + os.urandom(8).hex(), "-days", "30", "-sha256",
                 "-extfile", str(ext), "-out", str(crt)]):
        subprocess.run(cmd, check=True, capture_output=True, timeout=30)
    return crt, key


def start_tls_gateway(broker_factory, certs: Path, tmp_path: Path, address: str, **options):
    """MQTT over TLS on <address>:8883 and HTTPS on 8081; plain MQTT (the witness's) on a free port, so nothing
    but the TLS listeners answers on the address: a microgear that connects came over TLS on both legs."""
    for port in (1883, 8080, 8081, 8883):
        holder = harness.port_in_use(address, port)
        if holder:
            pytest.skip(f"{address}:{port} is taken by {holder}")
    crt, key = leaf_for(certs, tmp_path, address)
    tls = {"cert_file": str(crt), "key_file": str(key)}
    gw = broker_factory(extra={
        "listeners": [{"name": "mqtt", "protocol": "mqtt", "bind": address, "port": 0},
                      {"name": "mqtts", "protocol": "mqtt", "bind": address, "tls": tls},
                      {"name": "https", "protocol": "http", "bind": address, "tls": tls}],
        "netpie": {"enabled": True, "apps": n.default_apps()}}, **options)
    # The default ports of TLS listeners are NETPIE's.
    assert gw.ports["mqtts"] == (address, 8883) and gw.ports["https"] == (address, 8081), gw.ports
    return gw


def test_microgear_with_tls_gets_a_token_over_https_and_talks_over_mqtts(broker_factory, agents, certs, tmp_path):
    addr = "127.0.42.1"
    gw = start_tls_gateway(broker_factory, certs, tmp_path, addr)
    a = agents(addr, tmp_path / "a.cache", alias="secure-a", tls_ca=certs / "ca.crt")
    a.wait_ev("connected", timeout=30)
    # Nothing listens on 8080 or 1883 there: the token came from the https listener, the session is on mqtts.
    m = gw.wait_log(r'client "([^"]+)" connected from [\d.]+:\d+: user KEY')
    cache = n.read_cache(tmp_path / "a.cache")
    assert m.group(1) == cache["accesstoken"]["token"]
    assert cache["accesstoken"]["endpoint"].startswith(f"pie://{addr}:")
    log = gw.log_text()
    assert "refused" not in log and "TLS handshake" not in log, log
    b = agents(addr, tmp_path / "b.cache", alias="secure-b", tls_ca=certs / "ca.crt")
    b.wait_ev("connected", timeout=30)
    # Chat between the two TLS microgears, and app topics to a plain MQTT client on the TCP listener.
    mark = b.mark()
    a.send(op="chat", alias="secure-b", msg="hello over tls")
    b.wait_ev("message", msg="hello over tls", since=mark)
    a.send(op="subscribe", topic="/room/temp")
    a.wait_ev("subscribed", topic="/room/temp", ok=1)
    mark = a.mark()
    mosquitto_pub(gw, f"/{n.APPID}/room/temp", "21.5", qos=1)
    a.wait_ev("message", topic=f"/{n.APPID}/room/temp", msg="21.5", since=mark)
    with MosquittoSub(gw, f"/{n.APPID}/room/#", qos=1) as sub:
        b.send(op="publish", topic="/room/humidity", msg="40")
        sub.wait_topic_payload(f"/{n.APPID}/room/humidity", b"40")


def test_microgear_with_tls_refuses_a_gateway_it_does_not_trust(broker_factory, agents, certs, tmp_path):
    """The library checks the certificate: trusting another CA, it never sends its signed request."""
    addr = "127.0.42.2"
    gw = start_tls_gateway(broker_factory, certs, tmp_path, addr, log_level="debug")
    a = agents(addr, tmp_path / "a.cache", alias="untrusting", tls_ca=certs / "wrong-ca.crt")
    # Node checks the certificate after the handshake and drops the socket; the library then gives up on the
    # request token (its own wording) without ever sending the signed request.
    a.wait_ev("error", msg="Request token is not issued, please check your key and secret", timeout=30)
    assert not a.of("connected")
    log = gw.log_text()
    assert "/api/rtoken" not in log and "connected from" not in log, log
