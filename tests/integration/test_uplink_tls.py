"""The uplinks over TLS, with certificates from tests/tls/make-test-ca.sh (openssl CLI) and peers we did not write.

1. `mqtt` profile to Debian's mosquitto with a TLS listener: rows arrive; a second uplink that trusts the wrong CA
   logs why the certificate was refused, keeps its rows queued and keeps retrying, and the daemon stays up.
2. Client certificates: a mosquitto listener that requires one accepts the uplink with `tls.cert_file`/`key_file`.
3. An unreadable CA file stops the daemon at start with the file named.
4. `netpie` profile over TLS: gateway B (the NETPIE endpoint) behind socat as the TLS terminator on 8081 (token API)
   and 8883 (MQTT), the ports a TLS microgear uses; A logs in through it and a microgear on B receives A's message.
"""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

import harness
import netpie_peers as n
from peers import MosquittoSub, mosquitto_pub

pytestmark = pytest.mark.netpie_only



class TlsMosquitto(harness.PersistentMosquitto):
    """mosquitto with its plain listener (for the witness) plus a TLS listener and one requiring client
    certificates, all signed by the test CA."""

    def __init__(self, *args, certs: Path, **kwargs):
        super().__init__(*args, **kwargs)
        self.certs = certs
        self.tls_port = harness.free_port()
        self.mtls_port = harness.free_port()

    def write_config(self) -> None:
        super().write_config()
        conf = self.dir / "mosquitto.conf"
        c = self.certs
        extra = [f"listener {self.tls_port} {harness.HOST}", f"cafile {c / 'ca.crt'}",
                 f"certfile {c / 'server.crt'}", f"keyfile {c / 'server.key'}",
                 f"listener {self.mtls_port} {harness.HOST}", f"cafile {c / 'ca.crt'}",
                 f"certfile {c / 'server.crt'}", f"keyfile {c / 'server.key'}",
                 "require_certificate true"]
        conf.write_text(conf.read_text() + "\n".join(extra) + "\n")


def tls_uplink(name: str, port: int, ca: Path, prefix: str, **tls) -> dict:
    return {"name": name, "host": harness.HOST, "port": port, "client_id": f"edge-{name}",
            "tls": {"enabled": True, "ca_file": str(ca), **tls},
            "up": [{"filter": "t/#", "prefix": prefix}], "keepalive": 5,
            "reconnect_min_ms": 100, "reconnect_max_ms": 500}


def test_mqtt_uplink_over_tls_checks_the_certificate(broker_factory, tmp_path, certs):
    cloud = TlsMosquitto(tmp_path, name="cloud", sys_interval=60, certs=certs)
    cloud.start()
    try:
        edge = broker_factory(name="edge", extra={"uplinks": [
            tls_uplink("good", cloud.tls_port, certs / "ca.crt", "good/"),
            tls_uplink("wrong", cloud.tls_port, certs / "wrong-ca.crt", "wrong/"),
            tls_uplink("mtls", cloud.mtls_port, certs / "ca.crt", "mtls/", cert_file=str(certs / "client.crt"),
                       key_file=str(certs / "client.key")),
            tls_uplink("nocert", cloud.mtls_port, certs / "ca.crt", "nocert/"),
        ]})
        with MosquittoSub(cloud, "#", qos=1) as sub:
            edge.wait_log(r"uplink: good: online", timeout=10)
            edge.wait_log(r"uplink: mtls: online", timeout=10)
            mosquitto_pub(edge, "t/1", "over tls", qos=1)
            sub.wait_topic_payload("good/t/1", b"over tls")
            sub.wait_topic_payload("mtls/t/1", b"over tls")
            # The wrong CA: refused with the reason, and retried; its row stays in the outbox.
            m = edge.wait_log(r"uplink: wrong: cannot connect to 127\.0\.0\.1:\d+: ([^\n]*)", timeout=10)
            assert "certificate" in m.group(1) and "verify" in m.group(1), m.group(0)
            # Without a client certificate the listener that requires one ends the handshake.
            m = edge.wait_log(r"uplink: nocert: cannot connect to 127\.0\.0\.1:\d+: ([^\n]*)", timeout=10)
            print(f"wrong CA: {edge.log_text().count('uplink: wrong: cannot connect')} refused attempts; "
                  f"no client certificate: {m.group(1)}")
            harness.wait_for(lambda: edge.log_text().count("uplink: wrong: cannot connect") >= 3, 10,
                             "the wrong-CA uplink to keep retrying")
            assert edge.alive()
            assert edge.outbox_rows() == 2, "the rows of 'wrong' and 'nocert' wait in the outbox"
            with sub._lock:
                leaked = [x for x in sub.messages if x.topic.startswith(("wrong/", "nocert/"))]
            assert not leaked, f"messages went up over a refused TLS connection: {leaked}"
    finally:
        cloud.stop(check=False)


