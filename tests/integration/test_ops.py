"""The operator's view (gateway/ops/README.md): /healthz, /readyz, /metrics scraped by a real Prometheus, /api/v1 and
its access rules, bad input. Everything on port 0 except what must not be loopback.

Prometheus (Debian's `prometheus`) runs per test with its own config (scrape interval 1 s), its own storage
directory and --web.listen-address on port 0 (its log names the port); the test asks its HTTP API for the series
and waits until they carry the values the test caused. `promtool check metrics` lints our exposition.
"""
from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

import harness
import netpie_peers as n
import rawmqtt
from harness import wait_for
from peers import MosquittoSub, mosquitto_pub

pytestmark = pytest.mark.netpie_only


def gateway(broker_factory, bind: str = "127.0.0.1", **kw):
    extra = {"listeners": [{"name": "mqtt", "protocol": "mqtt", "bind": "127.0.0.1", "port": 0},
                           {"name": "http", "protocol": "http", "bind": bind, "port": 0}]}
    extra.update(kw.pop("extra", {}))
    return broker_factory(extra=extra, **kw)


def url(b, path: str, host: str | None = None) -> str:
    h, port = b.ports["http"]
    return f"http://{host or h}:{port}{path}"


def get(b, path: str) -> tuple[int, str]:
    status, _, body = n.curl("GET", url(b, path))
    return status, body


def metric(text: str, name: str, **labels) -> float | None:
    """The value of one sample in exposition text (labels compared as given), or None."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][\w:]*)(\{(.*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(m.group(4))
    return None


class Prometheus:
    """Debian's prometheus scraping one target every second, on port 0 with a storage directory of its own."""

    def __init__(self, workdir: Path, target: str):
        exe = shutil.which("prometheus")
        if not exe:
            pytest.skip("prometheus is not installed (deploy/install-deps.sh --test installs Debian's prometheus)")
        self.dir = workdir / "prometheus"
        self.dir.mkdir()
        (self.dir / "prometheus.yml").write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            f"scrape_configs:\n  - job_name: gateway\n    static_configs:\n      - targets: ['{target}']\n")
        self.log = open(self.dir / "log", "wb")
        self.proc = subprocess.Popen(
            [exe, f"--config.file={self.dir / 'prometheus.yml'}", f"--storage.tsdb.path={self.dir / 'data'}",
             "--web.listen-address=127.0.0.1:0", "--storage.tsdb.retention.time=1h"],
            stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL, cwd=self.dir,
            preexec_fn=harness.die_with_parent)
        m = wait_for(lambda: re.search(rb'msg="Listening on" address=127\.0\.0\.1:(\d+)',
                                       (self.dir / "log").read_bytes()), 60, "prometheus listening")
        self.base = f"http://127.0.0.1:{int(m.group(1))}"

    def query(self, expr: str) -> list[dict]:
        with urllib.request.urlopen(f"{self.base}/api/v1/query?" + urllib.parse.urlencode({"query": expr}),
                                    timeout=10) as r:
            answer = json.load(r)
        assert answer["status"] == "success", answer
        return answer["data"]["result"]

    def value(self, expr: str) -> float | None:
        try:
            result = self.query(expr)
        except OSError:
            return None
        return float(result[0]["value"][1]) if len(result) == 1 else None

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()

    def log_text(self) -> str:
        return (self.dir / "log").read_text(errors="replace")[-3000:]


def test_prometheus_scrapes_the_messages_and_the_drop_we_caused(broker_factory, tmp_path):
    b = gateway(broker_factory)
    host, port = b.ports["http"]
    # An absent persistent subscriber: QoS 1 is queued for it, QoS 0 is dropped as offline_qos0 (MQTT 3.1.1 §4.4).
    with MosquittoSub(b, "ops/t", qos=1, client_id="ops-absent", clean=False):
        pass
    for i in range(7):
        mosquitto_pub(b, "ops/t", f"m{i}", qos=1)
    for i in range(3):
        mosquitto_pub(b, "ops/t", f"z{i}", qos=0)
    prom = Prometheus(tmp_path, f"{host}:{port}")
    try:
        want = {
            'netpie_edge_messages_received_total{protocol="mqtt",qos="1"}': 7,
            'netpie_edge_messages_received_total{protocol="mqtt",qos="0"}': 3,
            'netpie_edge_messages_dropped_total{reason="offline_qos0"}': 3,
            'netpie_edge_connections{protocol="mqtt"}': 0,
            'up{job="gateway"}': 1,
        }
        for expr, value in want.items():
            wait_for(lambda: prom.value(expr) == value, 60,
                     f"{expr} == {value} in Prometheus (last {prom.value(expr)}; log {prom.log_text()})")
        # A connected client shows up at the next scrape.
        with MosquittoSub(b, "ops/live", qos=0):
            wait_for(lambda: prom.value('netpie_edge_connections{protocol="mqtt"}') == 1, 60,
                     "one connection in Prometheus")
        assert prom.value("netpie_edge_store_commits_total") > 0
        assert prom.value('netpie_edge_store_commit_seconds_count') > 0
    finally:
        prom.close()


