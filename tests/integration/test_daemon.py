"""The netpie-edge process itself: command line, config checking, ports file, log format, signals, restart."""
import re
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

import harness
import rawmqtt as r
from peers import MosquittoSub, mosquitto_pub

pytestmark = pytest.mark.netpie_only

LOG_LINE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z (TRACE|DEBUG|INFO|WARN|ERROR) +[a-z_.]+: \S")


def run(args, input=None, timeout=30, cwd=None):
    return subprocess.run([harness.netpie_edge_bin(), *args], input=input, capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


def test_version():
    p = run(["--version"])
    assert p.returncode == 0, p
    assert re.search(r"\d+\.\d+\.\d+", p.stdout + p.stderr), f"no version number in {p.stdout!r} {p.stderr!r}"


def test_check_config_accepts_a_good_file(tmp_path):
    f = tmp_path / "good.yaml"
    f.write_text("log: {level: debug}\n"
                 "listeners:\n  - {name: mqtt, protocol: mqtt, bind: 127.0.0.1, port: 0}\n"
                 "limits:\n  max_inflight: 10\n  queue_policy: drop_new\n"
                 "auth: {anonymous: deny}\n")
    p = run(["--check-config", "-c", str(f)])
    assert p.returncode == 0, f"rc {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}"


@pytest.mark.parametrize("text,line,key", [
    ("log: {level: info}\nlimits:\n  max_inflight: lots\n", 3, "limits.max_inflight"),
    ("limits:\n  max_inflight: 10\n  queue_policy: drop_everything\n", 3, "limits.queue_policy"),
    ("log:\n  level: loud\n", 2, "log.level"),
    ("sys_interval: -5\n", 1, "sys_interval"),
    ("auth:\n  anonymous: sometimes\n", 2, "auth.anonymous"),
])
def test_check_config_reports_file_line_and_key(tmp_path, text, line, key):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    p = run(["--check-config", "-c", str(f)])
    out = p.stdout + p.stderr
    assert p.returncode == 1, f"rc {p.returncode} for a bad config\n{out}"
    rx = re.compile(rf"^{re.escape(str(f))}:{line}:\d+: {re.escape(key)}: \S", re.M)
    assert rx.search(out), f"expected '{f}:{line}:<col>: {key}: <message>' in:\n{out}"


def test_check_config_yaml_syntax_error(tmp_path):
    f = tmp_path / "broken.yaml"
    f.write_text("log:\n  level: info\nlimits: [unclosed\n")
    p = run(["--check-config", "-c", str(f)])
    assert p.returncode == 1
    assert re.search(rf"^{re.escape(str(f))}:\d+:\d+: ", p.stdout + p.stderr, re.M), p.stdout + p.stderr


def test_check_config_missing_file(tmp_path):
    f = tmp_path / "does-not-exist.yaml"
    p = run(["--check-config", "-c", str(f)])
    assert p.returncode == 1
    assert str(f) in p.stdout + p.stderr


def test_bad_config_refuses_to_start(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("limits:\n  max_packet_size: big\n")
    p = run(["-c", str(f)], timeout=15)
    assert p.returncode != 0 and p.returncode > 0, f"rc {p.returncode}"
    assert f"{f}:2:" in p.stdout + p.stderr


def test_hash_password():
    p = run(["--hash-password"], input="correct horse\n")
    assert p.returncode == 0, p
    h = p.stdout.strip()
    assert re.fullmatch(r"pbkdf2-sha256\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+", h), h
    assert int(h.split("$")[1]) >= 10000, f"too few iterations: {h}"
    h2 = run(["--hash-password"], input="correct horse\n").stdout.strip()
    assert h2 != h, "two hashes of one password share their salt"


def test_ports_file_and_listening_log_line(broker):
    text = broker.ports_file.read_text()
    assert re.fullmatch(r"mqtt 127\.0\.0\.1 \d+\n", text), repr(text)
    assert not list(broker.ports_file.parent.glob("ports.*")), "temporary ports file left behind"
    broker.wait_log(rf"^\S+Z INFO +net: listening mqtt on 127\.0\.0\.1:{broker.port}$")
    for line in broker.log_text().splitlines():
        assert LOG_LINE.match(line), f"log line not in the documented format: {line!r}"


def test_two_listeners(broker_factory):
    b = broker_factory(extra={"listeners": [{"name": "mqtt", "protocol": "mqtt", "bind": "127.0.0.1", "port": 0},
                                            {"name": "mqtt2", "protocol": "mqtt", "bind": "127.0.0.1", "port": 0}]})
    assert set(b.ports) == {"mqtt", "mqtt2"} and b.ports["mqtt"] != b.ports["mqtt2"]
    with MosquittoSub(b, "two/t", qos=1) as sub:  # on the first listener
        other = harness.Endpoint(*b.ports["mqtt2"])
        mosquitto_pub(other, "two/t", "across listeners", qos=1)
        sub.wait_message(lambda m: m.text == "across listeners")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_clean_exit_on_signal_with_clients_connected(broker_factory, sig):
    b = broker_factory()
    with MosquittoSub(b, "sig/t", qos=1):
        with r.RawClient(b.address) as c:
            c.connect("sig-client", keepalive=60)
            b.signal(sig)
            assert c.read_until_closed(timeout=10) == []  # a 3.1.1 client: closed, no packet
    harness.wait_for(lambda: b.proc.poll() is not None, harness.STOP_TIMEOUT, f"exit after signal {sig}")
    assert b.proc.returncode == 0, b.log_tail()  # (the fixture's stop() also checks the log for sanitizers)


@pytest.mark.broker(log_level="error")
def test_sighup_reloads_log_level(broker):
    """Level error: no INFO lines. After SIGHUP with level debug in the file, the daemon keeps serving and logs
    below error again (at least one INFO or DEBUG line appears once a client connects)."""
    with r.RawClient(broker.address) as c:
        c.connect("quiet")
    assert not re.search(r" (INFO|DEBUG|TRACE) ", broker.log_text()), broker.log_tail()
    broker.log_level = "debug"
    broker.write_config()
    broker.signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not re.search(r" (INFO|DEBUG) ", broker.log_text()):
        with r.RawClient(broker.address) as c:  # activity for the daemon to log about
            c.connect("chatty")
        time.sleep(0.1)
    assert re.search(r" (INFO|DEBUG) ", broker.log_text()), "no INFO/DEBUG line after SIGHUP raised the level"
    assert broker.alive()


def test_sigkill_and_restart(broker):
    with MosquittoSub(broker, "restart/t", qos=1) as sub:
        mosquitto_pub(broker, "restart/t", "before", qos=1)
        sub.wait_message(lambda m: m.text == "before")
    broker.kill()
    broker.start()
    with MosquittoSub(broker, "restart/t", qos=1) as sub:
        mosquitto_pub(broker, "restart/t", "after", qos=1)
        sub.wait_message(lambda m: m.text == "after")


def test_port_in_use_fails_cleanly(broker_factory):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        b = broker_factory(start=False, extra={"listeners": [{"name": "mqtt", "protocol": "mqtt",
                                                              "bind": "127.0.0.1", "port": port}]})
        b.write_config()
        p = run(["-c", str(b.config_path)], timeout=15, cwd=b.dir)
        assert p.returncode > 0, f"rc {p.returncode}: {p.stderr}"
        assert str(port) in p.stderr, p.stderr
        assert not b.ports_file.exists(), "ports file written although a listener failed to bind"


def test_embedded_default_config(tmp_path):
    """Without -c the daemon runs the embedded default: MQTT on 127.0.0.1:1883, HTTP on 127.0.0.1:8080."""
    for port in (1883, 8080):
        holder = harness.port_in_use("127.0.0.1", port)
        if holder:  # e.g. Debian's mosquitto service, which deploy/install-deps.sh leaves running
            pytest.skip(f"127.0.0.1:{port} is taken by {holder}; test_setup.py runs the embedded default on -p 0")
    log = open(tmp_path / "stderr.log", "wb")
    proc = subprocess.Popen([harness.netpie_edge_bin()], cwd=tmp_path, stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL, preexec_fn=harness.die_with_parent)
    try:
        default = harness.Endpoint("127.0.0.1", 1883)
        harness.wait_for(default.connect_probe, 10, "the default listener on 127.0.0.1:1883")
        with MosquittoSub(default, "default/t", qos=1) as sub:
            mosquitto_pub(default, "default/t", "ok", qos=1)
            sub.wait_message(lambda m: m.text == "ok")
        with urllib.request.urlopen("http://127.0.0.1:8080/metrics", timeout=10) as r:
            assert r.status == 200 and b'netpie_edge_messages_received_total{protocol="mqtt",qos="1"} 1' in r.read()
    finally:
        rc = harness.terminate(proc)
        log.close()
    assert rc == 0, f"exit code {rc}\n" + (tmp_path / "stderr.log").read_text()


def test_ipv6_loopback_listener_and_anonymous(broker_factory):
    """A listener on ::1 is reported in the ports file, and anonymous: loopback accepts ::1 clients."""
    b = broker_factory(auth={"anonymous": "loopback"},
                       extra={"listeners": [{"name": "mqtt", "protocol": "mqtt", "bind": "::1", "port": 0}]})
    assert b.host == "::1", b.ports
    with MosquittoSub(b, "v6/t", qos=1) as sub:
        mosquitto_pub(b, "v6/t", "over ipv6", qos=1)
        sub.wait_message(lambda m: m.text == "over ipv6")
