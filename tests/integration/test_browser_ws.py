"""A real browser (headless Chromium through browser.py) against the WebSocket listeners.

1. MQTT.js's browser bundle (node_modules/mqtt/dist) on a page of ours (web/mqttjs.html) connects over ws:// and
   wss:// and round-trips messages with mosquitto_pub/sub on the TCP listener; the page shows what it got.
2. NETPIE's official HTML5 microgear (loaded from the shared test peers by the test's web server; skipped with the
   reason when absent) on web/microgear.html, against the gateway's gearauth (8080) and WebSocket (8083)
   listeners on 127.0.43.1, next to an official Node microgear: it starts with a stale cached token (CONNACK 4,
   also on its Paho's MQIsdp/mqttv3.1 retry, then a new token), sets its alias (the retained @setalias is
   never stored), subscribes /&id/undefined/# (answered, not disconnected), chats both ways and sees presence.

The microgear library's ports are fixed, so its test binds 127.0.43.1:1883/8080/8083 (RESOURCE_LOCK
netpie_fixed_addresses); everything else is on port 0.
"""
from __future__ import annotations

import base64
import hashlib
import http.server
import json
import re
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

import browser
import harness
import netpie_peers as n
from peers import MosquittoSub, mosquitto_pub

pytestmark = pytest.mark.netpie_only

WEB = harness.HERE / "web"
MQTTJS_BUNDLE = harness.HERE / "node_modules" / "mqtt" / "dist" / "mqtt.min.js"


class PageServer:
    """The test's own web server: our pages, MQTT.js's bundle and (when given) the HTML5 microgear."""

    def __init__(self, host: str, microgear_dir: Path | None = None):
        routes = {"/mqttjs.html": WEB / "mqttjs.html", "/microgear.html": WEB / "microgear.html",
                  "/mqtt.min.js": MQTTJS_BUNDLE}
        if microgear_dir is not None:
            routes["/peers/microgear.js"] = microgear_dir / "microgear.js"

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                path = urllib.parse.urlsplit(self.path).path
                if path == "/blank.html":
                    body, ctype = b"<!doctype html><title>blank</title>", "text/html"
                elif path in routes:
                    body = routes[path].read_bytes()
                    ctype = "text/javascript" if path.endswith(".js") else "text/html; charset=utf-8"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def spki_hash(cert: Path) -> str:
    """base64(SHA-256(SubjectPublicKeyInfo)) of a certificate, for Chromium's --ignore-certificate-errors-spki-list:
    the browser then accepts that one key (our test server's) and no other untrusted certificate."""
    pub = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-pubkey"], check=True,
                         capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub, check=True,
                         capture_output=True).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def test_mqttjs_in_the_browser_over_ws_and_wss(broker_factory, certs):
    if not MQTTJS_BUNDLE.exists():
        pytest.fail(f"{MQTTJS_BUNDLE} is missing (npm ci in tests/integration)")
    tls = {"cert_file": str(certs / "server.crt"), "key_file": str(certs / "server.key")}
    extra = {"listeners": [{"name": "mqtt", "protocol": "mqtt", "bind": harness.HOST, "port": 0},
                           {"name": "ws", "protocol": "ws", "bind": harness.HOST, "port": 0},
                           {"name": "wss", "protocol": "ws", "bind": harness.HOST, "port": 0, "tls": tls}]}
    gw = broker_factory(extra=extra)
    web = PageServer(harness.HOST)
    count = 3
    try:
        with MosquittoSub(gw, "browser/up/#", qos=1, count=2 * count) as sub, \
                browser.Browser([f"--ignore-certificate-errors-spki-list={spki_hash(certs / 'server.crt')}"]) as br:
            page = br.new_page()
            ws = "ws://%s:%d/mqtt" % gw.ports["ws"]
            wss = "wss://localhost:%d/mqtt" % gw.ports["wss"][1]  # the certificate's name
            page.navigate(f"{web.url}/mqttjs.html?" + urllib.parse.urlencode(
                {"ws": ws, "wss": wss, "topic": "browser", "count": count}))
            page.wait_for("window.results.ws.subscribed && window.results.wss.subscribed", timeout=30,
                          what="both connections subscribed")
            for scheme in ("ws", "wss"):
                mosquitto_pub(gw, f"browser/down/{scheme}/x", f"to the {scheme} page", qos=1)
            page.wait_for("window.results.ws.received.length == 1 && window.results.wss.received.length == 1 && "
                          f"window.results.ws.published == {count} && window.results.wss.published == {count}",
                          timeout=30, what="a message down on each connection, every publish acknowledged")
            results = page.evaluate("window.results")
            got = sub.wait_count(2 * count)
    finally:
        web.close()
    for scheme in ("ws", "wss"):
        r = results[scheme]
        assert r["error"] is None and r["connack"] == 0 and r["subscribed"] == [1], r
        assert r["received"] == [[f"browser/down/{scheme}/x", f"to the {scheme} page"]], r
    up = sorted((m.topic, m.payload.decode()) for m in got)
    assert up == sorted((f"browser/up/{s}/{i}", f"{s} {i} สวัสดี") for s in ("ws", "wss") for i in range(count))
    assert 'client "browser-ws" connected from' in gw.log_text()
    assert 'client "browser-wss" connected from' in gw.log_text()


