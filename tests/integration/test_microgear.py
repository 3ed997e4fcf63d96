"""The official NETPIE Node.js library (npm microgear 0.8.1, unmodified) against the gateway's local endpoint.

Each microgear runs in its own node process (js/microgear_agent.js), pointed at the gateway with
setConfig('GEARAUTH', <address>) and useTLS(false); it then does the whole NETPIE dance itself: /api/rtoken and
/api/atoken with OAuth 1.0a, MQTT CONNECT with the HMAC password on port 1883 of the endpoint it was given,
@setalias, chat, presence. The library's ports are fixed (8080, 1883), so each test has its own loopback address
127.0.10.<n> (netpie_peers.start_gateway).
"""
import pytest

import netpie_peers as n
from peers import MosquittoSub, mosquitto_pub

pytestmark = pytest.mark.netpie_only


def test_two_microgears_set_aliases_chat_and_share_app_topics(broker_factory, agents, tmp_path):
    addr = "127.0.10.1"
    gw = n.start_gateway(broker_factory, addr)
    a = agents(addr, tmp_path / "a.cache", alias="alpha")
    ta = a.wait_ev("connected")["token"]
    # Its own "aliased" event shows its &present subscription is in place (Node subscribes, then sets the alias).
    a.wait(lambda e: e["ev"] == "present" and e["data"].get("gear") == ta, what="its own presence")
    b = agents(addr, tmp_path / "b.cache", alias="beta")
    tb = b.wait_ev("connected")["token"]
    assert len(ta) == 16 and len(tb) == 16 and ta != tb
    # Each learnt of the other: "aliased" presence events carry the token and the alias (docs/netpie-protocol.md §8).
    a.wait(lambda e: e["ev"] == "present" and e["data"].get("alias") == "beta" and e["data"].get("gear") == tb,
           what="beta's presence")
    # The token and endpoint the library cached: a device-key token (flag P) and our address.
    cache = n.read_cache(tmp_path / "a.cache")
    assert cache["accesstoken"]["token"] == ta
    assert cache["accesstoken"]["endpoint"] == f"pie://{addr}:1883"
    assert len(cache["accesstoken"]["secret"]) == 32

    # Chat both ways: neither subscribed to its gearname topic; @setalias is enough (docs/netpie-protocol.md §7.2).
    a.send(op="chat", alias="beta", msg="hello beta")
    m = b.wait_ev("message", msg="hello beta")
    assert m["topic"] == f"/{n.APPID}/gearname/beta"
    b.send(op="chat", alias="alpha", msg="hello alpha")
    a.wait_ev("message", msg="hello alpha")

    # App topics: subscribe and publish, with the /<appid> prefix added by the library.
    a.send(op="subscribe", topic="/room/temp")
    a.wait_ev("subscribed", topic="/room/temp", ok=1)
    b.send(op="publish", topic="/room/temp", msg="24.5")
    m = a.wait_ev("message", msg="24.5")
    assert m["topic"] == f"/{n.APPID}/room/temp"

    # A new alias takes effect at once: the old one no longer reaches it.
    mark = b.mark()
    b.send(op="setalias", alias="gamma")
    a.wait(lambda e: e["ev"] == "present" and e["data"].get("alias") == "gamma", what="gamma's presence")
    a.send(op="chat", alias="beta", msg="to the old alias")
    a.send(op="chat", alias="gamma", msg="to the new alias")
    b.wait_ev("message", msg="to the new alias", since=mark)
    assert not [e for e in b.of("message", mark) if e["msg"] == "to the old alias"]
    # A plain MQTT client sees the app's traffic and reaches an alias too (mosquitto_pub, no microgear).
    with MosquittoSub(gw, f"/{n.APPID}/#") as sub:
        a.send(op="publish", topic="/room/temp", msg="25.0")
        sub.wait_topic_payload(f"/{n.APPID}/room/temp", b"25.0")
    mosquitto_pub(gw, f"/{n.APPID}/gearname/gamma", "from mosquitto")
    b.wait_ev("message", msg="from mosquitto")


