"""Integration-test harness: starts the real broker process on a temporary config and stops it checking its exit.

A test asks for a broker with options (limits, auth, sys_interval, ...); the harness writes the config into a
temporary directory (port 0, state_dir and ports_file inside it), starts the daemon, waits for the ports file and
exposes host/port. Stopping sends SIGTERM and requires exit code 0 and no sanitizer report in the log.
ITEST_BROKER=mosquitto runs the same test against Debian's mosquitto (same options, translated), which proves a
test right before our broker passes it. Nothing here sleeps a fixed time: every wait polls a condition with a
deadline.
"""
from __future__ import annotations

import ctypes
import os
import re
import resource
import signal
import socket
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
PYTHON = "/usr/bin/python3"  # Debian's, which has paho-mqtt; the first python3 on PATH may not.
HOST = "127.0.0.1"

START_TIMEOUT = 15.0
STOP_TIMEOUT = float(os.environ.get("ITEST_STOP_TIMEOUT", "10"))

SANITIZER_PATTERNS = re.compile(
    r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|ThreadSanitizer|"
    r"SUMMARY: UndefinedBehaviorSanitizer|terminate called|Segmentation fault"
)


_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """preexec_fn: the broker gets SIGKILL if the test process dies (a killed ctest run leaves no daemon behind)."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def broker_kind() -> str:
    kind = os.environ.get("ITEST_BROKER", "netpie-edge")
    if kind not in ("netpie-edge", "mosquitto"):
        raise RuntimeError(f"ITEST_BROKER must be netpie-edge or mosquitto, not {kind!r}")
    return kind


def netpie_edge_bin() -> str:
    path = os.environ.get("NETPIE_EDGE_BIN", "")
    if not path:
        raise RuntimeError(
            "NETPIE_EDGE_BIN is not set: run through ctest (it passes $<TARGET_FILE:netpie-edge>) or export it"
        )
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"NETPIE_EDGE_BIN={path} is not an executable file (is netpie-edge built?)")
    return path


def wait_for(cond: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> Any:
    """Polls cond() until it returns a truthy value (returned) or the deadline passes (AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


def vm_rss_kib(pid: int) -> int:
    """A process's resident memory (VmRSS of /proc/<pid>/status), in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS line for pid {pid}")


def sanitized(pid: int) -> bool:
    """Whether the process runs under AddressSanitizer (the asan preset): freed memory then sits in ASan's
    quarantine and shadow memory grows with the heap, so its VmRSS says nothing about what the daemon keeps."""
    with open(f"/proc/{pid}/maps") as f:
        return "libasan" in f.read()


def raise_nofile(limit: int = 8192) -> None:
    """Raises this process's soft RLIMIT_NOFILE (children inherit it) up to the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def terminate(proc: subprocess.Popen, timeout: float | None = None) -> int:
    """SIGTERM and wait; SIGKILL if it does not exit in time (then returns -9). Never leaves the process behind."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(STOP_TIMEOUT if timeout is None else timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        return -signal.SIGKILL


def free_port() -> int:
    """A port that was free a moment ago (only for mosquitto, which cannot report a port-0 bind)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_in_use(host: str, port: int) -> str:
    """"" if a listener could bind host:port now; else who holds it, e.g. "mosquitto (pid 812) on 0.0.0.0:1883"
    (from `ss`), for a skip message. A system broker on 0.0.0.0:1883 blocks 127.0.x.y:1883; Debian's default
    mosquitto (127.0.0.1 and ::1 only) does not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as libuv binds: TIME_WAIT does not count
        try:
            s.bind((host, port))
            return ""
        except OSError:
            pass
    try:
        out = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    holders = []
    for line in out.splitlines():
        fields = line.split()
        local = fields[3] if len(fields) > 3 else "?"
        for name, pid in re.findall(r'\("([^"]+)",pid=(\d+)', line):
            holders.append(f"{name} (pid {pid}) on {local}")
    return ", ".join(holders) or f"another process ({host}:{port} cannot be bound)"


def to_yaml(value: Any, indent: int = 0) -> str:
    """A small block-style YAML emitter for the harness's config dicts (keys are plain identifiers)."""
    pad = "  " * indent
    if isinstance(value, dict):
        lines = []
        for k, v in value.items():
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{k}:\n{to_yaml(v, indent + 1)}")
            else:
                lines.append(f"{pad}{k}: {_yaml_scalar(v)}")
        return "\n".join(lines)
    if isinstance(value, list):
        lines = []
        for item in value:
            if isinstance(item, dict):
                body = to_yaml(item, indent + 1).lstrip()
                lines.append(f"{pad}- {body}")
            else:
                lines.append(f"{pad}- {_yaml_scalar(item)}")
        return "\n".join(lines)
    return pad + _yaml_scalar(value)


def _yaml_scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if v is None:
        return "null"
    if isinstance(v, (dict, list)):
        return "{}" if isinstance(v, dict) else "[]"
    s = str(v)
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Endpoint:
    """An address to point clients at (a second listener, or a daemon the harness did not start)."""

    def __init__(self, host: str, port: int, kind: str = "netpie-edge"):
        self.host, self.port, self.kind = host, port, kind

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def connect_probe(self) -> bool:
        try:
            with socket.create_connection(self.address, timeout=0.5):
                return True
        except OSError:
            return False


class Broker:
    """One broker process under test. Subclasses know how to configure and start a particular broker."""

    kind = "?"

    def __init__(self, workdir: Path, name: str = "broker", log_level: str = "info", sys_interval: int = 10,
                 limits: dict | None = None, auth: dict | None = None, extra: dict | None = None):
        self.dir = workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.log_level = log_level
        self.sys_interval = sys_interval
        self.limits = dict(limits or {})
        # auth: {"anonymous": "loopback"|"allow"|"deny", "users": [{"username": u, "password": plain}]}
        self.auth = dict(auth or {})
        self.extra = dict(extra or {})
        self.log_path = self.dir / "stderr.log"
        self.proc: subprocess.Popen | None = None
        self.host = HOST
        self.port = 0
        self.exit_codes: list[int] = []
        self._log_file = None

    # -- lifecycle -------------------------------------------------------------------------------------------------
    def command(self) -> list[str]:
        raise NotImplementedError

    def write_config(self) -> None:
        raise NotImplementedError

    def wait_ready(self) -> None:
        raise NotImplementedError

    def start(self) -> "Broker":
        """Starts the broker. A restart (after stop() or kill()) binds the port of the previous run again, with the
        same state_dir, so clients reconnect to the same address and persistent state can be checked."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.write_config()
        self._log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=self._log_file,
                                     stderr=self._log_file, cwd=self.dir, start_new_session=True,
                                     preexec_fn=die_with_parent)
        try:
            self.wait_ready()
        except BaseException:
            self.kill()
            raise
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, check: bool = True) -> int:
        """SIGTERM, wait for exit; with check, require exit code 0 and no sanitizer report in the log."""
        if self.proc is None:
            return 0
        rc = self.proc.poll()
        if rc is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                self._close_log()
                self.proc = None
                raise AssertionError(f"{self.kind} did not exit within {STOP_TIMEOUT}s of SIGTERM\n{self.log_tail()}")
        self._close_log()
        self.proc = None
        self.exit_codes.append(rc)
        if check:
            self.check_exit(rc)
        return rc

    def check_exit(self, rc: int) -> None:
        assert rc == 0, f"{self.kind} exited with {rc} (negative = killed by signal), expected 0\n{self.log_tail()}"
        report = self.sanitizer_report()
        assert not report, f"{self.kind} log has a crash or sanitizer report: {report}\n{self.log_tail()}"

    def kill(self) -> None:
        """SIGKILL, as a power cut would: no clean shutdown."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait(10)
            self.proc = None
        self._close_log()

    def restart(self) -> "Broker":
        self.stop()
        return self.start()

    def signal(self, sig: int) -> None:
        assert self.alive(), "broker is not running"
        self.proc.send_signal(sig)

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    # -- log -------------------------------------------------------------------------------------------------------
    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 150) -> str:
        text = self.log_text().splitlines()
        head = f"----- {self.kind} {self.name} log ({self.log_path}), last {min(lines, len(text))} lines -----"
        return "\n".join([head, *text[-lines:], "-----"])

    def sanitizer_report(self) -> str:
        m = SANITIZER_PATTERNS.search(self.log_text())
        return m.group(0) if m else ""

    def wait_log(self, pattern: str, timeout: float = 10.0) -> re.Match:
        rx = re.compile(pattern, re.M)
        return wait_for(lambda: rx.search(self.log_text()), timeout, f"log line /{pattern}/ from {self.kind}")

    # -- helpers ---------------------------------------------------------------------------------------------------
    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def connect_probe(self) -> bool:
        try:
            with socket.create_connection(self.address, timeout=0.5):
                return True
        except OSError:
            return False