def microgear_gateway(broker_factory, addr: str):
    for port in (1883, 8080, 8083):
        holder = harness.port_in_use(addr, port)
        if holder:
            pytest.skip(f"{addr}:{port} is taken by {holder}")
    listeners = [{"name": "mqtt", "protocol": "mqtt", "bind": addr, "port": 1883},
                 {"name": "http", "protocol": "http", "bind": addr, "port": 8080},
                 {"name": "ws", "protocol": "ws", "bind": addr, "port": 8083}]
    return n.start_gateway(broker_factory, addr, log_level="trace", extra={"listeners": listeners})


def events(page, kind: str) -> list:
    return [e[1] for e in page.evaluate("window.mg_events") if e[0] == kind]


def test_html5_microgear_in_the_browser(broker_factory, agents, tmp_path):
    peers = browser.shared_peers_dir("microgear-html5")
    addr = "127.0.43.1"
    gw = microgear_gateway(broker_factory, addr)
    web = PageServer(addr, peers)
    try:
        with browser.Browser() as br:
            page = br.new_page()
            # A token cached by an earlier run against another server: the gateway never issued it.
            page.navigate(f"{web.url}/blank.html")
            stale = {"token": "STALEtoken000001", "secret": "0" * 32, "endpoint": f"pie://{addr}:1883"}
            page.evaluate(f"localStorage.setItem('microgear.{n.KEY}.key', {json.dumps(json.dumps(n.KEY))});"
                          f"localStorage.setItem('microgear.{n.KEY}.accesstoken', "
                          f"{json.dumps(json.dumps(json.dumps(stale)))}); true")
            page.navigate(f"{web.url}/microgear.html?" + urllib.parse.urlencode(
                {"appid": n.APPID, "key": n.KEY, "secret": n.SECRET, "alias": "htmlgear", "gearauth": addr,
                 "tls": 0}))
            # CONNACK 4 for the stale token, over both of Paho's attempts (MQTT 3.1.1 with sub-protocol mqtt, then
            # MQIsdp/3 with mqttv3.1): the library drops the token, fetches a new one and connects.
            gw.wait_log(r"unknown access token STALEtoken000001 .*CONNACK 4", timeout=20)
            page.wait_for("window.mg_ready === true", timeout=40, what="the microgear connected with a new token")
            log = gw.log_text()
            assert len(re.findall(r"unknown access token STALEtoken000001", log)) >= 2, log[-3000:]
            assert "WebSocket /mqtt mqtt" in log and "WebSocket /mqtt mqttv3.1" in log
            assert "invalid token, requesting a new one" in events(page, "info")
            cached = json.loads(page.evaluate(f"JSON.parse(localStorage.getItem('microgear.{n.KEY}.accesstoken'))"))
            token = cached["token"]
            assert token != stale["token"] and cached["endpoint"] == f"pie://{addr}:1883"
            gw.wait_log(rf'client "{token}" connected from')

            # A Node microgear joins: the page sees its presence, and they chat both ways by alias.
            node = agents(addr, tmp_path / "node.cache", alias="nodegear")
            node.wait_ev("connected")
            page.wait_for("window.mg_events.some(e => e[0] == 'present' && JSON.stringify(e[1]).includes('nodegear'))",
                          timeout=20, what="the Node microgear's presence")
            node.send(op="chat", alias="htmlgear", msg="hello browser")
            page.wait_for("window.mg_events.some(e => e[0] == 'message' && e[1][1] == 'hello browser')",
                          timeout=20, what="chat from the Node microgear")
            assert [f"/{n.APPID}/gearname/htmlgear", "hello browser"] in events(page, "message")
            page.evaluate("window.mg.chat('nodegear', 'hello node'); true")
            m = node.wait_ev("message", msg="hello node")
            assert m["topic"] == f"/{n.APPID}/gearname/nodegear"

            # /&id/undefined/# got its SUBACK; the browser's connection was never dropped.
            assert not events(page, "disconnected")
            assert f'client "{token}" disconnected' not in gw.log_text()
            # @setalias came with RETAIN set and is not a retained message: a new subscriber to the whole app gets
            # every retained message at once, ending with a marker retained here.
            mosquitto_pub(gw, f"/{n.APPID}/zz/marker", "m", retain=True)
            with MosquittoSub(gw, f"/{n.APPID}/#") as sub:
                retained = sub.wait_topic_payload(f"/{n.APPID}/zz/marker", b"m")
            assert not [r for r in retained if "@setalias" in r.topic], retained
            assert not [r for r in gw.query_state("SELECT topic FROM retained") if "@setalias" in r[0]]

            # The tab is closed: the Node microgear sees the alias absent.
            mark = node.mark()
            br.send("Target.closeTarget", {"targetId": page.target_id})
            node.wait(lambda e: e["ev"] == "absent" and "htmlgear" in json.dumps(e["data"]), since=mark,
                      what="the browser's absence")
    finally:
        web.close()