def test_absent_events_on_disconnect_and_on_sigkill(broker_factory, agents, tmp_path):
    addr = "127.0.10.2"
    n.start_gateway(broker_factory, addr)
    watcher = agents(addr, tmp_path / "w.cache", alias="watcher")
    tw = watcher.wait_ev("connected")["token"]
    watcher.wait(lambda e: e["ev"] == "present" and e["data"].get("gear") == tw, what="its own presence")
    g = agents(addr, tmp_path / "g.cache", alias="leaver")
    tg = g.wait_ev("connected")["token"]
    watcher.wait(lambda e: e["ev"] == "present" and e["data"].get("gear") == tg, what="the gear's presence")
    # A clean disconnect.
    mark = watcher.mark()
    g.send(op="disconnect")
    ev = watcher.wait(lambda e: e["ev"] == "absent" and e["data"].get("gear") == tg, since=mark,
                      what="absent after disconnect")
    assert ev["data"] == {"gear": tg, "alias": "leaver", "type": "offline"}
    g.close()
    # The same device again (its cached token), then killed: no DISCONNECT, the socket just goes.
    g2 = agents(addr, tmp_path / "g.cache", alias="leaver")
    assert g2.wait_ev("connected")["token"] == tg
    mark = watcher.mark()
    watcher.wait(lambda e: e["ev"] == "present" and e["data"].get("gear") == tg, what="present again")
    g2.kill()
    ev = watcher.wait(lambda e: e["ev"] == "absent" and e["data"].get("gear") == tg, since=mark, timeout=20,
                      what="absent after SIGKILL")
    assert ev["data"]["type"] == "offline"


def test_retained_message_is_read_by_a_later_subscriber(broker_factory, agents, tmp_path):
    addr = "127.0.10.3"
    n.start_gateway(broker_factory, addr)
    a = agents(addr, tmp_path / "a.cache", alias="writer")
    a.wait_ev("connected")
    a.send(op="publish", topic="/status", msg="ready", retain=True)
    # Published before the reader existed.
    b = agents(addr, tmp_path / "b.cache", alias="reader")
    b.wait_ev("connected")
    b.send(op="subscribe", topic="/status")
    m = b.wait_ev("message", msg="ready")
    assert m["topic"] == f"/{n.APPID}/status"


def test_cached_device_token_is_reused_after_a_gateway_restart(broker_factory, agents, tmp_path):
    addr = "127.0.10.4"
    gw = n.start_gateway(broker_factory, addr)
    a = agents(addr, tmp_path / "a.cache", alias="keeper")
    token = a.wait_ev("connected")["token"]
    a.close()
    gw.restart()
    assert gw.log_text().count("issued to key") == 1
    b = agents(addr, tmp_path / "a.cache", alias="keeper")
    assert b.wait_ev("connected")["token"] == token, "the cached token must still be accepted"
    assert gw.log_text().count("issued to key") == 1, "no new token was needed"
    assert "restored 1 access tokens" in gw.log_text()


def test_revoked_token_is_replaced_by_a_new_one(broker_factory, agents, tmp_path):
    addr = "127.0.10.5"
    gw = n.start_gateway(broker_factory, addr)
    cache = tmp_path / "g.cache"
    a = agents(addr, cache, alias="dev")
    old = a.wait_ev("connected")["token"]
    a.close()
    # The owner revokes the token while the device is away.
    status, body = n.curl_json("POST", f"{n.base_url(gw)}/admin/revoke/{old}")
    assert status == 200, body
    # The device comes back with its cached token: CONNACK 4, "unknown token" (docs/netpie-protocol.md §6.3).
    b = agents(addr, cache, alias="dev")
    err = b.wait_ev("mqtt_error")
    assert err["code"] == 4, err
    # microgear 0.8.1 reacts to CONNACK 4 by matching the error text, which mqtt.js 5 no longer produces
    # (gateway/netpie/README.md); an application recovers with the library's resetToken(): /api/revoke is
    # answered SUCCESS for the already revoked token (its revoke code is still checked), the cache is cleared...
    b.send(op="resettoken")
    assert b.wait_ev("resettoken")["err"] is None
    b.close()
    assert n.read_cache(cache) is None
    # ...and the next start gets a new token.
    c = agents(addr, cache, alias="dev")
    new = c.wait_ev("connected")["token"]
    assert new != old
    assert n.read_cache(cache)["accesstoken"]["token"] == new
    # The library's own resetToken() revokes a live token too; its next start again gets a fresh one.
    c.send(op="resettoken")
    assert c.wait_ev("resettoken")["err"] is None
    c.close()
    status, tokens = n.curl_json("GET", f"{n.base_url(gw)}/admin/tokens")
    assert status == 200, tokens
    assert {t["token"]: t["revoked"] for t in tokens} == {old: True, new: True}
    d = agents(addr, cache, alias="dev")
    assert d.wait_ev("connected")["token"] not in (old, new)


def test_unapproved_key_waits_until_the_owner_approves(broker_factory, agents, tmp_path):
    addr = "127.0.10.6"
    gw = n.start_gateway(broker_factory, addr, log_level="debug")
    g = agents(addr, tmp_path / "g.cache", key=n.APPROVAL_KEY, secret=n.APPROVAL_SECRET, alias="newdevice")
    # It got a request token and keeps asking /api/atoken, which answers 401.
    gw.wait_log(r"newdevice .*waits for approval of its key: request token (\w{16})")
    pending = n.curl_json("GET", f"{n.base_url(gw)}/admin/requests")[1]
    assert len(pending) == 1 and pending[0]["approved"] is False
    assert pending[0]["key"] == n.APPROVAL_KEY and pending[0]["verifier"] == "newdevice"
    gw.wait_log(r"POST /api/atoken", timeout=10)
    assert not g.of("connected")
    # Only loopback peers may approve; the test client is one.
    status, body = n.curl_json("POST", f"{n.base_url(gw)}/admin/approve/{pending[0]['request_token']}")
    assert status == 200, body
    # The library retries with a growing delay (at most 30 s).
    g.wait_ev("connected", timeout=40)


