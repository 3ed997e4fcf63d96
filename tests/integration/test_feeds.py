"""NETPIE feeds and topic history on the gateway (docs/netpie-feeds.md), with clients we did not write.

- The official Node microgear's writeFeed (JSON object, and the ESP8266 library's unquoted-key text), read back with
  curl; a wrong api key or another app's feed gets @error and stores nothing.
- curl writes in the REST form (data=temp:25.7,humid:52.4, with and without timestamp) and reads them back, raw and
  bucketed; the answer has the shape NETPIE's Freeboard feed datasource reads (data, lastest_data, granularity,
  from, to).
- The chart: 24 hours of 1 Hz points for 3 fields, each a REST write with its timestamp, then
  since=24hour&granularity=10minute&aggregate=avg gives 144 points per field, equal to the averages computed here.
- The official Freeboard NETPIE feed datasource (netpie.plugin.feed.js from the shared peers folder, unmodified) in
  headless Chromium, api.netpie.io mapped to the gateway's HTTPS listener on 127.0.46.1:443, as a LAN DNS override
  would: the points its update callback receives are the points written, and a point written later arrives by its
  poll.
- Outage: the uplink's upstream (mosquitto) is down; points written are queryable at once, wait in the outbox, and
  reach the upstream in order once it is back.
- Bad input: malformed data=, non-numeric values, huge field counts, unknown feed, missing or wrong api key, absurd
  ranges, too many buckets, a history limit of 10^9: each a clear 4xx with a JSON body, and nothing stored.
- GET /history/<filter>: JSON and CSV, paged by seq (after_seq), since/until, rights of a NETPIE key.

The microgear and Chromium tests bind fixed ports (the library's 8080 and 1883; HTTPS 443) on addresses of their own,
127.0.46.<n>; the others use port 0.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

import paho.mqtt.client as paho
import pytest

import harness
import netpie_peers as n
from dura_common import port_outside_ephemeral_range
from harness import wait_for

pytestmark = pytest.mark.netpie_only

FEED = "farmfeed"
APIKEY = "FeedKey0000001"
OTHER_FEED = "otherfeed"
OTHER_APIKEY = "OtherFeedKey01"
AUTH = f"{n.KEY}:{n.SECRET}"


def feed_apps(**store_feeds) -> list[dict]:
    apps = n.default_apps()
    apps[0]["feeds"] = [{"id": FEED, "api_keys": [APIKEY], "fields": {"temp": "C", "humid": "%"}}]
    apps[1]["feeds"] = [{"id": OTHER_FEED, "api_keys": [OTHER_APIKEY]}]
    return apps


def rest_gateway(broker_factory, store: dict | None = None, **options):
    """A gateway with the NETPIE endpoint on an HTTP listener of port 0 on 127.0.0.1 (REST only)."""
    extra = {
        "listeners": [{"name": "mqtt", "protocol": "mqtt", "bind": "127.0.0.1", "port": 0},
                      {"name": "http", "protocol": "http", "bind": "127.0.0.1", "port": 0}],
        "netpie": {"enabled": True, "apps": feed_apps()},
    }
    if store:
        extra["store"] = store
    extra.update(options.pop("extra", {}))
    return broker_factory(extra=extra, **options)


def feed_url(gw, feed: str = FEED, apikey: str | None = APIKEY, **params) -> str:
    q = {} if apikey is None else {"apikey": apikey}
    q.update(params)
    return f"{n.base_url(gw)}/feed/{feed}" + ("?" + urllib.parse.urlencode(q) if q else "")


def curl_form(method: str, url: str, form: str) -> tuple[int, dict]:
    """curl with a form body, as the REST feed write is documented (application/x-www-form-urlencoded)."""
    r = subprocess.run(["curl", "-sS", "--max-time", "10", "-X", method, "-w", "\n%{http_code}", "--data", "@-", url],
                       input=form, capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    body, _, code = r.stdout.rpartition("\n")
    return int(code), json.loads(body)


def values_of(answer: dict, field: str, key: str = "data") -> list[list]:
    for s in answer[key]:
        if s["attr"] == field:
            return s["values"]
    raise AssertionError(f"no field {field} in {answer}")


def now_ms() -> int:
    return int(time.time() * 1000)


# -- CoAP (NB-IoT) -----------------------------------------------------------------------------------------------
def test_coap_client_writes_a_feed_read_back_with_curl(broker_factory):
    """docs/netpie-protocol.md §9.3: the NB-IoT library PUTs feed/<feedid>?apikey= with the payload data=<k:v,...>;
    coap-client (Debian libcoap3-bin) writes, curl reads the point back; a wrong api key gets 4.01 and stores nothing."""
    coap_client = next((shutil.which(b) for b in ("coap-client", "coap-client-openssl", "coap-client-gnutls",
                                                   "coap-client-notls") if shutil.which(b)), None)
    if coap_client is None:
        pytest.skip("coap-client is not installed (Debian libcoap3-bin; deploy/install-deps.sh --test)")
    gw = rest_gateway(broker_factory, extra={"listeners": [
        {"name": "mqtt", "protocol": "mqtt", "bind": "127.0.0.1", "port": 0},
        {"name": "http", "protocol": "http", "bind": "127.0.0.1", "port": 0},
        {"name": "coap", "protocol": "coap", "bind": "127.0.0.1", "port": 0}]})
    base = f"coap://127.0.0.1:{gw.ports['coap'][1]}/feed/{FEED}"

    def put(apikey: str, payload: str) -> subprocess.CompletedProcess:
        return subprocess.run([coap_client, "-m", "put", "-e", payload, f"{base}?apikey={apikey}"],
                              capture_output=True, text=True, timeout=30)

    before = now_ms()
    r = put(APIKEY, "data=temp:21.5,humid:40")
    assert r.returncode == 0 and "4." not in r.stdout + r.stderr, r
    r = put("WrongKey000000", "data=temp:99")
    assert "4.01" in r.stdout + r.stderr or "Unauthorized" in r.stdout + r.stderr, r
    status, raw = n.curl_json("GET", feed_url(gw, since="1hour"))
    assert status == 200, raw
    temp = values_of(raw, "temp")
    assert [v for _, v in temp] == [21.5], raw  # the wrong key's 99 was not stored
    assert before <= temp[0][0] <= now_ms()
    assert [v for _, v in values_of(raw, "humid")] == [40.0], raw


# -- the official Node microgear ----------------------------------------------------------------------------------
def test_microgear_writefeed_read_back_with_curl(broker_factory, agents, tmp_path):
    addr = "127.0.46.2"
    gw = n.start_gateway(broker_factory, addr, netpie={"apps": feed_apps()})
    g = agents(addr, tmp_path / "g.cache", alias="sensor")
    g.wait_ev("connected")
    before = now_ms()
    g.send(op="writefeed", feedid=FEED, data={"temp": 25.5, "humid": 61})              # JSON.stringify'd
    g.send(op="writefeed", feedid=FEED, data="{temp:26.25,humid:62}", apikey=APIKEY)  # ESP8266's form
    url = feed_url(gw, since="1hour")
    last = {}

    def both():
        last["answer"] = n.curl_json("GET", url)[1]
        a = last["answer"]
        return a if len(a["data"]) == 2 and len(a["data"][0]["values"]) == 2 else None
    try:
        got = wait_for(both, timeout=15, what="both microgear points readable over REST")
    except AssertionError:
        raise AssertionError(f"last answer {last}, microgear events {g.events}")
    temps = values_of(got, "temp")
    assert [v for _, v in temps] == [25.5, 26.25], got
    assert [v for _, v in values_of(got, "humid")] == [61, 62]
    assert all(before <= t <= now_ms() for t, _ in temps), temps
    assert got["data"][0]["unit"] == "C" and got["data"][1]["unit"] == "%"
    assert values_of(got, "temp", "lastest_data") == [temps[-1]]
    # Refused: a wrong api key, another app's feed without its key, a non-numeric value; each an @error, none stored.
    mark = g.mark()
    g.send(op="writefeed", feedid=FEED, data={"temp": 1}, apikey="WrongKey")
    g.wait(lambda e: e["ev"] == "error" and "wrong apikey" in e["msg"], since=mark, what="@error for the wrong key")
    g.send(op="writefeed", feedid=OTHER_FEED, data={"x": 1})
    g.wait(lambda e: e["ev"] == "error" and "another app" in e["msg"], since=mark, what="@error: not its app")
    g.send(op="writefeed", feedid=FEED, data='{"temp":"warm"}')
    g.wait(lambda e: e["ev"] == "error" and "not a number" in e["msg"], since=mark, what="@error: not a number")
    # The other app's feed takes the point with its key; then a last good write shows that nothing else came in.
    g.send(op="writefeed", feedid=OTHER_FEED, data={"x": 7}, apikey=OTHER_APIKEY)
    g.send(op="writefeed", feedid=FEED, data={"temp": 27})
    got = wait_for(lambda: (lambda a: a if len(values_of(a, "temp")) == 3 else None)(n.curl_json("GET", url)[1]),
                   timeout=15, what="the third point")
    assert [v for _, v in values_of(got, "temp")] == [25.5, 26.25, 27]
    assert len(values_of(got, "humid")) == 2
    other = n.curl_json("GET", feed_url(gw, OTHER_FEED, OTHER_APIKEY, since="1hour"))[1]
    assert [v for _, v in values_of(other, "x")] == [7]


# -- curl: the REST form ------------------------------------------------------------------------------------------
def test_rest_write_and_read_shapes(broker_factory):
    gw = rest_gateway(broker_factory)
    t0 = (now_ms() // 60_000 - 5) * 60_000  # five whole minutes ago
    for i, (temp, humid) in enumerate([(20.0, 50.0), (22.0, 54.0), (30.0, 70.0)]):
        status, body = curl_form("PUT", feed_url(gw), f"data=temp:{temp},humid:{humid}&timestamp={t0 + i * 20_000}")
        assert status == 200 and body["code"] == 200 and body["timestamp"] == t0 + i * 20_000, body
    # The api key in the form body works too, and no timestamp means now.
    before = now_ms()
    status, body = curl_form("PUT", feed_url(gw, apikey=None), f"apikey={APIKEY}&data=temp:40")
    assert status == 200 and before <= body["timestamp"] <= now_ms(), body

    status, raw = n.curl_json("GET", feed_url(gw, since="10minute"))
    assert status == 200, raw
    assert [s["attr"] for s in raw["data"]] == ["temp", "humid"]  # the configured order
    assert values_of(raw, "temp")[:3] == [[t0, 20.0], [t0 + 20_000, 22.0], [t0 + 40_000, 30.0]]
    assert values_of(raw, "temp", "lastest_data")[0][1] == 40.0
    assert values_of(raw, "humid", "lastest_data") == [[t0 + 40_000, 70.0]]
    assert raw["to"] - raw["from"] == 600_000 and "granularity" not in raw

    status, agg = n.curl_json("GET", feed_url(gw, **{"from": t0, "to": t0 + 59_999, "granularity": "1minute",
                                                      "aggregate": "avg", "filter": "humid"}))
    assert status == 200, agg
    assert agg["granularity"] == [1, "minutes"] and agg["from"] == t0 and agg["to"] == t0 + 59_999
    assert [s["attr"] for s in agg["data"]] == ["humid"]
    assert values_of(agg, "humid") == [[t0, (50.0 + 54.0 + 70.0) / 3]]
    for aggregate, want in (("min", 50.0), ("max", 70.0), ("sum", 174.0), ("count", 3)):
        _, a = n.curl_json("GET", feed_url(gw, **{"from": t0, "to": t0 + 1, "granularity": "30second",
                                                  "aggregate": aggregate, "filter": "humid"}))
        # 30-second buckets from the raw points: [t0, t0+30s) holds the first two, the next the third.
        first = {"min": 50.0, "max": 54.0, "sum": 104.0, "count": 2}[aggregate]
        assert values_of(a, "humid") == [[t0, first]], (aggregate, a)
        _, a = n.curl_json("GET", feed_url(gw, **{"from": t0, "to": t0 + 1, "granularity": "1minutes",
                                                  "aggregate": aggregate, "filter": "humid"}))
        assert values_of(a, "humid") == [[t0, want]], (aggregate, a)


def put_points(host: str, port: int, bodies: list[str], connections: int = 48) -> None:
    """PUTs every form body (one request each), pipelined on `connections` keep-alive connections; each must be
    answered 200. The server answers one request of a connection at a time, after its commit."""
    errors: list[str] = []

    def run(chunk: list[str]) -> None:
        try:
            with socket.create_connection((host, port), timeout=60) as s:
                reqs = b"".join((f"PUT /feed/{FEED}?apikey={APIKEY} HTTP/1.1\r\nHost: x\r\n"
                                 f"Content-Type: application/x-www-form-urlencoded\r\n"
                                 f"Content-Length: {len(b)}\r\n\r\n{b}").encode() for b in chunk)
                sender = threading.Thread(target=s.sendall, args=(reqs,), daemon=True)
                sender.start()
                buf = b""
                answered = 0
                while answered < len(chunk):
                    data = s.recv(1 << 20)
                    if not data:
                        errors.append(f"connection closed after {answered} of {len(chunk)} answers")
                        return
                    buf += data
                    while True:
                        head_end = buf.find(b"\r\n\r\n")
                        if head_end < 0:
                            break
                        head = buf[:head_end].decode()
                        length = int(head.lower().split("content-length:")[1].split("\r\n")[0])
                        if len(buf) < head_end + 4 + length:
                            break
                        if not head.startswith("HTTP/1.1 200"):
                            errors.append(head.split("\r\n")[0] + " " + buf[head_end + 4:head_end + 4 + length].decode())
                        buf = buf[head_end + 4 + length:]
                        answered += 1
                sender.join()
        except OSError as e:
            errors.append(repr(e))

    threads = [threading.Thread(target=run, args=(bodies[i::connections],)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:5]


def chart_value(i: int, field: int) -> float:
    return round(20 + 5 * field + ((i * 7919 + field * 104729) % 1000) / 100.0, 2)


def test_chart_24_hours_at_1_hz_three_fields(broker_factory):
    gw = rest_gateway(broker_factory)
    host, port = gw.ports["http"]
    g = 600_000
    # 86,400 seconds ending on the 10-minute boundary before now: since=24hour then starts in the first bucket.
    end = now_ms() // g * g
    start = end - 86_400_000
    fields = ("temp", "humid", "light")
    bodies = [f"data=" + ",".join(f"{f}:{chart_value(i, k)}" for k, f in enumerate(fields)) +
              f"&timestamp={start + i * 1000}" for i in range(86_400)]
    put_points(host, port, bodies)
    url = feed_url(gw, since="24hour", granularity="10minute", aggregate="avg")
    status, ans = n.curl_json("GET", url)
    if status == 200 and ans["from"] >= start + g:
        pytest.fail(f"the query ran more than 10 minutes after the points were written ({ans['from']})")
    assert status == 200, ans
    assert ans["granularity"] == [10, "minutes"]
    assert [s["attr"] for s in ans["data"]] == ["temp", "humid", "light"]
    for k, f in enumerate(fields):
        got = values_of(ans, f)
        assert len(got) == 144, (f, len(got))
        for b, (t, v) in enumerate(got):
            assert t == start + b * g
            want = sum(chart_value(i, k) for i in range(b * 600, b * 600 + 600)) / 600
            assert abs(v - want) < 1e-9, (f, b, v, want)
        assert values_of(ans, f, "lastest_data") == [[end - 1000, chart_value(86_399, k)]]
    # The same day at 1-hour granularity reads the hour rollups: whole hours (the first and last partly filled).
    _, hours = n.curl_json("GET", feed_url(gw, **{"from": start, "to": end - 1, "granularity": "1hour",
                                                  "aggregate": "count", "filter": "light"}))
    want: dict[int, int] = {}
    for i in range(86_400):
        t = start + i * 1000
        want[t - t % 3_600_000] = want.get(t - t % 3_600_000, 0) + 1
    assert [(t, int(v)) for t, v in values_of(hours, "light")] == sorted(want.items())


# -- the Freeboard datasource in Chromium -------------------------------------------------------------------------
FREEBOARD_PAGE = """<!doctype html><html><head><meta charset="utf-8"></head><body>
<script src="file:///usr/share/javascript/jquery/jquery.min.js"></script>
<script>
  // The smallest Freeboard the datasource needs: it registers itself through loadDatasourcePlugin.
  window.updates = [];
  var freeboard = {loadDatasourcePlugin: function (def) { window.pluginDef = def; }};