class NetpieEdge(Broker):
    kind = "netpie-edge"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.binary = netpie_edge_bin()
        self.config_path = self.dir / "netpie-edge.yaml"
        self.ports_file = self.dir / "ports"
        self.ports: dict[str, tuple[str, int]] = {}

    def config_dict(self) -> dict:
        cfg: dict[str, Any] = {
            "log": {"level": self.log_level},
            "state_dir": str(self.dir / "state"),
            "ports_file": str(self.ports_file),
            "sys_interval": self.sys_interval,
            "listeners": [{"name": "mqtt", "protocol": "mqtt", "bind": HOST, "port": self.port or 0}],
        }
        if self.limits:
            cfg["limits"] = dict(self.limits)
        if self.auth:
            auth: dict[str, Any] = {}
            if "anonymous" in self.auth:
                auth["anonymous"] = self.auth["anonymous"]
            if self.auth.get("users"):
                auth["users"] = [{"username": u["username"], "password_hash": hash_password(u["password"])}
                                 for u in self.auth["users"]]
            cfg["auth"] = auth
        cfg.update(self.extra)
        return cfg

    def write_config(self) -> None:
        self.config_path.write_text(to_yaml(self.config_dict()) + "\n")

    def query_state(self, sql: str) -> list[tuple]:
        """Rows of a query on the daemon's SQLite file, opened read-only (safe beside the running daemon)."""
        db = sqlite3.connect(f"file:{self.dir / 'state' / 'netpie-edge.db'}?mode=ro", uri=True, timeout=5)
        try:
            return db.execute(sql).fetchall()
        finally:
            db.close()

    def outbox_rows(self) -> int:
        return self.query_state("SELECT count(*) FROM outbox")[0][0]

    def command(self) -> list[str]:
        return [self.binary, "-c", str(self.config_path)]

    def start(self) -> "Broker":
        # A stale ports file from a previous run must not be mistaken for this run's.
        self.ports_file.unlink(missing_ok=True)
        return super().start()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"netpie-edge exited with {self.proc.returncode} before writing its ports "
                                     f"file\n{self.log_tail()}")
            if self.ports_file.exists():
                self.ports = parse_ports_file(self.ports_file.read_text())
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"netpie-edge wrote no ports file {self.ports_file} within "
                                     f"{START_TIMEOUT}s\n{self.log_tail()}")
            time.sleep(0.02)
        assert "mqtt" in self.ports, f"ports file has no 'mqtt' listener: {self.ports}"
        self.host, self.port = self.ports["mqtt"]
        assert self.port != 0, "ports file reports port 0"