def test_session_key_token_is_one_time(broker_factory, agents, tmp_path):
    addr = "127.0.10.7"
    gw = n.start_gateway(broker_factory, addr)
    g = agents(addr, tmp_path / "s.cache", key=n.SESSION_KEY, secret=n.SESSION_SECRET, alias="browser")
    token = g.wait_ev("connected")["token"]
    # Flag S: the library does not cache the token.
    assert "accesstoken" not in (n.read_cache(tmp_path / "s.cache") or {})
    g.send(op="disconnect")
    g.wait_ev("disconnected")
    gw.wait_log(rf"access token {token} \(key {n.SESSION_KEY}\) revoked")
    tokens = {t["token"]: t for t in n.curl_json("GET", f"{n.base_url(gw)}/admin/tokens")[1]}
    assert tokens[token]["revoked"] is True


def test_postbox_info_error_and_resetendpoint(broker_factory, agents, tmp_path):
    addr = "127.0.10.8"
    gw = n.start_gateway(broker_factory, addr, log_level="debug")
    g = agents(addr, tmp_path / "g.cache", alias="boxer")
    token = g.wait_ev("connected")["token"]
    g.send(op="writepostbox", box="inbox", msg="letter 1")
    g.send(op="writepostbox", box="inbox", msg="letter 2")
    g.send(op="readpostbox", box="inbox")
    m = g.wait_ev("message", topic=f"/{n.APPID}/@readpostbox/inbox")
    assert m["msg"] == "letter 1"
    # The second letter is read over REST.
    status, body = n.curl_json("GET", f"{n.base_url(gw)}/postbox/{n.APPID}/inbox", user=f"{n.KEY}:{n.SECRET}")
    assert status == 200 and body[0]["msg"] == "letter 2", body
    # Pushed without a subscription: @info and @error become the library's info and error events...
    url = f"{n.base_url(gw)}/admin/push/{token}"
    assert n.curl("POST", url + "/info", data="maintenance at noon")[0] == 200
    assert g.wait_ev("info", msg="maintenance at noon")
    assert n.curl("POST", url + "/error", data="quota soon")[0] == 200
    assert g.wait_ev("error", msg="quota soon")
    # ...and &resetendpoint makes it forget the cached endpoint ("endpoint reset").
    assert n.curl("POST", url + "/resetendpoint", data="")[0] == 200
    g.wait_ev("info", msg="endpoint reset")
    assert n.read_cache(tmp_path / "g.cache")["accesstoken"]["endpoint"] == ""
    # Cloud-only commands get @error from the local endpoint; a feed write to a feed the config does not have
    # gets its own @error (feeds: docs/netpie-feeds.md).
    mark = g.mark()
    g.send(op="publish", topic="/@push/owner", msg="hello")
    assert "@push" in g.wait_ev("error", since=mark)["msg"]
    mark = g.mark()
    g.send(op="publish", topic="/@writefeed/feed1", msg="{}")
    assert g.wait_ev("error", since=mark)["msg"] == "writefeed: no feed feed1"
    # With its endpoint forgotten, the next start asks /api/endpoint/<key> and connects as before.
    g.close()
    g2 = agents(addr, tmp_path / "g.cache", alias="boxer")
    assert g2.wait_ev("connected")["token"] == token
    gw.wait_log(rf"GET /api/endpoint/{n.KEY}")


def test_rights_are_enforced_by_disconnecting(broker_factory, agents, tmp_path):
    addr = "127.0.10.9"
    gw = n.start_gateway(broker_factory, addr)
    g = agents(addr, tmp_path / "l.cache", key=n.LIMITED_KEY, secret=n.LIMITED_SECRET, alias="limited")
    g.wait_ev("connected")
    g.send(op="subscribe", topic="/allowed/x")
    assert g.wait_ev("subscribed", topic="/allowed/x")["ok"] == 1
    g.send(op="subscribe", topic="/secret")
    assert g.wait_ev("subscribed", topic="/secret")["ok"] == 0
    g.send(op="publish", topic="/allowed/x", msg="fine")
    g.wait_ev("message", msg="fine")
    mark = g.mark()
    g.send(op="publish", topic="/forbidden", msg="no")
    g.wait_ev("disconnected", since=mark)
    gw.wait_log(r"outside its rights: disconnected")
    # mqtt.js reconnects on its own, with the same credentials.
    g.wait_ev("connected", since=mark, timeout=20)