</script>
<script src="file://PLUGIN"></script>
<script>
  pluginDef.newInstance(SETTINGS, function (instance) { window.instance = instance; },
                        function (data) { window.updates.push(JSON.parse(JSON.stringify(data))); });
</script></body></html>
"""


def test_freeboard_feed_datasource_in_chromium(broker_factory, tmp_path):
    import browser
    peers = browser.shared_peers_dir("netpie-freeboard")
    plugin = peers / "netpie.plugin.feed.js"
    if not Path("/usr/share/javascript/jquery/jquery.min.js").exists():
        pytest.skip("jQuery is not installed (Debian's libjs-jquery: deploy/install-deps.sh --test)")
    if os.geteuid() != 0:
        pytest.skip("the datasource calls https://api.netpie.io (port 443): binding 443 needs root")
    addr = "127.0.46.1"
    holder = harness.port_in_use(addr, 443)
    if holder:
        pytest.skip(f"{addr}:443 is taken by {holder}")
    # The datasource's URL is fixed (https://api.netpie.io/feed/...): a LAN DNS override points the name at the
    # gateway, whose HTTPS listener has a certificate for it (self-signed here: the browser is told to accept it).
    key, cert = tmp_path / "api.key", tmp_path / "api.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=api.netpie.io",
                    "-addext", "subjectAltName=DNS:api.netpie.io"], check=True, capture_output=True, timeout=60)
    gw = broker_factory(extra={
        "listeners": [{"name": "mqtt", "protocol": "mqtt", "bind": addr, "port": 0},
                      {"name": "https", "protocol": "http", "bind": addr, "port": 443,
                       "tls": {"cert_file": str(cert), "key_file": str(key)}},
                      {"name": "http", "protocol": "http", "bind": addr, "port": 0}],
        "netpie": {"enabled": True, "apps": feed_apps()},
    })
    t0 = (now_ms() // 1000 - 120) * 1000
    written = [(t0 + i * 1000, 20.0 + i / 4) for i in range(10)]
    for t, v in written:
        assert curl_form("PUT", feed_url(gw), f"data=temp:{v},humid:{v + 30}&timestamp={t}")[0] == 200
    settings = {"name": "ds", "feedid": FEED, "apikey": APIKEY, "granularity_value": "1", "granularity_unit": "seconds",
                "since_value": "1", "since_unit": "hours", "interval": 1}
    page_file = tmp_path / "freeboard.html"
    page_file.write_text(FREEBOARD_PAGE.replace("PLUGIN", str(plugin)).replace("SETTINGS", json.dumps(settings)))
    with browser.Browser([f"--host-resolver-rules=MAP api.netpie.io {addr}", "--ignore-certificate-errors",
                          "--allow-file-access-from-files"]) as b:
        page = b.new_page()
        page.navigate(page_file.as_uri())
        page.wait_for("window.updates.length > 0", timeout=30, what="the datasource's first update")
        first = page.evaluate("window.updates[0]")
        data = first["data"]
        assert data["granularity"] == [1, "seconds"]
        assert [s["attr"] for s in data["data"]] == ["temp", "humid"]
        assert [tuple(p) for p in data["data"][0]["values"]] == written
        assert [tuple(p) for p in data["data"][1]["values"]] == [(t, v + 30) for t, v in written]
        assert data["lastest_data"][0]["values"] == [list(written[-1])]
        # A point written now arrives through the datasource's own poll (from=<last point>&to=<now>).
        t_new = (now_ms() // 1000) * 1000
        assert curl_form("PUT", feed_url(gw), f"data=temp:99.5,humid:1&timestamp={t_new}")[0] == 200
        page.wait_for(f"window.updates.some(u => u.data.data[0].values.some(p => p[0] === {t_new}))", timeout=30,
                      what="the new point through the datasource's poll")
        last = page.evaluate(f"window.updates.find(u => u.data.data[0].values.some(p => p[0] === {t_new}))")
        temps = [tuple(p) for p in last["data"]["data"][0]["values"]]
        assert temps[-1] == (t_new, 99.5) and temps[:len(written)] == written, temps


# -- outage: the upstream down, then back -------------------------------------------------------------------------
def test_points_queryable_during_outage_and_relayed_in_order_after(broker_factory, tmp_path):
    up_port = port_outside_ephemeral_range()
    upstream = harness.PersistentMosquitto(tmp_path, name="upstream", sys_interval=60)
    upstream.port = up_port  # fixed: the uplink finds it again on the same port after the restart
    upstream.start()
    got: list[tuple[str, dict]] = []
    cond = threading.Condition()
    subscribed = threading.Event()

    def on_connect(client, userdata, flags, rc):
        if rc == 0 and not flags.get("session present"):
            client.subscribe("cloud/#", qos=1)

    def on_message(client, userdata, msg):
        with cond:
            got.append((msg.topic, json.loads(msg.payload)))
            cond.notify_all()

    witness = paho.Client(client_id="feeds-witness", clean_session=False, protocol=paho.MQTTv311)
    witness.on_connect = on_connect
    witness.on_subscribe = lambda *_: subscribed.set()
    witness.on_message = on_message
    witness.reconnect_delay_set(min_delay=1, max_delay=1)
    witness.connect("127.0.0.1", up_port, keepalive=10)
    witness.loop_start()
    try:
        assert subscribed.wait(10), "witness: no SUBACK"
        upstream.stop()  # the cloud is down from here on; the witness's session waits in its persistence
        gw = rest_gateway(broker_factory, extra={"uplinks": [{
            "name": "cloud", "profile": "mqtt", "host": "127.0.0.1", "port": up_port, "tls": {"enabled": False},
            "client_id": "feeds-edge", "up": [{"filter": f"/{n.APPID}/@writefeed/#", "prefix": "cloud", "qos": 1}],
            "reconnect_min_ms": 100, "reconnect_max_ms": 300}]})
        t0 = (now_ms() // 1000 - 100) * 1000
        for i in range(20):
            assert curl_form("PUT", feed_url(gw), f"data=temp:{i}.5&timestamp={t0 + i * 1000}")[0] == 200
        # Queryable at once, while the cloud is away; all 20 wait in the outbox.
        _, ans = n.curl_json("GET", feed_url(gw, **{"from": t0, "to": t0 + 60_000}))
        assert [v for _, v in values_of(ans, "temp")] == [i + 0.5 for i in range(20)]
        assert gw.outbox_rows() == 20
        upstream.start()
        with cond:
            assert cond.wait_for(lambda: len(got) >= 20, timeout=60), f"{len(got)} of 20 arrived upstream"
        assert [p for _, p in got] == [{"temp": i + 0.5} for i in range(20)], got  # in order, each once
        assert {t for t, _ in got} == {f"cloud/{n.APPID}/@writefeed/{FEED}/{APIKEY}"}
        wait_for(lambda: gw.outbox_rows() == 0, timeout=15, what="the outbox drained")
    finally:
        witness.loop_stop()
        witness.disconnect()
        if upstream.alive():
            upstream.stop()


# -- bad input ----------------------------------------------------------------------------------------------------
def test_bad_input_gets_clear_4xx_and_stores_nothing(broker_factory):
    gw = rest_gateway(broker_factory, store={"feeds": {"max_fields_per_feed": 8, "max_query_points": 1000},
                                             "history": {"filters": ["/#"]}})
    url = feed_url(gw)

    def refused(method, u, form=None, status=400, says=""):
        if form is None:
            code, body = n.curl_json(method, u)
        else:
            code, body = curl_form(method, u, form)
        assert code == status and body["code"] == status and says in body["message"], (u, form, code, body)

    refused("PUT", url, "data=temp", says="expected ':' after field 'temp'")
    refused("PUT", url, "data=temp:abc,humid:1", says="value of field 'temp' is not a number")
    refused("PUT", url, "data=temp:NaN", says="not a number")
    refused("PUT", url, "data=temp:1,temp:2", says="given twice")
    refused("PUT", url, "nodata=1", says="data=<field>:<number>")
    refused("PUT", url, "data=temp:1&timestamp=yesterday", says="timestamp")
    refused("PUT", url, f"data=temp:1&timestamp={now_ms() + 3 * 86_400_000}", says="timestamp")
    huge = ",".join(f"f{i}:1" for i in range(20_000))  # ~150 KB, under http.max_body
    refused("PUT", url, "data=" + huge, says="more than 8 fields")
    # Fields that each pass but together would give the feed more than it may hold: refused whole.
    assert curl_form("PUT", url, "data=a:1,b:2,c:3,d:4,e:5,f:6")[0] == 200
    refused("PUT", url, "data=a:1,g:1,h:1,i:1", says="more than 8 fields (store.feeds.max_fields_per_feed)")
    refused("PUT", feed_url(gw, "nosuchfeed"), "data=temp:1", status=404, says="no feed nosuchfeed")
    refused("PUT", feed_url(gw, apikey=None), "data=temp:1", status=401, says="apikey required")
    refused("PUT", feed_url(gw, apikey="wrong"), "data=temp:1", status=401, says="wrong apikey")
    refused("PUT", feed_url(gw, apikey=OTHER_APIKEY), "data=temp:1", status=401, says="wrong apikey")
    refused("GET", feed_url(gw, apikey="wrong"), status=401, says="wrong apikey")
    refused("GET", feed_url(gw, "nosuchfeed"), status=404, says="no feed")
    refused("GET", feed_url(gw, since="100000year"), says="reaches back before 1970")
    refused("GET", feed_url(gw, since="9999999999year"), says="over 1000000 units")
    refused("GET", feed_url(gw, since="24parsec"), says="unit must be")
    refused("GET", feed_url(gw, since="10year", granularity="1second"), says="(store.feeds.max_query_points)")
    refused("GET", feed_url(gw, **{"from": 10, "to": 5}), says="to is before from")
    refused("GET", feed_url(gw, **{"from": "-5"}), says="from: expected unix milliseconds")
    refused("GET", feed_url(gw, granularity="1hour", aggregate="median"), says="aggregate: expected")
    refused("GET", feed_url(gw, aggregate="avg"), says="aggregate needs a granularity")
    refused("GET", feed_url(gw, filter="temp,bad name"), says="filter: bad field name")
    refused("GET", f"{n.base_url(gw)}/history//{n.APPID}/%23?limit=1000000000", says="limit: expected 1 to 1000")
    refused("GET", f"{n.base_url(gw)}/history//{n.APPID}/%23?after_seq=-1", says="after_seq")
    refused("GET", f"{n.base_url(gw)}/history//{n.APPID}/a%23b", says="expected /history/<topic filter>")
    # Nothing of the refused writes was stored: one point per field a..f, nothing else.
    _, ans = n.curl_json("GET", feed_url(gw, since="1hour"))
    assert sorted(s["attr"] for s in ans["data"]) == ["a", "b", "c", "d", "e", "f"]
    assert all(len(s["values"]) == 1 for s in ans["data"])
    assert gw.query_state("SELECT count(*) FROM feed_points")[0][0] == 6


def test_query_bound_refuses_a_raw_read_over_max_query_rows(broker_factory):
    gw = rest_gateway(broker_factory, store={"feeds": {"max_query_rows": 50}})
    t0 = (now_ms() // 60_000 - 10) * 60_000
    for i in range(60):
        assert curl_form("PUT", feed_url(gw), f"data=temp:{i}&timestamp={t0 + i * 1000}")[0] == 200
    code, body = n.curl_json("GET", feed_url(gw, since="1hour"))
    assert code == 400 and "more than 50 stored rows (store.feeds.max_query_rows)" in body["message"], body
    # The same range through the minute rollups reads two rows.
    code, body = n.curl_json("GET", feed_url(gw, since="1hour", granularity="1minute", aggregate="count"))
    assert code == 200 and [v for _, v in values_of(body, "temp")] == [60], body


# -- topic history over HTTP --------------------------------------------------------------------------------------
def test_history_json_csv_paging_and_rights(broker_factory):
    gw = rest_gateway(broker_factory, store={"history": {"filters": [f"/{n.APPID}/#", "plain/#"],
                                                         "max_page_rows": 5}})
    host, port = gw.ports["mqtt"]
    for i in range(7):
        subprocess.run(["mosquitto_pub", "-h", host, "-p", str(port), "-q", "1", "-t", f"/{n.APPID}/room{i % 2}/temp",
                        "-m", f"t{i}"], check=True, timeout=20)
    subprocess.run(["mosquitto_pub", "-h", host, "-p", str(port), "-q", "1", "-t", "plain/x", "-m", 'a,"b"'],
                   check=True, timeout=20)
    subprocess.run(["mosquitto_pub", "-h", host, "-p", str(port), "-q", "1", "-t", "other/x", "-m", "not kept"],
                   check=True, timeout=20)
    base = f"{n.base_url(gw)}/history/"
    # Paged by seq: pages of 3 until `more` is false; every message once, in order.
    seen, after = [], 0
    while True:
        code, page = n.curl_json("GET", base + f"%2F{n.APPID}%2F%23?limit=3&after_seq={after}")
        assert code == 200, page
        seen += page["messages"]
        after = page["next_after_seq"]
        if not page["more"]:
            break
    assert [m["payload"] for m in seen] == [f"t{i}" for i in range(7)]
    assert [m["seq"] for m in seen] == sorted(m["seq"] for m in seen)
    assert all(abs(m["time"] - now_ms()) < 600_000 for m in seen)
    # A wildcard in the middle, since/until.
    _, page = n.curl_json("GET", base + f"/{n.APPID}/%2B/temp?since=1hour&limit=5")
    assert len(page["messages"]) == 5 and page["more"] is True
    _, page = n.curl_json("GET", base + f"/{n.APPID}/room1/temp?until={now_ms() - 3_600_000}")
    assert page["messages"] == [] and page["more"] is False
    # CSV (RFC 4180 quoting).
    code, hdrs, text = n.curl("GET", base + "plain/%23", headers=["Accept: text/csv"])
    assert code == 200 and hdrs["content-type"].startswith("text/csv"), text
    lines = text.split("\r\n")
    assert lines[0] == "seq,time,topic,qos,payload"
    assert lines[1].endswith(',plain/x,1,"a,""b"""') and lines[2] == ""
    # A NETPIE key sees what its subscribe rights cover; a wrong secret is refused.
    code, page = n.curl_json("GET", base + f"/{n.APPID}/%23", user=AUTH)
    assert code == 200 and len(page["messages"]) == 5
    limited = f"{n.LIMITED_KEY}:{n.LIMITED_SECRET}"
    assert n.curl_json("GET", base + f"/{n.APPID}/room0/temp", user=limited)[0] == 403
    assert n.curl_json("GET", base + f"/{n.APPID}/%23", user=f"{n.KEY}:wrong")[0] == 401
    assert n.curl_json("GET", base + "plain/%23", user=AUTH)[0] == 403


# -- retained read with its time ----------------------------------------------------------------------------------
def test_retained_read_has_last_updated_kept_across_a_restart(broker_factory):
    gw = rest_gateway(broker_factory)
    url = f"{n.base_url(gw)}/topic/{n.APPID}/room/temp"
    before = now_ms()
    assert n.curl("PUT", url + "?retain", data="21.5", user=AUTH)[0] == 200
    after = now_ms()
    status, body = n.curl_json("GET", url, user=AUTH)
    assert status == 200 and body[0]["payload"] == "21.5", body
    updated = body[0]["lastUpdated"]
    assert before <= updated <= after, (before, updated, after)
    gw.restart()  # the time is kept with the retained message in the store
    status, body = n.curl_json("GET", f"{n.base_url(gw)}/topic/{n.APPID}/room/temp", user=AUTH)
    assert status == 200 and body[0]["lastUpdated"] == updated, body
