"""DRAFT for tests/integration/test_uplink_tls.py (the lead decides; kept here so the integration glob does not
register it). The `mqtt` uplink over TLS to Debian's mosquitto as the cloud, with the certificates of
tests/tls/make-test-ca.sh: the edge connects and relays when it trusts the CA; with another CA it stays offline and
says why in its log (rows stay queued); a listener that requires client certificates takes the edge with one and
refuses it without. The witness is mosquitto_sub over TLS as well, so both ends are clients we did not write.

Run: cd tests/integration && NETPIE_EDGE_BIN=<build>/netpie-edge python3 -m pytest -p conftest ../tls/uplink_tls_draft.py
"""
from __future__ import annotations

import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

import harness
from peers import MosquittoSub, mosquitto_pub

pytestmark = pytest.mark.netpie_only

MAKE_CA = Path(__file__).resolve().parent / "make-test-ca.sh"


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("certs")
    subprocess.run(["sh", str(MAKE_CA), str(out)], check=True, timeout=60)
    return out


class TlsCloud(harness.Mosquitto):
    """Debian's mosquitto with its plain listener (for the harness's readiness probe) and a TLS listener."""

    def __init__(self, workdir: Path, certs: Path, require_client_cert: bool = False, **kw):
        super().__init__(workdir, **kw)
        self.certs = certs
        self.require_client_cert = require_client_cert
        self.tls_port = harness.free_port()

    def write_config(self) -> None:
        super().write_config()
        conf = self.dir / "mosquitto.conf"
        lines = [f"listener {self.tls_port} {harness.HOST}", f"cafile {self.certs / 'ca.crt'}",
                 f"certfile {self.certs / 'server.crt'}", f"keyfile {self.certs / 'server.key'}"]
        if self.require_client_cert:
            lines.append("require_certificate true")
        conf.write_text(conf.read_text() + "\n".join(lines) + "\n")

    def tls_subscriber(self, topic: str) -> MosquittoSub:
        extra = ["--cafile", str(self.certs / "ca.crt")]
        if self.require_client_cert:
            extra += ["--cert", str(self.certs / "client.crt"), "--key", str(self.certs / "client.key")]
        return MosquittoSub(SimpleNamespace(host=harness.HOST, port=self.tls_port), topic, qos=1, extra=extra)


def edge_with(broker_factory, cloud: TlsCloud, tls: dict, name: str = "edge") -> harness.Broker:
    return broker_factory(name=name, extra={
        "store": {"outbox": {"filters": ["up/#"]}},
        "uplinks": [{"name": "cloud", "host": harness.HOST, "port": cloud.tls_port, "tls": tls,
                     "topic_prefix": "cloud/", "reconnect_min_ms": 100, "reconnect_max_ms": 500}],
    })


def test_uplink_relays_over_tls_when_it_trusts_the_ca(tmp_path, broker_factory, certs):
    cloud = TlsCloud(tmp_path, certs, name="cloud")
    cloud.start()
    try:
        with cloud.tls_subscriber("cloud/#") as witness:
            edge = edge_with(broker_factory, cloud, {"ca_file": str(certs / "ca.crt")})
            edge.wait_log(r"uplink: cloud: online", timeout=10)
            mosquitto_pub(edge, "up/a", lines=[f"m{i}" for i in range(20)], qos=1)
            got = witness.wait_count(20, timeout=10)
            assert [m.payload for m in got] == [f"m{i}".encode() for i in range(20)], got
            harness.wait_for(lambda: edge.outbox_rows() == 0, 10, "an empty outbox")
    finally:
        cloud.stop(check=False)


def test_uplink_refuses_a_server_of_another_ca_and_keeps_the_rows(tmp_path, broker_factory, certs):
    cloud = TlsCloud(tmp_path, certs, name="cloud")
    cloud.start()
    try:
        wrong = certs / "wrong-ca.crt"
        edge = edge_with(broker_factory, cloud, {"ca_file": str(wrong)})
        edge.wait_log(r"certificate verify failed for 127\.0\.0\.1: not signed by a trusted CA \(ca_file "
                      + str(wrong).replace(".", r"\.") + r"\)", timeout=10)
        mosquitto_pub(edge, "up/a", lines=["kept-1", "kept-2"], qos=1)
        assert edge.outbox_rows() == 2
        assert "uplink: cloud: online" not in edge.log_text()
    finally:
        cloud.stop(check=False)


def test_uplink_client_certificate(tmp_path, broker_factory, certs):
    cloud = TlsCloud(tmp_path, certs, require_client_cert=True, name="cloud")
    cloud.start()
    try:
        without = edge_with(broker_factory, cloud, {"ca_file": str(certs / "ca.crt")}, name="bare")
        without.wait_log(r"TLS handshake refused by the peer: alert", timeout=10)
        with_cert = edge_with(broker_factory, cloud, {"ca_file": str(certs / "ca.crt"),
                                                      "cert_file": str(certs / "client.crt"),
                                                      "key_file": str(certs / "client.key")}, name="edge")
        with_cert.wait_log(r"uplink: cloud: online", timeout=10)
    finally:
        cloud.stop(check=False)