def parse_ports_file(text: str) -> dict[str, tuple[str, int]]:
    ports = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split()
        assert len(parts) == 3, f"ports file line is not '<name> <host> <port>': {line!r}"
        ports[parts[0]] = (parts[1], int(parts[2]))
    return ports


class Mosquitto(Broker):
    kind = "mosquitto"

    def write_config(self) -> None:
        if not self.port:
            self.port = free_port()
        lim = self.limits
        lines = [
            f"listener {self.port} {HOST}",
            "persistence false",
            # As root, mosquitto would switch to its own user, which cannot read the test's private temp dir.
            *(["user root"] if os.geteuid() == 0 else []),
            "log_dest stderr",
            "log_type error", "log_type warning", "log_type notice", "log_type information",
            "connection_messages true",
            f"sys_interval {self.sys_interval}",
            f"max_topic_alias {lim.get('topic_alias_maximum', 16)}",
        ]
        if "max_connections" in lim:
            lines.append(f"max_connections {lim['max_connections']}")
        if "max_packet_size" in lim:
            lines.append(f"max_packet_size {lim['max_packet_size']}")
        if lim.get("max_keepalive"):
            lines.append(f"max_keepalive {lim['max_keepalive']}")
        if "max_queued_messages" in lim:
            lines.append(f"max_queued_messages {lim['max_queued_messages']}")
        if "max_queued_bytes" in lim:
            lines.append(f"max_queued_bytes {lim['max_queued_bytes']}")
        if "max_inflight" in lim:
            lines.append(f"max_inflight_messages {lim['max_inflight']}")
        anonymous = self.auth.get("anonymous", "loopback")
        lines.append(f"allow_anonymous {'false' if anonymous == 'deny' else 'true'}")
        users = self.auth.get("users") or []
        if users:
            pw = self.dir / "passwd"
            pw.write_text("")
            for u in users:
                subprocess.run(["mosquitto_passwd", "-b", str(pw), u["username"], u["password"]],
                               check=True, timeout=30, capture_output=True)
            lines.append(f"password_file {pw}")
        (self.dir / "mosquitto.conf").write_text("\n".join(lines) + "\n")

    def command(self) -> list[str]:
        return ["mosquitto", "-c", str(self.dir / "mosquitto.conf")]

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not self.connect_probe():
            if self.proc.poll() is not None:
                raise AssertionError(f"mosquitto exited with {self.proc.returncode}\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"mosquitto not listening within {START_TIMEOUT}s\n{self.log_tail()}")
            time.sleep(0.02)


class PersistentMosquitto(Mosquitto):
    """mosquitto as a cloud for uplink tests: persistence on in its own directory, so a subscriber's persistent
    session and its queue survive a restart (SIGTERM saves them), and room for `max_queued` messages per client."""

    max_queued = 100_000

    def write_config(self) -> None:
        super().write_config()
        conf = self.dir / "mosquitto.conf"
        lines = [ln for ln in conf.read_text().splitlines()
                 if not ln.startswith(("persistence ", "max_queued_messages "))]
        lines += ["persistence true", f"persistence_location {self.dir}/", f"max_queued_messages {self.max_queued}"]
        conf.write_text("\n".join(lines) + "\n")


_hash_cache: dict[str, str] = {}


def hash_password(password: str) -> str:
    """A password hash for auth.users, made by the daemon itself (`netpie-edge --hash-password`)."""
    if password not in _hash_cache:
        r = subprocess.run([netpie_edge_bin(), "--hash-password"], input=password + "\n", capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, f"--hash-password exited {r.returncode}: {r.stderr}"
        out = r.stdout.strip()
        assert out.startswith("pbkdf2-sha256$"), f"--hash-password printed {out!r}"
        _hash_cache[password] = out
    return _hash_cache[password]


def make_broker(workdir: Path, **options) -> Broker:
    cls = Mosquitto if broker_kind() == "mosquitto" else NetpieEdge
    return cls(workdir, **options)
