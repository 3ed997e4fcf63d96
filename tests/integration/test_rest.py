"""The NETPIE REST API subset with curl (docs/netpie-protocol.md §9, docs/netpie-rest.md): a REST publish reaching a
microgear, chat through REST, retained reads, postboxes, and the 401 / 400 answers. The microgear on the other side
is the official Node library (so each test has its own loopback address, 127.0.11.<n>, for the library's fixed ports).
"""
import socket

import pytest

import netpie_peers as n
from peers import MosquittoSub

pytestmark = pytest.mark.netpie_only

AUTH = f"{n.KEY}:{n.SECRET}"


def test_rest_publish_reaches_a_microgear(broker_factory, agents, tmp_path):
    addr = "127.0.11.1"
    gw = n.start_gateway(broker_factory, addr)
    g = agents(addr, tmp_path / "g.cache", alias="listener")
    g.wait_ev("connected")
    g.send(op="subscribe", topic="/home/light")
    g.wait_ev("subscribed", topic="/home/light", ok=1)
    status, hdrs, body = n.curl("PUT", f"{n.base_url(gw)}/topic/{n.APPID}/home/light", data="on", user=AUTH)
    assert status == 200, body
    assert hdrs["content-type"] == "application/json"
    m = g.wait_ev("message", msg="on")
    assert m["topic"] == f"/{n.APPID}/home/light"
    # ?auth=KEY:SECRET works the same.
    status, _, body = n.curl("PUT", f"{n.base_url(gw)}/topic/{n.APPID}/home/light?auth={AUTH}", data="off")
    assert status == 200, body
    g.wait_ev("message", msg="off")


def test_chat_through_rest(broker_factory, agents, tmp_path):
    addr = "127.0.11.2"
    gw = n.start_gateway(broker_factory, addr)
    g = agents(addr, tmp_path / "g.cache", alias="lamp")
    g.wait_ev("connected")
    g.wait(lambda e: e["ev"] == "present" and e["data"].get("alias") == "lamp", what="its alias set")
    status, body = n.curl_json("PUT", f"{n.base_url(gw)}/microgear/{n.APPID}/lamp", data="blink", user=AUTH)
    assert status == 200 and body["code"] == 200, body
    m = g.wait_ev("message", msg="blink")
    assert m["topic"] == f"/{n.APPID}/gearname/lamp"


def test_retained_read(broker_factory, agents, tmp_path):
    addr = "127.0.11.3"
    gw = n.start_gateway(broker_factory, addr)
    url = f"{n.base_url(gw)}/topic/{n.APPID}/sensor/temp"
    # Nothing retained yet: an empty list.
    assert n.curl_json("GET", url, user=AUTH) == (200, [])
    # Retained by a microgear, read over REST.
    g = agents(addr, tmp_path / "g.cache", alias="sensor")
    g.wait_ev("connected")
    with MosquittoSub(gw, f"/{n.APPID}/sensor/temp") as sub:
        g.send(op="publish", topic="/sensor/temp", msg="31.2", retain=True)
        sub.wait_topic_payload(f"/{n.APPID}/sensor/temp", b"31.2")
    status, body = n.curl_json("GET", url, user=AUTH)
    assert status == 200 and body[0]["payload"] == "31.2" and body[0]["topic"] == f"/{n.APPID}/sensor/temp", body
    # Retained by REST (?retain), read by a microgear that subscribes later.
    assert n.curl("PUT", f"{url}?retain", data="32.0", user=AUTH)[0] == 200
    assert n.curl_json("GET", url, user=AUTH)[1][0]["payload"] == "32.0"
    g.send(op="subscribe", topic="/sensor/temp")
    g.wait_ev("message", msg="32.0")
    # An empty retained body clears it.
    assert n.curl("PUT", f"{url}?retain", data="", user=AUTH)[0] == 200
    assert n.curl_json("GET", url, user=AUTH) == (200, [])


def test_postbox(broker_factory, agents, tmp_path):
    addr = "127.0.11.4"
    gw = n.start_gateway(broker_factory, addr)
    url = f"{n.base_url(gw)}/postbox/{n.APPID}/mail"
    assert n.curl("PUT", url, data="first", user=AUTH)[0] == 200
    assert n.curl("PUT", url + "?tag=urgent", data="second", user=AUTH)[0] == 200
    status, body = n.curl_json("GET", url + "?tag=urgent", user=AUTH)
    assert status == 200 and body[0]["msg"] == "second" and body[0]["tag"] == "urgent", body
    assert isinstance(body[0]["ts"], int)
    # The rest is read by a microgear (@readpostbox), oldest first.
    g = agents(addr, tmp_path / "g.cache", alias="reader")
    g.wait_ev("connected")
    g.send(op="readpostbox", box="mail")
    assert g.wait_ev("message", topic=f"/{n.APPID}/@readpostbox/mail")["msg"] == "first"
    assert n.curl_json("GET", url, user=AUTH) == (200, [])
    # Kept across a restart.
    assert n.curl("PUT", url, data="kept", user=AUTH)[0] == 200
    g.close()
    gw.restart()
    assert n.curl_json("GET", url, user=AUTH)[1][0]["msg"] == "kept"


def test_wrong_key_gets_401_and_malformed_requests_400(broker_factory):
    gw = n.start_gateway(broker_factory, "127.0.11.5")
    base = n.base_url(gw)
    for user in [f"{n.KEY}:wrong", f"NoSuchKey:{n.SECRET}", None]:
        status, hdrs, body = n.curl("PUT", f"{base}/topic/{n.APPID}/x", data="v", user=user)
        assert status == 401, (user, body)
        assert hdrs.get("www-authenticate") == 'Basic realm="netpie-edge"'
    assert n.curl("PUT", f"{base}/topic/{n.APPID}/x?auth={n.KEY}:nope", data="v")[0] == 401
    # A key of another app: known, but not allowed here.
    assert n.curl("PUT", f"{base}/topic/otherapp/x", data="v", user=AUTH)[0] == 403
    # Malformed: no topic, a wildcard in a published topic, an empty level, a bad box name.
    for path in [f"/topic/{n.APPID}", f"/topic/{n.APPID}/a/%2B", f"/topic/{n.APPID}/a//b", f"/postbox/{n.APPID}/a%2Fb"]:
        status, body = n.curl_json("PUT", base + path, data="v", user=AUTH)
        assert status == 400 and body["code"] == 400, (path, body)
    # Not HTTP at all: 400, connection closed.
    with socket.create_connection(gw.ports["http"], timeout=5) as s:
        s.sendall(b"PUT /topic/x\x00\x01 garbage\r\n\r\n")
        data = s.recv(4096)
        assert data.startswith(b"HTTP/1.1 400"), data
    assert n.curl("DELETE", f"{base}/topic/{n.APPID}/x", user=AUTH)[0] == 405
    assert n.curl("GET", f"{base}/nothing", user=AUTH)[0] == 404
    # Still serving.
    assert n.curl("PUT", f"{base}/topic/{n.APPID}/x", data="v", user=AUTH)[0] == 200
