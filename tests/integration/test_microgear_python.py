"""The Python microgear's way through owner approval: it throws its request token away after every refused
access-token call and asks for a new one, so the owner's approval has to belong to the key, not to a request
token (gateway/netpie/README.md "Keys, tokens and approval"). The client is py_microgear.py, a stand-in that
follows the library's protocol (docs/netpie-protocol.md §3.4, §6) with Debian's paho-mqtt; the Node microgear
(npm microgear 0.8.1) must keep working with the same key. Each test has its own 127.0.32.<n> (fixed ports 8080
and 1883, netpie_peers.start_gateway).
"""
import pytest

import netpie_peers as n
from py_microgear import PyMicrogear

pytestmark = pytest.mark.netpie_only


def approvals(gw) -> dict:
    status, body = n.curl_json("GET", f"{n.base_url(gw)}/admin/approvals")
    assert status == 200, body
    return {a["key"]: a for a in body}


@pytest.mark.parametrize("flow,addr", [("oauth2", "127.0.32.1"), ("oauth1", "127.0.32.2")])
def test_python_microgear_connects_after_one_approval_of_its_key(broker_factory, agents, tmp_path, flow, addr):
    gw = n.start_gateway(broker_factory, addr)
    assert approvals(gw)[n.APPROVAL_KEY]["approved"] is False
    g = PyMicrogear(addr, n.APPID, n.APPROVAL_KEY, n.APPROVAL_SECRET, alias="pydev", flow=flow)
    # Not approved: each access-token call is refused with 401 and the library starts over.
    assert g.get_token(attempts=3) is False
    assert g.refusals == [401, 401, 401] and len(set(g.discarded)) == 3
    # The owner sees the key waiting with the device's latest request; its earlier ones were replaced, not piled up.
    waiting = approvals(gw)[n.APPROVAL_KEY]
    assert waiting["approved"] is False and waiting["waiting"] == 1, waiting
    latest = waiting["latest_request"]
    assert latest["request_token"] == g.discarded[-1], (latest, g.discarded)
    assert latest["verifier"] == "pydev" and latest["mgrev"] == "PY11k", latest
    # The owner approves what they see: a request token the device has already thrown away (it always has).
    status, body = n.curl_json("POST", f"{n.base_url(gw)}/admin/approve/{latest['request_token']}")
    assert status == 200, body
    assert approvals(gw)[n.APPROVAL_KEY]["approved"] is True
    # The device's next request token is granted, and it connects on port 1883 of the endpoint's host.
    assert g.get_token(attempts=1) is True, g.refusals
    assert g.endpoint == f"pie://{addr}:1883"
    try:
        assert g.connect() == 0
        g.subscribe("/py/#")
        g.publish("/py/hello", "from python")
        assert g.wait_message(f"/{n.APPID}/py/hello") == b"from python"
        # One approval covers the key: another Python device and the Node microgear get in at once.
        other = PyMicrogear(addr, n.APPID, n.APPROVAL_KEY, n.APPROVAL_SECRET, alias="pydev2", flow=flow)
        assert other.get_token(attempts=1) is True, other.refusals
        assert other.connect() == 0
        other.close()
        node = agents(addr, tmp_path / "node.cache", key=n.APPROVAL_KEY, secret=n.APPROVAL_SECRET, alias="nodedev")
        node.wait_ev("connected")
        node.send(op="publish", topic="/py/node", msg="from node")
        assert g.wait_message(f"/{n.APPID}/py/node") == b"from node"
    finally:
        g.close()


def test_withdrawn_approval_makes_new_devices_wait_again(broker_factory):
    addr = "127.0.32.3"
    gw = n.start_gateway(broker_factory, addr)
    status, body = n.curl_json("POST", f"{n.base_url(gw)}/admin/approve/{n.APPROVAL_KEY}")
    assert status == 200, body
    first = PyMicrogear(addr, n.APPID, n.APPROVAL_KEY, n.APPROVAL_SECRET, alias="one")
    assert first.get_token(attempts=1) is True
    status, body = n.curl_json("POST", f"{n.base_url(gw)}/admin/deny/{n.APPROVAL_KEY}")
    assert status == 200, body
    later = PyMicrogear(addr, n.APPID, n.APPROVAL_KEY, n.APPROVAL_SECRET, alias="two")
    assert later.get_token(attempts=2) is False and later.refusals == [401, 401]
    # The token issued before stays valid until the owner revokes it.
    try:
        assert first.connect() == 0
    finally:
        first.close()
    # Neither a request token nor a key: 404.
    status, body = n.curl_json("POST", f"{n.base_url(gw)}/admin/approve/NoSuchThing0000")
    assert status == 404, body