def test_promtool_accepts_our_exposition(broker_factory):
    if not shutil.which("promtool"):
        pytest.skip("promtool is not installed (Debian's prometheus package has it)")
    b = gateway(broker_factory, extra={
        "uplinks": [{"name": "cloud", "profile": "mqtt", "host": "127.0.0.1", "port": harness.free_port(),
                     "tls": {"enabled": False}, "reconnect_min_ms": 100, "reconnect_max_ms": 500}],
        "store": {"outbox": {"filters": ["up/#"]}}})
    mosquitto_pub(b, "up/x", "to the cloud", qos=1)
    assert get(b, "/healthz")[0] == 200
    status, _, text = n.curl("GET", url(b, "/metrics"))
    assert status == 200
    for family in ("netpie_edge_uplink_backlog_rows", "netpie_edge_store_commit_seconds",
                   "netpie_edge_http_requests_total", "netpie_edge_messages_dropped_total"):
        assert f"# TYPE {family} " in text, family
    assert metric(text, "netpie_edge_uplink_backlog_rows", uplink="cloud") == 1
    r = subprocess.run(["promtool", "check", "metrics"], input=text.encode(), capture_output=True, timeout=30)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    assert r.stdout.decode().strip() == "" and r.stderr.decode().strip() == "", "lint findings: " + r.stderr.decode()


def test_healthz_readyz_and_methods(broker_factory):
    b = gateway(broker_factory)
    assert get(b, "/healthz") == (200, "ok\n")
    assert get(b, "/readyz") == (200, "ready\n")
    status, hdrs, _ = n.curl("POST", url(b, "/healthz"))
    assert status == 405 and hdrs.get("allow") == "GET"
    status, _, text = n.curl("GET", url(b, "/metrics"))
    assert metric(text, "netpie_edge_ready") == 1
    # Requests are counted by route and status (this scrape sees the ones before it).
    assert metric(text, "netpie_edge_http_requests_total", route="/healthz", status="405") == 1
    assert metric(text, "netpie_edge_http_requests_total", route="/readyz", status="200") == 1


