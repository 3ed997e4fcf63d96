"""Setting netpie-edge up: the state directory (lock, modes, warning), --check-config on the files a config names,
the command-line flags, `cmake --install` with the man page, and deploy/install-deps.sh leaving brokers alone."""
from __future__ import annotations

import os
import re
import stat
import subprocess
import urllib.request
from pathlib import Path

import pytest

import harness
from peers import MosquittoSub, mosquitto_pub

pytestmark = pytest.mark.netpie_only

ROOT = harness.HERE.parent.parent
MAKE_CA = ROOT / "tests" / "tls" / "make-test-ca.sh"
INSTALL_DEPS = ROOT / "deploy" / "install-deps.sh"
# Every flag --help must list (and the man page too).
FLAGS = ["-h", "--help", "-c", "--config", "--check-config", "-p", "--port", "--bind", "--state-dir", "-v",
         "--verbose", "--log-level", "--hash-password", "--version"]


def run(args, timeout=30, cwd=None, input=None):
    return subprocess.run([harness.netpie_edge_bin(), *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, input=input)


class Daemon:
    """netpie-edge started with a raw command line (no harness config), its log in a file; stop() requires exit 0."""

    def __init__(self, args: list[str], cwd: Path):
        self.log_path = cwd / f"daemon-{len(list(cwd.glob('daemon-*.log')))}.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([harness.netpie_edge_bin(), *args], cwd=cwd, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=self._log, preexec_fn=harness.die_with_parent)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_log(self, pattern: str, timeout: float = 15) -> re.Match:
        rx = re.compile(pattern, re.M)

        def found():
            if self.proc.poll() is not None:
                raise AssertionError(f"netpie-edge exited with {self.proc.returncode}\n{self.log()}")
            return rx.search(self.log())
        return harness.wait_for(found, timeout, f"log line /{pattern}/")

    def stop(self) -> None:
        rc = harness.terminate(self.proc)
        self._log.close()
        assert rc == 0, f"exit code {rc}\n{self.log()}"


@pytest.fixture
def daemons():
    made: list[Daemon] = []

    def make(args, cwd) -> Daemon:
        d = Daemon(args, cwd)
        made.append(d)
        return d
    yield make
    for d in made:
        if d.proc.poll() is None:
            harness.terminate(d.proc)
        d._log.close()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def round_trip(endpoint, topic: str) -> None:
    with MosquittoSub(endpoint, topic, qos=1) as sub:
        mosquitto_pub(endpoint, topic, "ok", qos=1)
        sub.wait_message(lambda m: m.text == "ok")


# -- the state directory --------------------------------------------------------------------------------------------
def test_second_daemon_on_the_same_state_dir_exits_1(broker_factory):
    b = broker_factory()
    state = b.dir / "state"
    second = run(["-p", "0", "--state-dir", str(state)], timeout=30)
    assert second.returncode == 1, f"rc {second.returncode}\n{second.stderr}"
    assert f"state directory {state} is in use by process {b.proc.pid}" in second.stderr, second.stderr
    round_trip(b, "lock/t")  # the first daemon is unharmed
    b.stop()
    b.start()  # a clean exit releases the lock
    b.kill()
    b.start()  # so does SIGKILL (the kernel drops a flock with its process)
    round_trip(b, "lock/t")


def test_state_dir_and_files_are_private(broker_factory):
    """Even under umask 022, the directory is 0700 and everything in it (database, -wal, -shm, lock) 0600."""
    old = os.umask(0o022)
    try:
        b = broker_factory(sys_interval=1)
    finally:
        os.umask(old)
    mosquitto_pub(b, "private/t", "retained", qos=1, retain=True)
    state = b.dir / "state"
    harness.wait_for(lambda: (state / "netpie-edge.db-wal").exists() and (state / "netpie-edge.db-shm").exists(),
                     10, "the WAL and shared-memory files")
    assert mode(state) == 0o700, oct(mode(state))
    files = {p.name: mode(p) for p in state.iterdir()}
    assert {"netpie-edge.db", "netpie-edge.db-wal", "netpie-edge.db-shm", "netpie-edge.lock"} <= set(files), files
    assert all(m == 0o600 for m in files.values()), {n: oct(m) for n, m in files.items()}
    assert "open to group or others" not in b.log_text()


def test_existing_state_dir_open_to_others_is_warned_about(broker_factory):
    b = broker_factory(start=False)
    state = b.dir / "state"
    state.mkdir()
    state.chmod(0o755)
    b.start()
    b.wait_log(rf"^\S+Z WARN +app: state directory {re.escape(str(state))} is open to group or others "
               r"\(mode 0755\).*chmod 700")


# -- --check-config on the files a config names -------------------------------------------------------------------
@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("certs")
    subprocess.run(["sh", str(MAKE_CA), str(d)], check=True, timeout=60, capture_output=True)
    return d


def tls_config(tmp_path: Path, ca: Path, cert: Path, key: Path) -> Path:
    f = tmp_path / "tls.yaml"
    f.write_text(f"state_dir: {tmp_path / 'state'}\n"   # line 1
                 "uplinks:\n"                            # 2
                 "  - name: cloud\n"                     # 3
                 "    host: 127.0.0.1\n"                 # 4
                 "    tls:\n"                            # 5
                 f"      ca_file: {ca}\n"                # 6
                 f"      cert_file: {cert}\n"            # 7
                 f"      key_file: {key}\n")             # 8
    return f


@pytest.mark.parametrize("case,line,key,message", [
    ("missing ca", 6, "ca_file", "cannot read: No such file or directory"),
    ("garbage ca", 6, "ca_file", "not a PEM certificate"),
    ("missing cert", 7, "cert_file", "cannot read: No such file or directory"),
    ("garbage cert", 7, "cert_file", "not a PEM certificate"),
    ("garbage key", 8, "key_file", "not a PEM private key"),
    ("mismatched key", 8, "key_file", "is not the key of tls.cert_file"),
])
def test_check_config_names_a_bad_tls_file(tmp_path, certs, case, line, key, message):
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("hello, not PEM\n")
    files = {"ca_file": certs / "ca.crt", "cert_file": certs / "client.crt", "key_file": certs / "client.key"}
    bad = {"missing": tmp_path / "nope.pem", "garbage": garbage}.get(case.split()[0])
    if case == "mismatched key":
        bad = certs / "server.key"
    files[key] = bad
    f = tls_config(tmp_path, files["ca_file"], files["cert_file"], files["key_file"])
    p = run(["--check-config", "-c", str(f)])
    assert p.returncode == 1, f"rc {p.returncode}: {p.stdout}{p.stderr}"
    rx = rf"^{re.escape(str(f))}:{line}:\d+: uplinks\[0\]\.tls\.{key}: {re.escape(str(bad))}: .*{re.escape(message)}"
    assert re.search(rx, p.stderr, re.M), f"expected /{rx}/ in:\n{p.stderr}"


def test_check_config_accepts_good_tls_files(tmp_path, certs):
    f = tls_config(tmp_path, certs / "ca.crt", certs / "client.crt", certs / "client.key")
    p = run(["--check-config", "-c", str(f)])
    assert p.returncode == 0, p.stderr
    assert not (tmp_path / "state").exists(), "--check-config created the state directory"


def test_check_config_names_unusable_state_and_ports_directories(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    f = tmp_path / "c.yaml"
    f.write_text(f"log: {{level: info}}\nstate_dir: {blocker / 'state'}\n")
    p = run(["--check-config", "-c", str(f)])
    assert p.returncode == 1, p.stdout + p.stderr
    assert re.search(rf"^{re.escape(str(f))}:2:\d+: state_dir: .*{re.escape(str(blocker))} is not a directory",
                     p.stderr, re.M), p.stderr
    # The ports file's directory must exist (the daemon writes the file, not the directory).
    f.write_text(f"ports_file: {tmp_path / 'no-such-dir' / 'ports'}\n")
    p = run(["--check-config", "-c", str(f)])
    assert p.returncode == 1, p.stdout + p.stderr
    assert re.search(rf"^{re.escape(str(f))}:1:\d+: ports_file: {re.escape(str(tmp_path / 'no-such-dir'))}: no such "
                     "directory", p.stderr, re.M), p.stderr
    # The same through --state-dir, for the embedded default.
    p = run(["--check-config", "--state-dir", str(blocker / "x")])
    assert p.returncode == 1 and "<embedded default>: state_dir: " in p.stderr, p.stderr


# -- the command line ---------------------------------------------------------------------------------------------
def test_help_lists_every_flag_and_says_there_is_no_daemon_mode():
    p = run(["--help"])
    assert p.returncode == 0, p.stderr
    listed = set(re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", p.stdout))
    assert set(FLAGS) <= listed, f"missing from --help: {set(FLAGS) - listed}\n{p.stdout}"
    assert "no -d/--daemon" in p.stdout and "systemd" in p.stdout, p.stdout
    d = run(["-d"])
    assert d.returncode > 100 and "-d" in d.stderr, f"-d: rc {d.returncode}: {d.stderr}"  # CLI11's exit codes


def test_embedded_default_on_port_0_with_verbose(tmp_path, daemons):
    """The embedded default, its state directory reported as an absolute path, -p 0 and -v."""
    d = daemons(["-p", "0", "-v"], tmp_path)
    port = int(d.wait_log(r"INFO +net: listening mqtt on 127\.0\.0\.1:(\d+)$").group(1))
    d.wait_log(rf"started \(config: <embedded default>, state directory: {re.escape(str(tmp_path))}/netpie-edge-state,"
               r" log level: debug\)")
    round_trip(harness.Endpoint("127.0.0.1", port), "default/t")
    # -p 0 puts the embedded default's HTTP listener (/healthz, /metrics, the status page) on a free port too.
    http = int(d.wait_log(r"INFO +net: listening http on 127\.0\.0\.1:(\d+)$").group(1))
    assert http not in (0, 8080)
    with urllib.request.urlopen(f"http://127.0.0.1:{http}/healthz", timeout=10) as r:
        assert r.status == 200 and r.read() == b"ok\n"
    d.wait_log(r" DEBUG ")
    d.stop()
    assert mode(tmp_path / "netpie-edge-state") == 0o700


def test_bind_and_relative_state_dir_flags(tmp_path, daemons):
    d = daemons(["--port", "0", "--bind", "::1", "--state-dir", "rel/state"], tmp_path)
    port = int(d.wait_log(r"listening mqtt on ::1:(\d+)$").group(1))
    d.wait_log(r"listening http on ::1:(\d+)$")  # --bind is for both listeners of the embedded default
    d.wait_log(rf"state directory: {re.escape(str(tmp_path))}/rel/state, log level: info\)")
    round_trip(harness.Endpoint("::1", port), "bind/t")
    d.stop()
    assert " DEBUG " not in d.log()
    assert (tmp_path / "rel" / "state" / "netpie-edge.db").exists()


def test_log_level_flag_overrides_the_file(broker_factory, tmp_path, daemons):
    b = broker_factory(start=False, log_level="info")
    b.write_config()
    quiet = daemons(["-c", str(b.config_path), "--log-level", "error"], b.dir)
    harness.wait_for(b.ports_file.exists, 15, "the ports file")
    host, port = harness.parse_ports_file(b.ports_file.read_text())["mqtt"]
    round_trip(harness.Endpoint(host, port), "quiet/t")
    quiet.stop()
    assert not re.search(r" (INFO|DEBUG|TRACE) ", quiet.log()), quiet.log()
    b.log_level = "error"
    b.write_config()
    loud = daemons(["-c", str(b.config_path), "--log-level", "debug"], b.dir)
    loud.wait_log(r"log level: debug\)")
    loud.stop()


def test_port_and_bind_are_for_the_embedded_default_only(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("log: {level: info}\n")
    for extra in (["-p", "0"], ["--bind", "::1"]):
        p = run(["-c", str(f), *extra])
        assert p.returncode != 0 and "excludes" in p.stderr, p.stderr
    p = run(["--bind", "localhost", "--check-config"])
    assert p.returncode != 0 and "numeric IPv4 or IPv6" in p.stderr, p.stderr
    p = run(["-v", "--log-level", "info", "--check-config"])
    assert p.returncode != 0 and "excludes" in p.stderr, p.stderr


# -- cmake --install and the man page -----------------------------------------------------------------------------
def test_cmake_install_puts_binary_man_page_and_example_config(tmp_path):
    build = Path(harness.netpie_edge_bin()).resolve().parents[1]
    if not (build / "cmake_install.cmake").exists():
        pytest.skip(f"{build} is not a CMake build tree")
    prefix = tmp_path / "prefix"
    p = subprocess.run(["cmake", "--install", str(build), "--prefix", str(prefix)], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    binary = prefix / "bin" / "netpie-edge"
    page = prefix / "share" / "man" / "man8" / "netpie-edge.8"
    example = prefix / "share" / "doc" / "netpie-edge" / "examples" / "netpie-edge.yaml"
    for f in (binary, page, example):
        assert f.is_file(), f"{f} not installed:\n{p.stdout}"
    assert os.access(binary, os.X_OK)
    assert example.read_bytes() == (ROOT / "conf" / "netpie-edge.yaml").read_bytes()
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
    man = subprocess.run(["man", "--warnings", "-l", str(page)], capture_output=True, text=True, env=env, timeout=60)
    assert man.returncode == 0 and man.stderr == "", f"rc {man.returncode}, warnings:\n{man.stderr}"
    text = " ".join(man.stdout.replace("\u2010", "-").replace("\u2212", "-").split())
    missing = [f for f in FLAGS if not re.search(rf"(?<![\w-]){re.escape(f)}(?![\w-])", text)]
    assert not missing, f"missing from the man page: {missing}\n{text}"
    assert "no -d/--daemon" in text, text
    c = subprocess.run([str(binary), "--check-config", "-c", str(example)], capture_output=True, text=True,
                       cwd=tmp_path, timeout=30)
    assert c.returncode == 0, c.stderr


# -- deploy/install-deps.sh ---------------------------------------------------------------------------------------
def package_state() -> str:
    """Every Debian package with its version and status, and the npm install stamp."""
    dpkg = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version} ${Status}\n"], capture_output=True,
                          text=True, timeout=60, check=True).stdout
    stamp = harness.HERE / "node_modules" / ".install-deps.sha256"
    lock = harness.HERE / "node_modules" / ".package-lock.json"
    npm = [p.read_text() if p.exists() else "(none)" for p in (stamp, lock)]
    return dpkg + "\n".join(npm)


def test_install_deps_leaves_a_running_mosquitto_alone(tmp_path):
    """A Mosquitto of the machine's own (here one this test starts as a plain process on a free port) survives
    install-deps.sh, and running it twice changes nothing. It runs only where everything is installed already
    (CI runs it first): installing npm packages replaces node_modules under the integration tests running in
    parallel."""
    if os.geteuid() != 0:
        pytest.skip("install-deps.sh installs packages: needs root")
    if subprocess.run(["sh", "-c", "command -v apt-get && command -v dpkg-query"], capture_output=True).returncode:
        pytest.skip("no apt-get/dpkg-query: not a Debian system")
    check = subprocess.run(["bash", str(INSTALL_DEPS), "--check", "--test"], capture_output=True, text=True,
                           timeout=120)
    if check.returncode != 0:
        pytest.skip(f"dependencies are missing (run deploy/install-deps.sh --test first): {check.stdout.strip()}")
    port = harness.free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\n"
                    "user root\n")
    log = open(tmp_path / "mosquitto.log", "wb")
    mosq = subprocess.Popen(["/usr/sbin/mosquitto", "-c", str(conf)], stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL, preexec_fn=harness.die_with_parent)
    try:
        endpoint = harness.Endpoint("127.0.0.1", port, kind="mosquitto")
        harness.wait_for(endpoint.connect_probe, 10, "mosquitto listening")
        before = package_state()
        for _ in range(2):
            p = subprocess.run(["bash", str(INSTALL_DEPS), "--test"], capture_output=True, text=True, timeout=300)
            assert p.returncode == 0, p.stdout + p.stderr
            assert p.stdout.strip().splitlines()[-1] == "install-deps: nothing to install", p.stdout
            assert mosq.poll() is None, f"install-deps.sh ended mosquitto ({mosq.returncode})\n{p.stdout}"
        assert package_state() == before, "a run with nothing to install changed the installed packages"
        round_trip(endpoint, "survivor/t")
    finally:
        harness.terminate(mosq)
        log.close()
    # Nothing in the script stops or kills a process, on any path (the run above took only the no-op one).
    text = INSTALL_DEPS.read_text()
    assert not re.search(r"\b(pkill|killall|kill|systemctl +(stop|disable|mask))\b", text), "install-deps.sh kills"
