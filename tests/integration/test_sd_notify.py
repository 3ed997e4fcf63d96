"""The daemon run the way systemd runs a Type=notify service with WatchdogSec= (deploy/debian/netpie-edge.service):
the test binds the $NOTIFY_SOCKET datagram socket itself, sets $WATCHDOG_USEC, and reads what the daemon reports
(sd_notify(3)): READY=1 only once every listener is bound (a connection made right after it must succeed),
WATCHDOG=1 keep-alives that stop while the process is stopped and resume after, STATUS= lines that follow the
connection count, STOPPING=1 on SIGTERM. Also the journal priority prefix ("<6>" for info, sd-daemon(3)) when
$JOURNAL_STREAM names the daemon's stderr."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import harness
import rawmqtt

pytestmark = pytest.mark.netpie_only

WATCHDOG_USEC = 400_000  # keep-alives every 200 ms
EVENT_TIMEOUT = 30.0     # a bound for events the daemon must produce; generous for a loaded machine


class Manager:
    """The service manager's side: a bound AF_UNIX SOCK_DGRAM socket and the daemon started with it."""

    def __init__(self, workdir: Path, abstract: bool):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            self.name = f"@netpie-edge-itest-{os.getpid()}-{id(self)}"
            self.sock.bind("\0" + self.name[1:])
        else:
            # sun_path holds 108 bytes: a short directory, not pytest's deep tmp_path.
            self._dir = tempfile.mkdtemp(prefix="gw-notify-")
            self.name = os.path.join(self._dir, "notify")
            self.sock.bind(self.name)
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None
        self.log_path = workdir / "stderr.log"

    def start(self, extra_env: dict | None = None, stderr=None) -> None:
        ports = self.workdir / "ports"
        state = self.workdir / "state"
        config = self.workdir / "netpie-edge.yaml"
        config.write_text(harness.to_yaml({
            "log": {"level": "info"},
            "state_dir": str(state),
            "ports_file": str(ports),
            "listeners": [
                {"name": "mqtt-a", "bind": harness.HOST, "port": 0},
                {"name": "mqtt-b", "bind": harness.HOST, "port": 0},
            ],
        }))
        self.ports_path = ports
        env = dict(os.environ, NOTIFY_SOCKET=self.name, WATCHDOG_USEC=str(WATCHDOG_USEC))
        env.update(extra_env or {})
        log = stderr if stderr is not None else open(self.log_path, "ab")
        self.proc = subprocess.Popen([harness.netpie_edge_bin(), "--config", str(config)], stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=log, env=env, start_new_session=True,
                                     preexec_fn=harness.die_with_parent)

    def receive_until(self, pred, what: str, timeout: float = EVENT_TIMEOUT) -> tuple[str, list[str]]:
        """Reads notifications until one satisfies pred; returns it and the ones before it."""
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while True:
            left = deadline - time.monotonic()
            self.sock.settimeout(max(left, 0.001))
            try:
                msg = self.sock.recv(4096).decode()
            except socket.timeout:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {seen[-5:]}\n"
                                     f"{self.log_tail()}") from None
            if pred(msg):
                return msg, seen
            seen.append(msg)

    def drain(self) -> list[str]:
        self.sock.setblocking(False)
        out = []
        try:
            while True:
                out.append(self.sock.recv(4096).decode())
        except BlockingIOError:
            pass
        finally:
            self.sock.setblocking(True)
        return out

    def log_tail(self) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-30:])
        except OSError:
            return ""

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            harness.terminate(self.proc)
        self.sock.close()
        if not self.name.startswith("@"):
            os.unlink(self.name)
            os.rmdir(os.path.dirname(self.name))


def fields(msg: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in msg.split("\n") if "=" in line)


def process_state(pid: int) -> str:
    # /proc/<pid>/stat: "pid (comm) state ..."; comm may hold spaces, so split after the last ')'.
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


@pytest.fixture(params=["path", "abstract"])
def manager(request, tmp_path):
    m = Manager(tmp_path, abstract=request.param == "abstract")
    yield m
    m.close()


