"""The status page at / (gateway/ops/status.html) in headless Chromium (tests/integration/browser.py), against a
gateway with real clients: a mosquitto_sub, two official Node microgears (npm microgear 0.8.1), and an `mqtt` uplink
whose upstream is down. Assertions are on the rendered DOM; the waiting microgear is approved by clicking the
page's button, after which the library's own retry gets its token and connects.

The Node microgear uses the fixed ports 8080 and 1883, so the gateway binds 127.0.45.1 (this file's block; CTest
runs it under the netpie_fixed_addresses resource lock with the other microgear files). Screenshots at phone and
desktop width are written to the test's directory and, when NETPIE_SCREENSHOT_DIR is set, copied there (that is
how docs/images/ops-status-*.png were made: see gateway/ops/README.md).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import browser
import harness
import netpie_peers as n
from peers import MosquittoSub, mosquitto_pub

pytestmark = pytest.mark.netpie_only

ADDR = "127.0.45.1"


def backlog(page) -> int:
    return int(page.evaluate("(document.querySelector('[data-uplink=\"cloud\"]') || {dataset: {backlog: -1}})"
                             ".dataset.backlog"))


def test_page_shows_devices_backlog_and_approves_a_waiting_microgear(broker_factory, agents, tmp_path):
    down = harness.free_port()  # nothing listens there: the uplink's upstream is down for the whole test
    gw = n.start_gateway(broker_factory, ADDR, extra={
        "uplinks": [{"name": "cloud", "profile": "mqtt", "host": "127.0.0.1", "port": down,
                     "tls": {"enabled": False}, "reconnect_min_ms": 200, "reconnect_max_ms": 1000}],
        "store": {"outbox": {"filters": ["up/#"]}}})
    with MosquittoSub(gw, "dash/#", qos=1, client_id="dashboard-sub"), browser.Browser() as b:
        kitchen = agents(ADDR, tmp_path / "k.cache", alias="kitchen")
        kitchen.wait_ev("connected")
        page = b.new_page(1280, 900)
        page.navigate(f"{n.base_url(gw)}/")
        page.wait_for("document.body.dataset.loaded === '1'", timeout=30, what="the first /api/v1/status")
        page.wait_for("document.querySelector('[data-client-id=\"dashboard-sub\"]') !== null", timeout=30,
                      what="the mosquitto_sub client in the device list")
        page.wait_for("document.querySelector('[data-app=\"testapp\"] [data-alias=\"kitchen\"]') !== null",
                      timeout=30, what="the microgear 'kitchen' online in its app")
        assert page.evaluate("document.querySelector('[data-uplink=\"cloud\"]').dataset.state") != "online"

        # The backlog rises while the upstream is down.
        before = backlog(page)
        assert before >= 0
        for i in range(5):
            mosquitto_pub(gw, f"up/sensor{i}", f"reading {i}", qos=1)
        page.wait_for(f"Number(document.querySelector('[data-uplink=\"cloud\"]').dataset.backlog) >= {before + 5}",
                      timeout=30, what=f"the cloud uplink's backlog up from {before} by 5")

        # A microgear whose key needs the owner: it waits, the page offers the buttons.
        waiting = agents(ADDR, tmp_path / "w.cache", key=n.APPROVAL_KEY, secret=n.APPROVAL_SECRET, alias="newdevice")
        approve = f'[data-action="approve"][data-id="{n.APPROVAL_KEY}"]'
        page.wait_for(f"document.querySelector('{approve}') !== null", timeout=30,
                      what="the approve button of the waiting microgear")
        assert not waiting.of("connected")
        shots = [page.screenshot(tmp_path / "ops-status-desktop.png")]
        page.set_viewport(390, 844, mobile=True)
        page.wait_for("document.documentElement.clientWidth <= 390", timeout=10)
        shots.append(page.screenshot(tmp_path / "ops-status-phone.png"))
        page.set_viewport(1280, 900)
        out = os.environ.get("NETPIE_SCREENSHOT_DIR")
        if out:
            for s in shots:
                shutil.copy(s, Path(out) / s.name)

        page.click(approve)
        # The library retries /api/atoken with a growing delay (at most 30 s), then connects.
        waiting.wait_ev("connected", timeout=45)
        page.wait_for("document.querySelector('[data-app=\"testapp\"] [data-alias=\"newdevice\"]') !== null",
                      timeout=30, what="the approved microgear online on the page")
        page.wait_for(f"document.querySelector('{approve}') === null", timeout=30,
                      what="the approval gone from the waiting list")
        status, approvals = n.curl_json("GET", f"{n.base_url(gw)}/admin/approvals")
        assert status == 200
        assert [a["approved"] for a in approvals if a["key"] == n.APPROVAL_KEY] == [True]
        assert "uncaught" not in page.console_text(), page.console_text()
