"""Keeps docs/netpie-rest.md honest: every `curl` example in it is run, in the document's order, against a real
daemon, and the answer must show the status line, the headers and the body the document shows after it (`…`
standing for any text). The document's host `gw.lan:8080` is mapped to this test's address with a curlrc, so the
commands run exactly as written; the shell variables the document lists ($RTOKEN_AUTH, $TOKEN, …) are filled in
from the earlier answers, the OAuth headers by the tests' own signer (netpie_peers.py). Address 127.0.33.10.
"""
import os
import queue
import re
import subprocess
import urllib.parse

import paho.mqtt.client as mqtt
import pytest

import netpie_peers as n
from harness import HERE

pytestmark = pytest.mark.netpie_only

DOC = HERE.parent.parent / "docs" / "netpie-rest.md"
BASE = "http://gw.lan:8080"
EXAMPLE = re.compile(r"```sh\n(curl [^\n]*)\n```\n```http\n(.*?)```", re.S)


def examples() -> list[tuple[str, str]]:
    return EXAMPLE.findall(DOC.read_text())


def pattern(expected: str) -> re.Pattern:
    return re.compile(".*".join(re.escape(part) for part in expected.split("…")), re.S)


def run_curl(cmd: str, env: dict) -> tuple[str, dict, str]:
    r = subprocess.run(["bash", "-c", cmd], capture_output=True, env=env, timeout=30)
    assert r.returncode == 0, f"{cmd}: curl failed: {r.stderr.decode(errors='replace')}"
    head, _, body = r.stdout.decode(errors="replace").partition("\r\n\r\n")
    lines = head.split("\r\n")
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers[k.strip().lower()] = v.strip()
    return lines[0], headers, body


def test_every_curl_example_of_the_rest_doc_answers_as_documented(broker_factory, tmp_path):
    found = examples()
    assert len(found) >= 30, f"only {len(found)} curl examples found in {DOC}: did the format change?"
    addr = "127.0.33.10"
    n.start_gateway(broker_factory, addr)
    (tmp_path / ".curlrc").write_text(f"resolve = gw.lan:8080:{addr}\n")
    env = dict(os.environ, HOME=str(tmp_path))
    var: dict[str, str] = {}
    gear = None
    try:
        for cmd, expected in found:
            # The OAuth headers are signed afresh for each request (a repeated signature is a replay).
            env["RTOKEN_AUTH"] = n.oauth_header("POST", BASE + "/api/rtoken", n.KEY, n.SECRET,
                                                callback="scope=&appid=testapp&mgrev=NJS1b&verifier=mygear")
            if "RTOKEN" in var:
                for name, verifier in (("ATOKEN_AUTH", "mygear"), ("ATOKEN_AUTH_OTHER_VERIFIER", "newalias")):
                    env[name] = n.oauth_header("POST", BASE + "/api/atoken", n.KEY, n.SECRET, var["RTOKEN"],
                                               var["RTOKEN_SECRET"], verifier=verifier)
            env.update(var)
            used = set(re.findall(r"\$([A-Z_]+)", cmd))
            assert used <= set(env), f"{cmd}: no value yet for {used - set(env)}"
            status, headers, body = run_curl(cmd, env)
            exp_head, _, exp_body = expected.partition("\n\n")
            exp_lines = exp_head.split("\n")
            where = f"\n{cmd}\nanswered:\n{status}\n{headers}\n\n{body}\ndocumented:\n{expected}"
            assert status == exp_lines[0], where
            for ln in exp_lines[1:]:
                k, _, v = ln.partition(":")
                assert k.lower() in headers and pattern(v.strip()).fullmatch(headers[k.lower()]), where
            assert pattern(exp_body.rstrip("\n")).fullmatch(body.rstrip("\n")), where
            # What later examples need from this answer.
            if "$RTOKEN_AUTH" in cmd and status.endswith("200 OK"):
                rt = dict(urllib.parse.parse_qsl(body))
                var.update(RTOKEN=rt["oauth_token"], RTOKEN_SECRET=rt["oauth_token_secret"])
            if '$ATOKEN_AUTH"' in cmd and status.endswith("200 OK"):
                at = dict(urllib.parse.parse_qsl(body))
                var.update(TOKEN=at["oauth_token"], TOKEN_SECRET=at["oauth_token_secret"],
                           REVOKECODE=n.revoke_code(at["oauth_token"], at["oauth_token_secret"], n.SECRET))
                # A live microgear for the push examples.
                cid, user, password = n.mqtt_credentials(var["TOKEN"], var["TOKEN_SECRET"], n.KEY, n.SECRET)
                gear = mqtt.Client(client_id=cid, protocol=mqtt.MQTTv311)
                gear.username_pw_set(user, password)
                acks: queue.Queue = queue.Queue()
                gear.on_connect = lambda c, u, f, rc: acks.put(rc)
                gear.connect(addr, 1883, keepalive=60)
                gear.loop_start()
                assert acks.get(timeout=15) == 0
            if "/oauth2/authorize" in cmd and "location" in headers:
                var["CODE"] = headers["location"].split("code=", 1)[1]
    finally:
        if gear is not None:
            gear.loop_stop()