def test_an_unreadable_ca_file_stops_the_start_with_its_name(broker_factory, tmp_path):
    missing = tmp_path / "no-such-ca.pem"
    edge = broker_factory(name="edge", start=False, extra={"uplinks": [
        tls_uplink("c", 8883, missing, "x/")]})
    edge.write_config()
    r = subprocess.run(edge.command(), capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, r.stderr
    assert str(missing) in r.stderr and "uplinks[0] (c)" in r.stderr, r.stderr


class Socat:
    """socat as a TLS terminator: TLS on listen_host:listen_port, plain TCP to target."""

    def __init__(self, certs: Path, listen_host: str, listen_port: int, target_port: int, log: Path):
        self.log = log.open("w")
        self.proc = subprocess.Popen(
            ["socat", f"OPENSSL-LISTEN:{listen_port},bind={listen_host},reuseaddr,fork,"
                      f"cert={certs / 'server.crt'},key={certs / 'server.key'},verify=0",
             f"TCP:{listen_host}:{target_port}"], stdout=self.log, stderr=subprocess.STDOUT)
        harness.wait_for(lambda: harness.Endpoint(listen_host, listen_port).connect_probe() or
                         self.proc.poll() is not None, 10, f"socat on {listen_host}:{listen_port}")
        assert self.proc.poll() is None, f"socat exited: {log.read_text()}"

    def close(self) -> None:
        harness.terminate(self.proc)
        self.log.close()


def test_netpie_uplink_over_tls_through_a_tls_terminator(broker_factory, agents, tmp_path, certs):
    cloud_addr, edge_addr = "127.0.21.5", "127.0.21.6"
    cloud = n.start_gateway(broker_factory, cloud_addr, name="cloud")
    terminators = [Socat(certs, cloud_addr, 8081, 8080, tmp_path / "socat-8081.log"),
                   Socat(certs, cloud_addr, 8883, 1883, tmp_path / "socat-8883.log")]
    try:
        edge = n.start_gateway(broker_factory, edge_addr, name="edge", extra={
            "store": {"enabled": True},
            "uplinks": [{"name": "netpie", "profile": "netpie", "host": cloud_addr,
                         # The test certificate names localhost and 127.0.0.1, not the cloud's own address.
                         "tls": {"enabled": True, "ca_file": str(certs / "ca.crt"), "server_name": "localhost"},
                         "netpie": {"appid": n.APPID, "key": n.KEY, "secret": n.SECRET, "alias": "edge-tls"},
                         "up": [{"filter": f"/{n.APPID}/#"}], "reconnect_min_ms": 100, "reconnect_max_ms": 1000}]})
        m = edge.wait_log(r"uplink: netpie: online \(([^)]*)\)", timeout=20)
        assert m.group(1).startswith(f"{cloud_addr}:8883"), m.group(0)
        dash = agents(cloud_addr, tmp_path / "dash.cache", alias="dash")
        dash.wait_ev("connected")
        dash.send(op="subscribe", topic="/tls/temp")
        dash.wait_ev("subscribed", topic="/tls/temp", ok=1)
        t0 = time.monotonic()
        mosquitto_pub(edge, f"/{n.APPID}/tls/temp", "19.0", qos=1)
        dash.wait_ev("message", msg="19.0", timeout=20)
        print(f"netpie over TLS: online through socat, message at B after {time.monotonic() - t0:.2f} s")
    finally:
        for t in terminators:
            t.close()
