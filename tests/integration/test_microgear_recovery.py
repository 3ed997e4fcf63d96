"""The two recovery paths of the official ESP8266 microgear (microgear-esp8266-arduino 1.2.4), replayed byte for byte
as the library sends them (docs/netpie-protocol.md §3.2, §3.3, §4, §6.3), against the real daemon. Both used to
leave a device retrying until its flash was erased:

1. its request token is in EEPROM, but its alias changed (the verifier is recomputed from the current alias): the
   atoken call must be answered like an unknown request token (500), which makes the library start over;
2. after CONNACK 4 for an access token the gateway does not know, the library calls /api/revoke and keeps the
   token if the body is `FAILED`: revoking an unknown token must succeed.

The OAuth signer and the credentials are the tests' own (netpie_peers.py). Each test has its own 127.0.33.<n>.
"""
import urllib.parse

import pytest

import netpie_peers as n
import rawmqtt as r

pytestmark = pytest.mark.netpie_only


def esp_post(gw, addr: str, path: str, auth: str) -> tuple[int, str]:
    """A POST as the ESP8266 library writes it (its header set and order, §3.2); (status, first body line)."""
    req = (f"POST {path} HTTP/1.1\r\nHost: {addr}:8080\r\nAuthorization: {auth}\r\nAccept: */*\r\n"
           f"Connection: close\r\nUser-Agent: E8A\r\nContent-length: 0\r\n"
           f"Content-Type: application/x-www-form-urlencoded\r\n\r\n").encode()
    return parse(n.raw_http(gw.ports["http"], req))


def esp_get(gw, path: str) -> tuple[int, str]:
    """The ESP8266 library's GET: the request line and an empty line, no Host (§4)."""
    return parse(n.raw_http(gw.ports["http"], f"GET {path} HTTP/1.1\r\n\r\n".encode()))


def parse(reply: bytes) -> tuple[int, str]:
    # The library reads the status from columns 10-12 and only the first body line (§4).
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head[9:12]), body.decode().split("\n")[0]


def esp_callback(verifier: str) -> str:
    return f"appid={n.APPID}&mgrev=E8A1b&scope=&verifier={verifier}"  # the ESP8266 order (§3.2)


def esp_rtoken(gw, addr: str, verifier: str) -> dict:
    url = f"http://{addr}:8080/api/rtoken"
    status, body = esp_post(gw, addr, "/api/rtoken",
                            n.oauth_header("POST", url, n.KEY, n.SECRET, callback=esp_callback(verifier)))
    assert status == 200, body
    return dict(urllib.parse.parse_qsl(body))


def esp_atoken(gw, addr: str, rt: dict, verifier: str) -> tuple[int, str]:
    # ESP8266 sends oauth_callback on atoken too, with the scope empty (§3.2).
    url = f"http://{addr}:8080/api/atoken"
    return esp_post(gw, addr, "/api/atoken",
                    n.oauth_header("POST", url, n.KEY, n.SECRET, rt["oauth_token"], rt["oauth_token_secret"],
                                   callback=esp_callback(verifier), verifier=verifier))


def esp_connect(gw, token: str, token_secret: str) -> int:
    """MQTT 3.1.1, keepalive 15, user name and password of §6.1; the CONNACK code."""
    cid, user, password = n.mqtt_credentials(token, token_secret, n.KEY, n.SECRET)
    c = r.RawClient(gw.ports["mqtt"])
    try:
        c.send(r.connect(cid, keepalive=15, username=user, password=password))
        return c.expect(r.CONNACK).reason
    finally:
        c.close()


def test_esp8266_whose_alias_changed_starts_over(broker_factory):
    addr = "127.0.33.1"
    gw = n.start_gateway(broker_factory, addr)
    rt = esp_rtoken(gw, addr, "oldalias")
    # Power lost before the access token; the sketch now sets another alias, and the library signs the stored
    # request token with the new verifier. 401 would read "not approved yet" and loop forever; 500 is the answer
    # for a request token that is not (or no longer) good, after which the library asks for a new one.
    status, body = esp_atoken(gw, addr, rt, "newalias")
    assert (status, body) == (500, "request token not found"), (status, body)
    gw.wait_log(rf"atoken for key {n.KEY} from .*oauth_verifier 'newalias' is not the request token's 'oldalias'")
    # Starting over works: a new request token with the current alias, the access token, the broker.
    rt2 = esp_rtoken(gw, addr, "newalias")
    status, body = esp_atoken(gw, addr, rt2, "newalias")
    assert status == 200, body
    at = dict(urllib.parse.parse_qsl(body))
    assert at["flag"] == "P" and at["endpoint"] == f"pie://{addr}:1883"
    assert esp_connect(gw, at["oauth_token"], at["oauth_token_secret"]) == 0


def test_esp8266_drops_a_token_the_gateway_does_not_know(broker_factory):
    addr = "127.0.33.2"
    gw = n.start_gateway(broker_factory, addr)
    # A token from EEPROM that this gateway never issued (another gateway's, or its database was replaced).
    token, secret = "T0k3nAbCdEfGh123", "S3cr3tS3cr3tS3cr3tS3cr3tS3cr3t12"
    assert esp_connect(gw, token, secret) == 4
    gw.wait_log(rf"CONNECT from .* of key {n.KEY}: unknown access token {token}")
    # The library revokes it before asking for a new one, and keeps it if the answer is FAILED.
    status, body = esp_get(gw, f"/api/revoke/{token}/{n.revoke_code(token, secret, n.SECRET)}")
    assert (status, body) == (200, "SUCCESS"), (status, body)
    gw.wait_log(rf"revoke of token {token}: unknown token")
    # A token the owner revoked: CONNACK 4, and its revoke (with the right code) succeeds again.
    live, live_secret = n.get_token(gw)
    status, _ = n.curl_json("POST", f"{n.base_url(gw)}/admin/revoke/{live}")
    assert status == 200
    assert esp_connect(gw, live, live_secret) == 4
    gw.wait_log(rf"CONNECT with revoked token {live} \(key {n.KEY}\) refused")
    assert esp_get(gw, f"/api/revoke/{live}/{n.revoke_code(live, live_secret, n.SECRET)}") == (200, "SUCCESS")
    # Only a wrong code for a token the gateway knows fails.
    other, other_secret = n.get_token(gw)
    assert esp_get(gw, f"/api/revoke/{other}/{n.revoke_code(other, 'x' * 32, n.SECRET)}") == (403, "FAILED")
    assert esp_connect(gw, other, other_secret) == 0


def test_endpoint_port_other_than_1883_is_warned_about(broker_factory):
    """Node 0.8, ESP8266 1.2, Python 1.2 and C# use 1883 whatever the endpoint names (docs/netpie-protocol.md §5):
    the answer still names endpoint_port (for the libraries that read it) and the start log says what the others
    will do."""
    addr = "127.0.33.3"
    gw = n.start_gateway(broker_factory, addr, netpie={"endpoint_port": 11883})
    gw.wait_log(r"netpie\.endpoint_port is 11883, but the Node .* connect to 1883")
    gw.wait_log(r"no mqtt listener on netpie\.endpoint_port 11883")
    assert esp_get(gw, f"/api/endpoint/{n.KEY}") == (200, f"pie://{addr}:11883")
