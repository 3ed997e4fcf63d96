"""The `netpie` uplink profile: gateway A (the edge) logs in to gateway B (a netpie-edge with its NETPIE endpoint,
standing in for the NETPIE cloud) as a microgear would: OAuth token flow on B's gearauth API, then MQTT with the
access token and HMAC password. Official Node microgears (the `microgear` npm package, unmodified) sit on both:
- what a microgear on A publishes reaches a microgear on B (up rule /<appid>/#);
- chat sent from B to an alias a microgear on A holds reaches it (A subscribes that alias's chat topic on B);
- chat between two microgears on A is delivered once, not again as an echo from B;
- A caches its device token in SQLite: after a restart it logs in without new token requests on B.
Both gateways bind addresses of their own (127.0.21.x), since the Node library uses fixed ports.
"""
from __future__ import annotations

import pytest

import harness
import netpie_peers as n
from peers import MosquittoSub, mosquitto_pub

pytestmark = pytest.mark.netpie_only

CLOUD = "127.0.21.1"
EDGE = "127.0.21.2"


def edge_uplink(**over) -> dict:
    u = {"name": "netpie", "profile": "netpie", "host": CLOUD, "port": 8080, "tls": {"enabled": False},
         "netpie": {"appid": n.APPID, "key": n.KEY, "secret": n.SECRET, "alias": "edge-a"},
         "up": [{"filter": f"/{n.APPID}/#", "qos": 1}],
         "keepalive": 10, "reconnect_min_ms": 100, "reconnect_max_ms": 1000}
    u.update(over)
    return u


def token_requests(edge: harness.Broker) -> int:
    """Request-token calls the edge's uplink made (logged at debug level)."""
    return edge.log_text().count("/api/rtoken")


def test_edge_relays_to_a_netpie_cloud_and_chat_comes_back_down(broker_factory, agents, tmp_path):
    cloud = n.start_gateway(broker_factory, CLOUD, name="cloud")
    edge = n.start_gateway(broker_factory, EDGE, name="edge", log_level="debug", extra={
        "store": {"enabled": True}, "uplinks": [edge_uplink()]})
    edge.wait_log(r"uplink: netpie: online", timeout=20)
    # B saw a microgear login for the gateway: its alias shows in B's presence (the gateway's @setalias).
    dash = agents(CLOUD, tmp_path / "dash.cache", alias="dash")
    dash.wait_ev("connected")
    dash.send(op="subscribe", topic="/room/temp")
    dash.wait_ev("subscribed", topic="/room/temp", ok=1)

    dev = agents(EDGE, tmp_path / "dev.cache", alias="sensor")
    dev.wait_ev("connected")
    # Up: a microgear on A publishes; the microgear on B receives it under the same app topic.
    dev.send(op="publish", topic="/room/temp", msg="21.5")
    m = dash.wait_ev("message", msg="21.5", timeout=20)
    assert m["topic"] == f"/{n.APPID}/room/temp"

    # Down: chat from B to the alias held on A (A subscribed /<appid>/gearname/sensor on B when the alias appeared;
    # the SUBACK is not visible from here, so the first chats may go out before the subscription is in place).
    for attempt in range(20):
        dash.send(op="chat", alias="sensor", msg=f"hello sensor {attempt}")
        try:
            dev.wait_ev("message", msg=f"hello sensor {attempt}", timeout=1)
            break
        except AssertionError:
            continue  # the chat subscription may still be on its way to B
    else:
        raise AssertionError(f"chat from the cloud never reached the alias on the edge\n{edge.log_tail()}")
    got = dev.wait_ev("message", msg=f"hello sensor {attempt}")
    assert got["topic"] == f"/{n.APPID}/gearname/sensor"

    # Chat between two microgears on A reaches the holder once: its copy that went up and came back is an echo.
    other = agents(EDGE, tmp_path / "other.cache", alias="other")
    other.wait_ev("connected")
    mark = dev.mark()
    other.send(op="chat", alias="sensor", msg="local chat")
    dev.wait_ev("message", msg="local chat", since=mark)
    # It also went up to B (the up rule covers it) and came back down A's chat subscription: the uplink must drop
    # that copy as an echo. B sends the echo on the same connection as its PUBACK, so once A's outbox is empty the
    # echo has reached A; a chat sent after it from B marks the point where it would have been delivered.
    harness.wait_for(lambda: edge.outbox_rows() == 0, 20, "the edge's outbox to drain")
    dash.send(op="chat", alias="sensor", msg="marker")
    dev.wait_ev("message", msg="marker", since=mark, timeout=20)
    copies = [e for e in dev.of("message", mark) if e["msg"] == "local chat"]
    assert len(copies) == 1, f"the local chat arrived {len(copies)} times: {copies}\n{edge.log_tail()}"

    # The device token is cached in A's store and reused after a restart: no new rtoken request on B.
    rows = edge.query_state("SELECT key FROM kv WHERE key = 'uplink/netpie/token'")
    assert rows, "the uplink's access token is not cached in the store"
    before = token_requests(edge)
    assert before >= 1, "the first login made no request-token call"
    edge.restart()
    edge.wait_log(r"uplink: netpie: using the cached token", timeout=10)
    edge.wait_log(r"uplink: netpie: online", timeout=20)
    assert token_requests(edge) == before, "a restart asked the cloud for a new request token"
    dev2 = agents(EDGE, tmp_path / "dev.cache", alias="sensor")
    dev2.wait_ev("connected")
    dev2.send(op="publish", topic="/room/temp", msg="22.0")
    dash.wait_ev("message", msg="22.0", timeout=20)


