"""Headless Chromium for the integration tests, driven over the DevTools protocol on a pipe.

Debian's `chromium` is started with --remote-debugging-pipe: the protocol's JSON messages, each ended by a NUL
byte, travel on file descriptors 3 (to the browser) and 4 (from it), so no WebSocket client and no debugging port
are needed. A test opens a page, navigates, evaluates JavaScript (awaiting promises), waits for a condition in the
page, clicks, and takes screenshots at a chosen width (phone or desktop):

    with browser.Browser() as b:             # skips the test when chromium is not installed
        page = b.new_page()
        page.navigate(url)
        page.wait_for("document.querySelector('#done') !== null", timeout=20)
        assert page.evaluate("document.title") == "..."

Shared third-party pages (the official HTML5 microgear, the Freeboard datasource) are found through
shared_peers_dir(), which skips the test with the reason when they are absent. Every wait has a deadline; a
failed wait raises with the page's console output, so a failing browser test says what the page saw.
"""
from __future__ import annotations

import base64
import fcntl
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import harness

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def chromium_path() -> str | None:
    override = os.environ.get("ITEST_CHROMIUM")
    if override:
        return override
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def shared_peers_dir(name: str) -> Path:
    """The folder `peers/<name>` of the shared tree beside the checkout (or under $NETPIE_SHARED_DIR); the test is
    skipped, saying where it looked, when that folder is absent: the project itself contains no third-party page."""
    root = os.environ.get("NETPIE_SHARED_DIR") or str(harness.HERE.parents[2] / "shared")
    path = Path(root) / "peers" / name
    if not path.is_dir():
        pytest.skip(f"{path} is absent (set NETPIE_SHARED_DIR to the folder that has peers/{name})")
    return path


class BrowserError(RuntimeError):
    pass


