"""Helpers for the NETPIE local endpoint tests: a gateway config with apps and keys, the official Node microgear
(js/microgear_agent.js) as a long-running agent, curl, and the tests' own OAuth 1.0a signer and microgear MQTT
credentials written from the protocol text (RFC 5849, docs/netpie-protocol.md §3.2 and §6.1), not from the
daemon's code.

The Node library uses the fixed ports 8080 (gearauth) and 1883 (MQTT) of the host it is given, so every test
starts its gateway on an address of its own, 127.0.<file>.<test>, with both listeners bound to it; tests then run
in parallel without port clashes (Linux routes all of 127/8 to loopback without setup).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import queue
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any, Callable

import pytest

import harness
from harness import HERE

APPID = "testapp"
KEY = "KEY123456789012"
SECRET = "SECRETsecretSECRETsecret12345"
APPROVAL_KEY = "ApprovalKey0001"
APPROVAL_SECRET = "approval-secret-0123456789"
LIMITED_KEY = "LimitedKey00001"
LIMITED_SECRET = "limited-secret-0123456789"
SESSION_KEY = "SessionKey00001"
SESSION_SECRET = "session-secret-0123456789"

AGENT = HERE / "js" / "microgear_agent.js"


def default_apps() -> list[dict]:
    return [{
        "appid": APPID,
        "keys": [
            {"key": KEY, "secret": SECRET},
            {"key": APPROVAL_KEY, "secret": APPROVAL_SECRET, "auto_approve": False},
            {"key": SESSION_KEY, "secret": SESSION_SECRET, "kind": "session"},
            {"key": LIMITED_KEY, "secret": LIMITED_SECRET,
             "rights": {"publish": ["/allowed/#"], "subscribe": ["/allowed/#"], "max_qos": 1}},
        ],
    }, {
        "appid": "otherapp",
        "keys": [{"key": "OtherKey0000001", "secret": "other-secret-0123456789"}],
    }]


def start_gateway(broker_factory, address: str, netpie: dict | None = None, http: dict | None = None,
                  name: str | None = None, **options):
    """A started netpie-edge with MQTT on <address>:1883 and HTTP on <address>:8080, the NETPIE endpoint on.
    Skips, naming the holder, when a port is taken on that address (a broker of the machine's own on
    0.0.0.0:1883, say: the tests never stop it)."""
    for port in (1883, 8080):
        holder = harness.port_in_use(address, port)
        if holder:
            pytest.skip(f"{address}:{port} is taken by {holder}")
    np = {"enabled": True, "apps": default_apps()}
    np.update(netpie or {})
    extra = {
        "listeners": [{"name": "mqtt", "protocol": "mqtt", "bind": address, "port": 1883},
                      {"name": "http", "protocol": "http", "bind": address, "port": 8080}],
        "netpie": np,
    }
    if http:
        extra["http"] = http
    extra.update(options.pop("extra", {}))
    b = broker_factory(name=name, extra=extra, **options)
    assert b.ports.get("http") == (address, 8080), f"http listener: {b.ports}"
    return b


def base_url(broker) -> str:
    host, port = broker.ports["http"]
    return f"http://{host}:{port}"


# -- the official Node microgear ------------------------------------------------------------------------------------
class MicrogearAgent:
    """The `microgear` npm package in a node process: events in, commands out (see js/microgear_agent.js)."""

    def __init__(self, gearauth: str, cache: Path, key: str = KEY, secret: str = SECRET, alias: str | None = None,
                 appid: str = APPID, present: bool = True, absent: bool = True, tls_ca: Path | None = None):
        """tls_ca: the library's useTLS(true) (gearauth on 8081, MQTT on 8883), trusting this CA file."""
        assert (HERE / "node_modules" / "microgear").exists(), \
            "the microgear npm package is not installed (deploy/install-deps.sh --test)"
        args = {"gearauth": gearauth, "appid": appid, "key": key, "secret": secret, "cache": str(cache),
                "present": present, "absent": absent}
        if alias:
            args["alias"] = alias
        env = None
        if tls_ca is not None:
            args["tls"] = True
            env = dict(os.environ, NODE_EXTRA_CA_CERTS=str(tls_ca))
        self.name = alias or key
        self.proc = subprocess.Popen(["node", str(AGENT), json.dumps(args)], cwd=HERE, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        self.events: list[dict] = []
        self._cond = threading.Condition()
        self._stderr: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                ev = json.loads(line)
            except json.JSONDecodeError:
                ev = {"ev": "stdout", "line": line}
            with self._cond:
                self.events.append(ev)
                self._cond.notify_all()

    def _read_err(self) -> None:
        for line in self.proc.stderr:
            self._stderr.append(line)

    def send(self, **command) -> None:
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()

    def wait(self, pred: Callable[[dict], bool], timeout: float = 15.0, what: str = "an event",
             since: int = 0) -> dict:
        """The first event from index `since` on for which pred holds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for ev in self.events[since:]:
                    if pred(ev):
                        return ev
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"microgear {self.name}: timed out after {timeout}s waiting for {what}; "
                                         f"events: {self.events}\nstderr: {''.join(self._stderr)[-2000:]}")
                self._cond.wait(left)

    def wait_ev(self, kind: str, timeout: float = 15.0, since: int = 0, **fields) -> dict:
        def match(ev):
            return ev.get("ev") == kind and all(ev.get(k) == v for k, v in fields.items())
        return self.wait(match, timeout, f"{kind} {fields or ''}", since)

    def mark(self) -> int:
        with self._cond:
            return len(self.events)

    def of(self, kind: str, since: int = 0) -> list[dict]:
        with self._cond:
            return [e for e in self.events[since:] if e.get("ev") == kind]

    def kill(self) -> None:
        """SIGKILL: the socket goes away without a DISCONNECT."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send(op="exit")
                self.proc.wait(5)
            except (BrokenPipeError, OSError, subprocess.TimeoutExpired):
                self.kill()


def read_cache(path: Path) -> dict:
    return json.loads(path.read_text())["_"]


# -- curl -----------------------------------------------------------------------------------------------------------
def curl(method: str, url: str, data: str | None = None, user: str | None = None,
         headers: list[str] | None = None, http_version: str = "--http1.1",
         cacert: str | None = None) -> tuple[int, dict, str]:
    """One curl request; returns (status, headers with lower-case names, body). cacert: for https URLs."""
    cmd = ["curl", "-sS", http_version, "-X", method, "-D", "-", "--max-time", "10", url]
    if cacert is not None:
        cmd += ["--cacert", cacert]
    if data is not None:
        cmd += ["--data-binary", data, "-H", "Content-Type: text/plain"]
    if user is not None:
        cmd += ["-u", user]
    for h in headers or []:
        cmd += ["-H", h]
    r = subprocess.run(cmd, capture_output=True, timeout=20)  # bytes: keep the \r\n of the header section
    assert r.returncode == 0, f"curl failed ({r.returncode}): {cmd}\n{r.stderr.decode(errors='replace')}"
    head, _, body = r.stdout.decode(errors="replace").partition("\r\n\r\n")
    while head.startswith("HTTP/1.1 100"):
        head, _, body = body.partition("\r\n\r\n")
    lines = head.split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, body


def raw_http(addr, data: bytes, timeout=5.0) -> bytes:
    """Sends raw bytes (exactly what an embedded client sends), returns everything until the server closes."""
    with socket.create_connection(addr, timeout=timeout) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return out


def curl_json(method: str, url: str, **kw) -> tuple[int, Any]:
    status, _, body = curl(method, url, **kw)
    return status, json.loads(body) if body else None


# -- OAuth 1.0a (RFC 5849) and microgear credentials, written from the specs ------------------------------------------
def pct(s: str) -> str:
    """RFC 5849 §3.6: unreserved characters stay, everything else %XX upper-case."""
    return urllib.parse.quote(s, safe="-._~")


def oauth_header(method: str, url: str, key: str, secret: str, token: str = "", token_secret: str = "",
                 callback: str | None = None, verifier: str | None = None, nonce: str | None = None,
                 timestamp: int | None = None) -> str:
    params = {
        "oauth_consumer_key": key,
        "oauth_nonce": nonce or base64.b32encode(os.urandom(10)).decode().lower(),
        "oauth_signature_method": "HMAC-SHA1",
        "oauth_timestamp": str(int(time.time()) if timestamp is None else timestamp),
        "oauth_version": "1.0",
    }
    if callback is not None:
        params["oauth_callback"] = callback
    if token:
        params["oauth_token"] = token
    if verifier is not None:
        params["oauth_verifier"] = verifier
    normalized = "&".join(f"{k}={v}" for k, v in sorted((pct(k), pct(v)) for k, v in params.items()))
    base = "&".join([method.upper(), pct(url), pct(normalized)])
    digest = hmac.new(f"{pct(secret)}&{pct(token_secret)}".encode(), base.encode(), hashlib.sha1).digest()
    params["oauth_signature"] = base64.b64encode(digest).decode()
    return "OAuth " + ",".join(f'{pct(k)}="{pct(v)}"' for k, v in params.items())


def callback_for(appid: str = APPID, verifier: str = "NJS1b") -> str:
    return f"scope=&appid={appid}&mgrev=NJS1b&verifier={verifier}"


def mqtt_credentials(token: str, token_secret: str, key: str, secret: str, t: int | None = None):
    """docs/netpie-protocol.md §6.1: (client id, user name, password)."""
    username = f"{key}%{int(time.time()) if t is None else t}"
    digest = hmac.new(f"{token_secret}&{secret}".encode(), f"{token}%{username}".encode(), hashlib.sha1).digest()
    return token, username, base64.b64encode(digest).decode()


def revoke_code(token: str, token_secret: str, secret: str) -> str:
    """docs/netpie-protocol.md §2: base64(HMAC-SHA1(key = token secret & gear secret, message = token)), '/' -> '_'."""
    digest = hmac.new(f"{token_secret}&{secret}".encode(), token.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode().replace("/", "_")


def get_token(broker, key: str = KEY, secret: str = SECRET, verifier: str = "NJS1b", url: str | None = None,
              cacert: str | None = None) -> tuple[str, str]:
    """The rtoken + atoken flow with the tests' own signer; returns (access token, access token secret).
    url: the gearauth base URL (default: the broker's http listener); cacert: for an https one."""
    url = url or base_url(broker)
    status, _, body = curl("POST", url + "/api/rtoken", cacert=cacert,
                           headers=[f"Authorization: {oauth_header('POST', url + '/api/rtoken', key, secret, callback=callback_for(verifier=verifier))}"])
    assert status == 200, body
    rt = dict(urllib.parse.parse_qsl(body))
    status, _, body = curl("POST", url + "/api/atoken", cacert=cacert,
                           headers=[f"Authorization: {oauth_header('POST', url + '/api/atoken', key, secret, rt['oauth_token'], rt['oauth_token_secret'], verifier=verifier)}"])
    assert status == 200, body
    at = dict(urllib.parse.parse_qsl(body))
    return at["oauth_token"], at["oauth_token_secret"]