def test_edge_waits_for_approval_and_replaces_a_revoked_token(broker_factory, tmp_path):
    """Against B's real token API: a key that needs the owner's approval keeps A in the atoken 401 loop until the
    owner approves; a token the owner revokes ends A's connection, its reconnect gets CONNACK 4, and A drops the
    cached token and gets a new one (the key stays approved), after which messages flow again."""
    cloud = n.start_gateway(broker_factory, "127.0.21.3", name="cloud")
    edge = n.start_gateway(broker_factory, "127.0.21.4", name="edge", log_level="debug", extra={
        "store": {"enabled": True},
        "uplinks": [edge_uplink(host="127.0.21.3", netpie={"appid": n.APPID, "key": n.APPROVAL_KEY,
                                                            "secret": n.APPROVAL_SECRET, "alias": "edge-b"})]})
    # Not approved yet: atoken answers 401 and A asks again (100 ms doubling); it is not online.
    edge.wait_log(r"token server answered 401", timeout=10)
    status, requests = n.curl_json("GET", n.base_url(cloud) + "/admin/requests")
    assert status == 200, requests
    waiting = [r for r in requests if r.get("key") == n.APPROVAL_KEY and not r.get("approved")]
    assert waiting, f"no request of the edge waits for approval: {requests}"
    assert "uplink: netpie: online" not in edge.log_text()
    status, _ = n.curl_json("POST", n.base_url(cloud) + f"/admin/approve/{waiting[0]['request_token']}")
    assert status == 200
    edge.wait_log(r"uplink: netpie: online", timeout=30)

    with MosquittoSub(cloud, f"/{n.APPID}/#") as sub:
        mosquitto_pub(edge, f"/{n.APPID}/before", "1", qos=1)
        sub.wait_topic_payload(f"/{n.APPID}/before", b"1")

        # The owner revokes the edge's token: B closes the connection, the cached token is refused with CONNACK 4,
        # the edge drops it and logs in again from the request token.
        status, tokens = n.curl_json("GET", n.base_url(cloud) + "/admin/tokens")
        mine = [t for t in tokens if t.get("alias") == "edge-b" and not t.get("revoked")]
        assert len(mine) == 1, tokens
        status, _ = n.curl_json("POST", n.base_url(cloud) + f"/admin/revoke/{mine[0]['token']}")
        assert status == 200
        edge.wait_log(r"CONNACK refused \(reason 0x86\)", timeout=15)
        edge.wait_log(r"dropping the cached token", timeout=5)
        # Approval belongs to the key (gateway/netpie/README.md): the edge's new request token is granted without
        # asking the owner again.
        harness.wait_for(lambda: edge.log_text().count("uplink: netpie: online") >= 2, 30, "the edge online again")
        mosquitto_pub(edge, f"/{n.APPID}/after", "2", qos=1)
        sub.wait_topic_payload(f"/{n.APPID}/after", b"2")