class Page:
    """One tab, attached through a flat session of the browser connection."""

    def __init__(self, browser: "Browser", target_id: str, session_id: str):
        self.browser = browser
        self.target_id = target_id
        self.session_id = session_id
        self.console: list[str] = []

    def send(self, method: str, params: dict | None = None, timeout: float = 30.0) -> dict:
        return self.browser.send(method, params, session_id=self.session_id, timeout=timeout)

    def navigate(self, url: str, timeout: float = 30.0) -> None:
        """Loads url and waits for its load event."""
        loaded = self.browser.expect_event("Page.loadEventFired", self.session_id)
        result = self.send("Page.navigate", {"url": url}, timeout=timeout)
        if result.get("errorText"):
            raise BrowserError(f"navigating to {url}: {result['errorText']}")
        self.browser.wait_event(loaded, timeout, f"the load event of {url}")

    def evaluate(self, expression: str, timeout: float = 30.0) -> Any:
        """The value of a JavaScript expression (a promise is awaited); a thrown exception raises BrowserError."""
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True},
            timeout=timeout,
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"{expression[:80]!r} threw: {text}\nconsole:\n" + self.console_text())
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float = 20.0, what: str | None = None) -> Any:
        """Evaluates expression until it is truthy (polled every 50 ms in this process) and returns its value."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.05)
        raise BrowserError(
            f"timed out after {timeout} s waiting for {what or expression!r} (last value {value!r})\nconsole:\n"
            + self.console_text()
        )

    def click(self, selector: str) -> None:
        """Clicks the first element matching a CSS selector, as a user's click would (a trusted mouse event)."""
        box = self.evaluate(
            "(() => { const e = document.querySelector(%s); if (!e) return null; e.scrollIntoView();"
            " const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
            % json.dumps(selector)
        )
        if not box:
            raise BrowserError(f"no element matches {selector!r}\nconsole:\n" + self.console_text())
        x, y = box
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})

    def set_viewport(self, width: int, height: int, mobile: bool = False, scale: float = 1.0) -> None:
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": scale, "mobile": mobile},
        )

    def screenshot(self, path: str | Path, full_page: bool = True) -> Path:
        """A PNG of the page (the whole page when full_page) written to path."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
        data = self.send("Page.captureScreenshot", params)["data"]
        path = Path(path)
        path.write_bytes(base64.b64decode(data))
        return path

    def console_text(self) -> str:
        return "\n".join(self.console[-200:]) or "(nothing)"


class Browser:
    """A headless Chromium process with its own profile directory; close() (or the with block) ends it.

    extra_args are added to the command line, e.g. "--host-resolver-rules=MAP api.netpie.io 127.0.46.1" or
    "--ignore-certificate-errors" for a test CA."""

    def __init__(self, extra_args: list[str] | None = None):
        exe = chromium_path()
        if not exe:
            pytest.skip("chromium is not installed (deploy/install-deps.sh --test installs Debian's chromium)")
        self.profile = tempfile.mkdtemp(prefix="itest-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        args = [
            exe,
            "--headless=new",
            "--no-sandbox",  # tests run as root in CI; the sandbox refuses root
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-extensions",
            "--remote-debugging-pipe",
            f"--user-data-dir={self.profile}",
            *(extra_args or []),
            "about:blank",
        ]
        # The pipe protocol reads commands on fd 3 and writes replies on fd 4 of the browser. Both ends are first
        # copied above 10 so that placing one cannot overwrite the other; 3 and 4 are in pass_fds so that
        # subprocess's closing of other descriptors (after this function) keeps them.
        def child_fds() -> None:
            harness.die_with_parent()
            high_r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
            high_w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            pass_fds=(3, 4, to_browser_r, from_browser_w),
            preexec_fn=child_fds,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._next_id = 0
        self._lock = threading.Lock()
        self._replies: dict[int, queue.Queue] = {}
        self._waiters: list[tuple[str, str | None, queue.Queue]] = []
        self._pages: dict[str, Page] = {}
        self._stderr: list[str] = []
        self._closed = False
        threading.Thread(target=self._read_loop, daemon=True).start()
        threading.Thread(target=self._stderr_loop, daemon=True).start()
        self.send("Target.setDiscoverTargets", {"discover": True}, timeout=30.0)

    # --- protocol -------------------------------------------------------------------------------------------
    def send(self, method: str, params: dict | None = None, session_id: str | None = None,
             timeout: float = 30.0) -> dict:
        with self._lock:
            self._next_id += 1
            msg_id = self._next_id
            box: queue.Queue = queue.Queue(1)
            self._replies[msg_id] = box
        message: dict[str, Any] = {"id": msg_id, "method": method, "params": params or {}}
        if session_id:
            message["sessionId"] = session_id
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        try:
            reply = box.get(timeout=timeout)
        except queue.Empty:
            raise BrowserError(f"chromium did not answer {method} within {timeout} s; stderr:\n" + self.stderr_text())
        finally:
            with self._lock:
                self._replies.pop(msg_id, None)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def expect_event(self, method: str, session_id: str | None = None) -> queue.Queue:
        """Registers interest in an event before the command that causes it; pass the result to wait_event."""
        box: queue.Queue = queue.Queue()
        with self._lock:
            self._waiters.append((method, session_id, box))
        return box

    def wait_event(self, box: queue.Queue, timeout: float, what: str) -> dict:
        try:
            return box.get(timeout=timeout)
        except queue.Empty:
            raise BrowserError(f"timed out after {timeout} s waiting for {what}")
        finally:
            with self._lock:
                self._waiters = [w for w in self._waiters if w[2] is not box]

    def _read_loop(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = os.read(self._from_browser, 1 << 16)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                self._dispatch(json.loads(raw))

    def _dispatch(self, message: dict) -> None:
        if "id" in message:
            with self._lock:
                box = self._replies.get(message["id"])
            if box is not None:
                box.put(message)
            return
        method = message.get("method", "")
        session_id = message.get("sessionId")
        params = message.get("params", {})
        if method == "Runtime.consoleAPICalled" and session_id:
            page = self._pages.get(session_id)
            if page is not None:
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
                page.console.append(f"console.{params.get('type')}: {text}")
        elif method == "Runtime.exceptionThrown" and session_id:
            page = self._pages.get(session_id)
            if page is not None:
                details = params.get("exceptionDetails", {})
                page.console.append(
                    "uncaught: " + (details.get("exception", {}).get("description") or details.get("text", ""))
                )
        with self._lock:
            waiters = [w for w in self._waiters if w[0] == method and (w[1] is None or w[1] == session_id)]
        for _, _, box in waiters:
            box.put(params)

    def _stderr_loop(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._stderr.append(line.decode(errors="replace").rstrip())
            del self._stderr[:-200]

    def stderr_text(self) -> str:
        return "\n".join(self._stderr[-50:]) or "(nothing)"

    # --- pages ------------------------------------------------------------------------------------------------
    def new_page(self, width: int = 1280, height: int = 900) -> Page:
        target_id = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session_id = self.send("Target.attachToTarget", {"targetId": target_id, "flatten": True})["sessionId"]
        page = Page(self, target_id, session_id)
        self._pages[session_id] = page
        page.send("Page.enable")
        page.send("Runtime.enable")
        page.set_viewport(width, height)
        return page

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            os.write(self._to_browser, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