def test_html5_microgear_polling_atoken_is_held_until_approval(broker_factory, tmp_path):
    """A page whose key the owner has not approved asks /api/atoken again the moment it is answered (about 120
    times a second, each with a CORS pre-flight). The gateway holds each 401 (netpie.atoken_hold_ms, here longer
    than the test) and answers the held request the moment the owner approves."""
    peers = browser.shared_peers_dir("microgear-html5")
    addr = "127.0.43.2"
    for port in (1883, 8080, 8083):
        holder = harness.port_in_use(addr, port)
        if holder:
            pytest.skip(f"{addr}:{port} is taken by {holder}")
    listeners = [{"name": "mqtt", "protocol": "mqtt", "bind": addr, "port": 1883},
                 {"name": "http", "protocol": "http", "bind": addr, "port": 8080},
                 {"name": "ws", "protocol": "ws", "bind": addr, "port": 8083}]
    gw = n.start_gateway(broker_factory, addr, log_level="debug", netpie={"atoken_hold_ms": 60000},
                         extra={"listeners": listeners})
    web = PageServer(addr, peers)
    try:
        with browser.Browser() as br:
            page = br.new_page()
            page.navigate(f"{web.url}/microgear.html?" + urllib.parse.urlencode(
                {"appid": n.APPID, "key": n.APPROVAL_KEY, "secret": n.APPROVAL_SECRET, "alias": "waiting",
                 "gearauth": addr, "tls": 0}))
            gw.wait_log(r"POST /api/atoken", timeout=20)
            # An observation window, not a timed assertion: with the 401 held for a minute the page cannot have
            # asked twice in it, however fast or slow the machine (without the hold it asks hundreds of times).
            time.sleep(2)
            polls = len(re.findall(r"POST /api/atoken", gw.log_text()))
            assert polls == 1, f"{polls} /api/atoken requests while the first was held"
            pending = n.curl_json("GET", f"{n.base_url(gw)}/admin/requests")[1]
            assert len(pending) == 1 and pending[0]["key"] == n.APPROVAL_KEY
            status, body = n.curl_json("POST", f"{n.base_url(gw)}/admin/approve/{pending[0]['request_token']}")
            assert status == 200, body
            # The held request is answered at once: the page connects well within the hold (60 s), so the hold
            # did not delay the approval.
            gw.wait_log(rf"key {n.APPROVAL_KEY} approved: answering its 1 held /api/atoken request\(s\) now")
            page.wait_for("window.mg_ready === true", timeout=30, what="the microgear connected after approval")
    finally:
        web.close()
