"""A stand-in for the official Python microgear, which cannot be installed here (PyPI is not reachable; only the
Debian and npm registries are). It does what that library does on the wire, as docs/netpie-protocol.md describes
it, and nothing of the daemon's code:

- token flow (§3.4): microgear-python 1.2.x asks `GET /oauth2/authorize?response_type=code&client_id=<key>&
  scope=appid:<appid> alias:<alias>&state=mgrev:PY11k`, follows the redirect and takes what follows `code=` in the
  final URL as its request token, then `POST /oauth2/token?grant_type=authorization_code&code=…&client_id=…&
  client_secret=…&state=mgrev:PY11k`. The older 1.1 line used `/api/rtoken` + `/api/atoken` with OAuth 1.0a
  (§3.2, §3.3; callback order scope, mgrev, appid, verifier). Either way the library throws its request token
  away when the access-token call is refused (401 "not approved yet" included) and asks for a new one;
- MQTT (§5, §6): to port 1883 of the endpoint's host whatever port the endpoint names, client id = access token,
  user name `<key>%<unix time>`, the HMAC-SHA1 password, MQTT 3.1.1 (paho's default) with keepalive 60; after
  CONNACK 0 it subscribes `/<appid>/&present`, `/<appid>/&absent`, `/&id/<token>/#` and publishes `@setalias`.

The MQTT client is Debian's python3-paho-mqtt, the library the official one is built on. The retry loop is driven
by the test (`get_token(attempts)`), so a test can act between a refusal and the next request, as an owner does.
"""
from __future__ import annotations

import json
import queue
import time
import urllib.error
import urllib.parse
import urllib.request

import paho.mqtt.client as mqtt

import netpie_peers as n

MGREV = "PY11k"
MQTT_PORT = 1883  # fixed in the library; the endpoint's port is ignored (docs/netpie-protocol.md §5)


class PyMicrogear:
    def __init__(self, gearauth: str, appid: str, key: str, secret: str, alias: str | None = None,
                 flow: str = "oauth2"):
        assert flow in ("oauth2", "oauth1")
        self.base = f"http://{gearauth}:8080"
        self.appid, self.key, self.secret, self.alias, self.flow = appid, key, secret, alias, flow
        self.discarded: list[str] = []  # request tokens thrown away after a refused access-token call
        self.refusals: list[int] = []   # the status of each refused access-token call
        self.token = self.token_secret = self.endpoint = None
        self.client: mqtt.Client | None = None
        self.messages: queue.Queue = queue.Queue()
        self._subacks: queue.Queue = queue.Queue()

    # -- token flow ------------------------------------------------------------------------------------------------
    def _http(self, method: str, url: str, headers: dict | None = None) -> tuple[int, str, str]:
        """(status, final URL after redirects, body)."""
        req = urllib.request.Request(url, method=method, headers=headers or {}, data=b"" if method == "POST" else None)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.geturl(), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, url, e.read().decode(errors="replace")

    def _verifier(self) -> str:
        return self.alias or MGREV

    def request_token(self) -> tuple[str, str]:
        if self.flow == "oauth2":
            scope = f"appid:{self.appid}" + (f" alias:{self.alias}" if self.alias else "")
            query = urllib.parse.urlencode({"response_type": "code", "client_id": self.key, "scope": scope,
                                            "state": f"mgrev:{MGREV}"})
            status, final, body = self._http("GET", f"{self.base}/oauth2/authorize?{query}")
            assert status == 200 and "code=" in final, f"authorize: {status} {final} {body}"
            return final.split("code=", 1)[1], ""
        url = self.base + "/api/rtoken"
        callback = f"scope=&mgrev={MGREV}&appid={self.appid}&verifier={self._verifier()}"
        status, _, body = self._http("POST", url, {
            "Authorization": n.oauth_header("POST", url, self.key, self.secret, callback=callback),
            "Content-Type": "application/x-www-form-urlencoded"})
        assert status == 200, f"rtoken: {status} {body}"
        rt = dict(urllib.parse.parse_qsl(body))
        return rt["oauth_token"], rt["oauth_token_secret"]

    def access_token(self, rtoken: str, rsecret: str) -> int:
        if self.flow == "oauth2":
            query = urllib.parse.urlencode({"grant_type": "authorization_code", "code": rtoken,
                                            "client_id": self.key, "client_secret": self.secret,
                                            "state": f"mgrev:{MGREV}"})
            status, _, body = self._http("POST", f"{self.base}/oauth2/token?{query}")
            if status == 200:
                j = json.loads(body)
                self.token, self.token_secret = j["access_token"].split(":", 1)
                self.endpoint = j["endpoint"]
            return status
        url = self.base + "/api/atoken"
        status, _, body = self._http("POST", url, {
            "Authorization": n.oauth_header("POST", url, self.key, self.secret, rtoken, rsecret,
                                            verifier=self._verifier()),
            "Content-Type": "application/x-www-form-urlencoded"})
        if status == 200:
            at = dict(urllib.parse.parse_qsl(body))
            self.token, self.token_secret, self.endpoint = at["oauth_token"], at["oauth_token_secret"], at["endpoint"]
        return status

    def get_token(self, attempts: int) -> bool:
        """Up to `attempts` rounds of request token + access token; each refusal discards the request token."""
        for _ in range(attempts):
            rtoken, rsecret = self.request_token()
            status = self.access_token(rtoken, rsecret)
            if status == 200:
                return True
            self.refusals.append(status)
            self.discarded.append(rtoken)
        return False

    # -- MQTT ------------------------------------------------------------------------------------------------------
    def connect(self, timeout: float = 15.0) -> int:
        """CONNECT to port 1883 of the endpoint's host; returns the CONNACK code."""
        assert self.endpoint and self.endpoint.startswith("pie://"), self.endpoint
        host = self.endpoint[len("pie://"):].rsplit(":", 1)[0]
        cid, user, password = n.mqtt_credentials(self.token, self.token_secret, self.key, self.secret)
        c = mqtt.Client(client_id=cid, clean_session=True, protocol=mqtt.MQTTv311)
        c.username_pw_set(user, password)
        acks: queue.Queue = queue.Queue()
        c.on_connect = lambda cl, ud, flags, rc: acks.put(rc)
        c.on_message = lambda cl, ud, m: self.messages.put((m.topic, m.payload))
        c.on_subscribe = lambda cl, ud, mid, granted: self._subacks.put(mid)
        c.connect(host, MQTT_PORT, keepalive=60)
        c.loop_start()
        self.client = c
        rc = acks.get(timeout=timeout)
        if rc == 0:
            for f in (f"/{self.appid}/&present", f"/{self.appid}/&absent", f"/&id/{self.token}/#"):
                c.subscribe(f, 0)
            if self.alias:
                c.publish(f"/{self.appid}/@setalias/{self.alias}", b"", 0)
        return rc

    def subscribe(self, topic: str) -> None:
        """topic as the user gives it ("/x"); the library prefixes /<appid> (§7.1)."""
        _, mid = self.client.subscribe(f"/{self.appid}{topic}", 0)
        while self._subacks.get(timeout=10) != mid:
            pass

    def publish(self, topic: str, payload: str) -> None:
        self.client.publish(f"/{self.appid}{topic}", payload.encode(), 0)

    def wait_message(self, topic: str, timeout: float = 10.0) -> bytes:
        deadline = time.monotonic() + timeout
        while True:
            t, p = self.messages.get(timeout=max(0.01, deadline - time.monotonic()))
            if t == topic:
                return p

    def close(self) -> None:
        if self.client is not None:
            self.client.disconnect()
            self.client.loop_stop()
            self.client = None