def non_loopback_address() -> str | None:
    """An address of this machine that is not loopback, or None."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            addr = s.getsockname()[0]
    except OSError:
        return None
    return None if addr.startswith("127.") else addr


def test_admin_api_from_a_lan_address_without_credentials_is_403(broker_factory):
    addr = non_loopback_address()
    if addr is None:
        pytest.skip("this machine has no non-loopback IPv4 address to come from")
    b = gateway(broker_factory, bind="0.0.0.0",
                extra={"http": {"admin_users": [{"username": "owner", "password_hash": harness.hash_password("pw")}]},
                       "netpie": {"enabled": True, "apps": n.default_apps()}})
    for path in ("/", "/api/v1/status", "/api/v1/clients", "/api/v1/tokens"):
        status, _, body = n.curl("GET", url(b, path, host=addr))
        assert status == 403, (path, status, body)
    # Credentials do not open it over plain HTTP: they would cross the LAN in the clear.
    status, _, body = n.curl("GET", url(b, "/api/v1/status", host=addr), user="owner:pw")
    assert status == 403 and "HTTPS" in body, body
    status, _, _ = n.curl("POST", url(b, "/api/v1/tokens/x/revoke", host=addr), headers=["Content-Type: application/json"])
    assert status == 403
    # The NETPIE admin API stays loopback-only too; health and metrics are for anyone the listener lets in.
    assert n.curl("GET", url(b, "/admin/tokens", host=addr))[0] == 403
    assert n.curl("GET", url(b, "/healthz", host=addr))[0] == 200
    assert n.curl("GET", url(b, "/metrics", host=addr))[0] == 200
    # From loopback, the same listener answers the owner.
    assert n.curl("GET", url(b, "/api/v1/status", host="127.0.0.1"))[0] == 200


def test_cross_site_and_simple_posts_are_refused(broker_factory):
    b = gateway(broker_factory, extra={"netpie": {"enabled": True, "apps": n.default_apps()}})
    host, port = b.ports["http"]
    revoke = url(b, "/api/v1/tokens/NOSUCHTOKEN/revoke")
    json_type = "Content-Type: application/json"
    cases = [
        ([json_type, "Origin: http://evil.example"], 403),
        ([json_type, "Sec-Fetch-Site: cross-site"], 403),
        ([json_type, "Sec-Fetch-Site: same-site"], 403),
        ([json_type, "Origin: null"], 403),
        (["Content-Type: text/plain"], 415),  # what a cross-site form or a simple fetch can send
        (["Content-Type: application/x-www-form-urlencoded"], 415),
        ([json_type, f"Origin: http://{host}:{port}", "Sec-Fetch-Site: same-origin"], 404),  # allowed: no such token
        ([json_type], 404),  # curl, a script on the gateway: no Origin at all
    ]
    for headers, want in cases:
        status, _, body = n.curl("POST", revoke, headers=headers)
        assert status == want, (headers, status, body)
    # The NETPIE admin API's POSTs get the same-origin checks (curl without Origin keeps working).
    status, _, body = n.curl("POST", url(b, "/admin/approve/NOSUCH"), headers=["Origin: http://evil.example"])
    assert status == 403, body
    assert n.curl("POST", url(b, "/admin/approve/NOSUCH"))[0] == 404
    # DNS rebinding: a page of evil.example resolved to 127.0.0.1 sends Host: evil.example.
    status, _, body = n.curl("GET", url(b, "/api/v1/status"), headers=["Host: evil.example"])
    assert status == 403, body
    status, hdrs, page = n.curl("GET", url(b, "/"))
    assert status == 200 and hdrs["content-type"].startswith("text/html")
    assert hdrs.get("x-frame-options") == "DENY" and "frame-ancestors 'none'" in hdrs["content-security-policy"]
    assert "<script" in page and "http://" not in page.replace("http://www.w3.org", "") and "https://" not in page


def test_huge_and_malformed_query_strings_get_4xx(broker_factory):
    b = gateway(broker_factory)
    for path, want in [
        ("/api/v1/clients?limit=abc", 400),
        ("/api/v1/clients?limit=-1", 400),
        ("/api/v1/clients?limit=1001", 400),
        ("/api/v1/clients?offset=99999999999999999999999", 400),
        ("/api/v1/clients?nosuch=1", 400),
        ("/api/v1/status?%zz", 400),
        ("/api/v1/status?a=%4", 400),
        ("/metrics?x=1", 400),
        ("/metrics?%", 400),
        ("/api/v1/nosuch", 404),
        ("/api/v1/tokens/x/revoke", 405),
    ]:
        status, body = get(b, path)
        assert status == want, (path, status, body)
    # Bigger than the header bound (http.max_header_bytes, 8 KiB): the parser answers before any route runs.
    huge = "/api/v1/clients?" + "a=" + "x" * 20000
    status, _ = get(b, huge)
    assert status in (414, 431), status
    assert get(b, "/healthz") == (200, "ok\n")  # and the gateway is fine


def test_metrics_and_lists_stay_bounded_under_1000_connections(broker_factory):
    b = gateway(broker_factory, limits={"max_connections": 2000})
    _, empty = get(b, "/metrics")
    clients = []
    try:
        for i in range(1000):
            c = rawmqtt.RawClient(b.address)
            c.connect(client_id=f"many-{i:04d}")
            clients.append(c)
        status, _, text = n.curl("GET", url(b, "/metrics"))  # curl's --max-time 10 bounds the answer's time
        assert status == 200
        assert metric(text, "netpie_edge_connections", protocol="mqtt") == 1000
        # Per protocol, reason and route, never per client: the size does not grow with the clients.
        assert len(text) < len(empty) + 2048, (len(empty), len(text))
        status, page = get(b, "/api/v1/clients")
        listed = json.loads(page)
        assert status == 200 and listed["total"] == 1000 and len(listed["items"]) == 100
        listed = json.loads(get(b, "/api/v1/clients?limit=1000&offset=990")[1])
        assert len(listed["items"]) == 10
        status, page = get(b, "/api/v1/status")
        assert status == 200 and len(json.loads(page)["clients"]["items"]) == 200
    finally:
        for c in clients:
            c.sock.close()