def test_ready_after_listeners_watchdog_status_stopping(manager):
    manager.start()
    ready, before = manager.receive_until(lambda m: fields(m).get("READY") == "1", "READY=1")
    assert before == [], f"notifications before READY=1: {before}"
    # READY=1 promises bound listeners: both accept a connection right now, without any retry.
    lines = manager.ports_path.read_text().split("\n")
    ports = {name: int(port) for name, _host, port in (l.split() for l in lines if l)}
    assert set(ports) == {"mqtt-a", "mqtt-b"}
    for port in ports.values():
        socket.create_connection((harness.HOST, port), timeout=5).close()
    assert fields(ready)["STATUS"].startswith("0 connections"), ready

    # Keep-alives keep coming from the running loop.
    for _ in range(3):
        manager.receive_until(lambda m: m == "WATCHDOG=1", "WATCHDOG=1")

    # STATUS follows the connection count.
    client = rawmqtt.RawClient((harness.HOST, ports["mqtt-a"]))
    client.connect("sd-notify-status")
    status, _ = manager.receive_until(lambda m: fields(m).get("STATUS", "").startswith("1 connections"),
                                      "STATUS=1 connections")
    assert "outbox backlog 0 messages" in status, status
    client.close()
    manager.receive_until(lambda m: fields(m).get("STATUS", "").startswith("0 connections"), "STATUS=0 connections")

    manager.proc.send_signal(signal.SIGTERM)
    stopping, _ = manager.receive_until(lambda m: fields(m).get("STOPPING") == "1", "STOPPING=1")
    assert "SIGTERM" in fields(stopping)["STATUS"], stopping
    assert manager.proc.wait(EVENT_TIMEOUT) == 0, manager.log_tail()
    # Nothing after STOPPING=1: the watchdog timer was closed with it.
    assert [m for m in manager.drain() if m == "WATCHDOG=1"] == []


def test_keepalives_stop_while_the_process_is_stopped(manager):
    manager.start()
    manager.receive_until(lambda m: fields(m).get("READY") == "1", "READY=1")
    manager.receive_until(lambda m: m == "WATCHDOG=1", "first WATCHDOG=1")
    pid = manager.proc.pid
    os.kill(pid, signal.SIGSTOP)
    harness.wait_for(lambda: process_state(pid) == "T", EVENT_TIMEOUT, "the daemon to be stopped")
    manager.drain()  # whatever was sent before the stop took effect
    # Five keep-alive periods of silence: a stopped loop sends nothing, which is what lets systemd's
    # WatchdogSec= restart a hung daemon. (A stopped process cannot send, so this cannot pass by chance.)
    manager.sock.settimeout(5 * WATCHDOG_USEC / 2 / 1e6)
    with pytest.raises(socket.timeout):
        got = manager.sock.recv(4096)
        pytest.fail(f"notification from a stopped daemon: {got!r}")
    os.kill(pid, signal.SIGCONT)
    manager.receive_until(lambda m: m == "WATCHDOG=1", "WATCHDOG=1 after SIGCONT")
    assert harness.terminate(manager.proc) == 0, manager.log_tail()


def test_no_watchdog_when_meant_for_another_pid(manager):
    # systemd sets WATCHDOG_PID to the main process; a child that inherits the variables must not answer.
    manager.start(extra_env={"WATCHDOG_PID": "1"})
    manager.receive_until(lambda m: fields(m).get("READY") == "1", "READY=1")
    client_port = int(manager.ports_path.read_text().split("\n")[0].split()[2])
    client = rawmqtt.RawClient((harness.HOST, client_port))
    client.connect("sd-notify-no-watchdog")
    # Wait on an event (the STATUS for this connection, sent at most a second later) and check that no
    # keep-alive came before it: at one per 200 ms there would have been several.
    _, before = manager.receive_until(lambda m: fields(m).get("STATUS", "").startswith("1 connections"),
                                      "STATUS=1 connections")
    assert "WATCHDOG=1" not in before, before
    client.close()
    assert harness.terminate(manager.proc) == 0, manager.log_tail()


def test_journal_priority_prefix(tmp_path):
    m = Manager(tmp_path, abstract=True)
    try:
        log_path = tmp_path / "journal-stream.log"
        with open(log_path, "ab") as log:
            st = os.fstat(log.fileno())
            m.start(extra_env={"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}, stderr=log)
            m.receive_until(lambda msg: fields(msg).get("READY") == "1", "READY=1")
            assert harness.terminate(m.proc) == 0
        lines = log_path.read_text().splitlines()
        assert lines, "no log lines"
        assert all(l[:3] in ("<3>", "<4>", "<6>", "<7>") for l in lines), lines
        assert any(l.startswith("<6>") and "INFO " in l for l in lines), lines
    finally:
        m.close()
