"""Real MQTT clients we did not write, driven from tests: mosquitto_pub/mosquitto_sub, paho-mqtt, MQTT.js.

Every call has a timeout. MosquittoSub runs mosquitto_sub in the background with -d, so the test can wait for its
SUBACK before publishing (no sleeps), and prints each message as one tab-separated line with the payload in hex.
"""
from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness import HERE, PYTHON, Broker

VERSIONS = ["mqttv31", "mqttv311", "mqttv5"]
RUN_TIMEOUT = 20.0

# mosquitto_sub -F: MSG, topic, qos, retain flag, payload hex, v5 user properties, v5 message expiry.
_SUB_FORMAT = r"MSG\t%t\t%q\t%r\t%x\t%P\t%E"


@dataclass
class Msg:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    user_properties: str = ""
    expiry: str = ""

    @property
    def text(self) -> str:
        return self.payload.decode("utf-8", errors="replace")


def _parse_msg(line: str) -> Msg:
    parts = line.split("\t")
    assert len(parts) == 7 and parts[0] == "MSG", f"unexpected mosquitto_sub line {line!r}"
    return Msg(topic=parts[1], qos=int(parts[2]), retain=parts[3] == "1", payload=bytes.fromhex(parts[4]),
               user_properties=parts[5], expiry=parts[6])


class MosquittoSub:
    """mosquitto_sub in the background. Use as a context manager, or call close()."""

    def __init__(self, broker: Broker, topics: list[str] | str, version: str = "mqttv311", qos: int = 0,
                 client_id: str | None = None, clean: bool = True, session_expiry: int | None = None,
                 count: int | None = None, extra: list[str] | None = None, username: str | None = None,
                 password: str | None = None, wait: bool = True, timeout: float = 10.0):
        topics = [topics] if isinstance(topics, str) else topics
        cmd = ["stdbuf", "-oL", "mosquitto_sub", "-h", broker.host, "-p", str(broker.port), "-V", version, "-q", str(qos), "-d",
               "-F", _SUB_FORMAT]
        for t in topics:
            cmd += ["-t", t]
        if client_id:
            cmd += ["-i", client_id]
        if not clean:
            cmd += ["-c"]
        if session_expiry is not None:
            cmd += ["-x", str(session_expiry)]
        if count is not None:
            cmd += ["-C", str(count)]
        if username is not None:
            cmd += ["-u", username]
        if password is not None:
            cmd += ["-P", password]
        cmd += extra or []
        self.cmd = cmd
        self.messages: list[Msg] = []
        self.debug: list[str] = []
        self._lock = threading.RLock()
        self._suback = threading.Event()
        self._connack = threading.Event()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     text=True, errors="replace")
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if wait:
            self.wait_subscribed(timeout)

    def _read(self) -> None:
        for raw in self.proc.stdout:
            line = raw.rstrip("\n")
            with self._lock:
                if line.startswith("MSG\t"):
                    self.messages.append(_parse_msg(line))
                else:
                    self.debug.append(line)
                    if "received SUBACK" in line:
                        self._suback.set()
                    if "received CONNACK" in line:
                        self._connack.set()

    def wait_subscribed(self, timeout: float = 10.0) -> None:
        if not self._suback.wait(timeout):
            self.close()
            raise AssertionError(f"mosquitto_sub got no SUBACK within {timeout}s: {self.cmd}\n" + self.transcript())

    def wait_count(self, n: int, timeout: float = 10.0) -> list[Msg]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages) >= n:
                    return list(self.messages)
            if self.proc.poll() is not None:
                self._reader.join(2)
                with self._lock:
                    if len(self.messages) >= n:
                        return list(self.messages)
                break
            time.sleep(0.01)
        raise AssertionError(f"expected >= {n} messages, got {len(self.messages)} within {timeout}s\n"
                             + self.transcript())

    def wait_message(self, pred, timeout: float = 10.0, what: str = "a message") -> Msg:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for m in self.messages:
                    if pred(m):
                        return m
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.01)
        raise AssertionError(f"no {what} within {timeout}s\n" + self.transcript())

    def wait_topic_payload(self, topic: str, payload: bytes, timeout: float = 10.0) -> list[Msg]:
        """Waits for a given (topic, payload) and returns every message received before it (it excluded)."""
        self.wait_message(lambda m: m.topic == topic and m.payload == payload, timeout, f"{topic} {payload!r}")
        with self._lock:
            out = []
            for m in self.messages:
                if m.topic == topic and m.payload == payload:
                    return out
                out.append(m)
        return out

    def snapshot(self) -> list[Msg]:
        with self._lock:
            return list(self.messages)

    def wait_exit(self, timeout: float = 10.0) -> int:
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.close()
            raise AssertionError(f"mosquitto_sub did not exit within {timeout}s\n" + self.transcript())
        self._reader.join(5)
        return rc

    def transcript(self) -> str:
        with self._lock:
            lines = list(self.debug[-40:]) + [f"MSG {m}" for m in self.messages[-40:]]
        return f"mosquitto_sub {' '.join(self.cmd)}:\n  " + "\n  ".join(lines)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._reader.join(5)

    def __enter__(self) -> "MosquittoSub":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def mosquitto_pub(broker: Broker, topic: str, message: bytes | str | None = None, version: str = "mqttv311",
                  qos: int = 0, retain: bool = False, lines: list[str] | None = None, null: bool = False,
                  props: list[tuple[str, ...]] | None = None, client_id: str | None = None,
                  username: str | None = None, password: str | None = None, extra: list[str] | None = None,
                  check: bool = True, timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess:
    """One mosquitto_pub run: -m message, -n (null), or -l with `lines` on stdin (one message per line)."""
    cmd = ["mosquitto_pub", "-h", broker.host, "-p", str(broker.port), "-V", version, "-q", str(qos), "-t", topic]
    stdin = None
    if lines is not None:
        cmd += ["-l"]
        stdin = ("\n".join(lines) + "\n").encode()
    elif null:
        cmd += ["-n"]
    elif message is not None:
        if isinstance(message, bytes):
            cmd += ["-s"]
            stdin = message
        else:
            cmd += ["-m", message]
    else:
        cmd += ["-n"]
    if retain:
        cmd += ["-r"]
    if client_id:
        cmd += ["-i", client_id]
    if username is not None:
        cmd += ["-u", username]
    if password is not None:
        cmd += ["-P", password]
    for p in props or []:
        cmd += ["-D", *p]
    cmd += extra or []
    r = subprocess.run(cmd, input=stdin if stdin is not None else b"", capture_output=True, timeout=timeout)
    if check:
        assert r.returncode == 0, (f"mosquitto_pub exited {r.returncode}: {cmd}\nstdout: {r.stdout!r}\n"
                                   f"stderr: {r.stderr!r}")
    return r


# -- paho-mqtt (in this process: the tests run under /usr/bin/python3) ---------------------------------------------
import paho.mqtt.client as paho  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402

PAHO_VERSIONS = {"mqttv31": paho.MQTTv31, "mqttv311": paho.MQTTv311, "mqttv5": paho.MQTTv5}


@dataclass
class PahoMsg:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    properties: object = None


@dataclass
class PahoClient:
    """A paho client with its network loop in a thread; records messages, CONNACK and disconnects."""

    client: paho.Client
    version: str
    messages: list = field(default_factory=list)
    connack: object = None
    connack_properties: object = None
    session_present: bool | None = None
    disconnects: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_count(self, n: int, timeout: float = 10.0) -> list[PahoMsg]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= n:
                    return list(self.messages)
            time.sleep(0.01)
        raise AssertionError(f"paho: expected >= {n} messages, got {len(self.messages)}: {self.messages}")

    def subscribe(self, topic: str, qos: int = 0, timeout: float = 10.0, **kw) -> None:
        done = threading.Event()
        result = {}

        def on_subscribe(client, userdata, mid, granted, *args):
            result["granted"] = granted
            done.set()

        self.client.on_subscribe = on_subscribe
        rc, _ = self.client.subscribe(topic, qos=qos, **kw)
        assert rc == paho.MQTT_ERR_SUCCESS, f"subscribe returned {rc}"
        assert done.wait(timeout), f"paho: no SUBACK for {topic} within {timeout}s"
        granted = result["granted"]
        first = granted[0]
        value = first.value if hasattr(first, "value") else first
        assert value in (0, 1, 2), f"subscription to {topic} refused: {granted}"

    def publish(self, topic: str, payload: bytes | str, qos: int = 0, retain: bool = False, properties=None,
                timeout: float = 10.0) -> None:
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        assert info.rc == paho.MQTT_ERR_SUCCESS, f"publish returned {info.rc}"
        info.wait_for_publish(timeout)
        assert info.is_published(), f"paho: publish to {topic!r} not completed within {timeout}s"

    def disconnect(self, reasoncode=None, timeout: float = 10.0) -> None:
        if self.version == "mqttv5":
            self.client.disconnect(reasoncode=reasoncode)
        else:
            self.client.disconnect()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.disconnects:
            time.sleep(0.01)
        self.client.loop_stop()

    def close(self) -> None:
        try:
            self.client.disconnect()
        except Exception:
            pass
        self.client.loop_stop()


def paho_connect(broker: Broker, version: str = "mqttv311", client_id: str = "", clean: bool = True,
                 session_expiry: int | None = None, will: tuple | None = None, username: str | None = None,
                 password: str | None = None, keepalive: int = 60, connect_properties: Properties | None = None,
                 expect_rc: int = 0, timeout: float = 10.0) -> PahoClient:
    """Connects and waits for CONNACK; asserts its return/reason code equals expect_rc."""
    proto = PAHO_VERSIONS[version]
    if proto == paho.MQTTv5:
        c = paho.Client(client_id=client_id, protocol=proto)
    else:
        c = paho.Client(client_id=client_id, clean_session=clean, protocol=proto)
    pc = PahoClient(client=c, version=version)
    got = threading.Event()

    def on_connect(client, userdata, flags, rc, properties=None):
        pc.connack = rc
        pc.connack_properties = properties
        pc.session_present = bool(flags.get("session present"))
        got.set()

    def on_message(client, userdata, msg):
        props = getattr(msg, "properties", None)
        with pc.lock:
            pc.messages.append(PahoMsg(msg.topic, msg.payload, msg.qos, bool(msg.retain), props))

    def on_disconnect(client, userdata, rc, properties=None):
        pc.disconnects.append(rc)
        got.set()

    c.on_connect = on_connect
    c.on_message = on_message
    c.on_disconnect = on_disconnect
    if will:
        topic, payload, qos, retain = (list(will) + [0, False])[:4]
        c.will_set(topic, payload, qos=qos, retain=retain)
    if username is not None:
        c.username_pw_set(username, password)
    kwargs = {}
    if proto == paho.MQTTv5:
        props = connect_properties or Properties(PacketTypes.CONNECT)
        if session_expiry is not None:
            props.SessionExpiryInterval = session_expiry
        kwargs = {"clean_start": clean, "properties": props}
    c.reconnect_delay_set(60, 120)  # a test sees a refused or dropped connection, not an automatic retry
    c.connect(broker.host, broker.port, keepalive=keepalive, **kwargs)
    c.loop_start()
    if not got.wait(timeout):
        c.loop_stop()
        raise AssertionError(f"paho {version}: no CONNACK within {timeout}s")
    rc = pc.connack
    value = rc.value if hasattr(rc, "value") else rc
    if value != expect_rc:
        c.loop_stop()
        raise AssertionError(f"paho {version}: CONNACK code {value} ({rc}), expected {expect_rc}")
    if expect_rc != 0:
        c.loop_stop()
    return pc


# -- node (MQTT.js) -----------------------------------------------------------------------------------------------
JS_DIR = HERE / "js"


def run_node(script: str, args: dict, timeout: float = 60.0, env: dict | None = None) -> dict:
    """Runs tests/integration/js/<script> with a JSON argument; the script prints one JSON result line last."""
    node_modules = HERE / "node_modules" / "mqtt"
    assert node_modules.exists(), ("MQTT.js is not installed: run deploy/install-deps.sh --test "
                                   "(npm ci in tests/integration)")
    full_env = dict(os.environ)
    full_env.update(env or {})
    try:
        r = subprocess.run(["node", str(JS_DIR / script), json.dumps(args)], capture_output=True, text=True,
                           timeout=timeout, cwd=HERE, env=full_env)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"node {script} did not finish within {timeout}s\nstdout: {e.stdout}\n"
                             f"stderr: {e.stderr}")
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    assert r.returncode == 0 and lines, (f"node {script} exited {r.returncode}\nstdout: {r.stdout[-3000:]}\n"
                                         f"stderr: {r.stderr[-3000:]}")
    return json.loads(lines[-1])


def python_script(path: Path, *args: str, **popen_kwargs) -> subprocess.Popen:
    """Starts a helper Python script (tests/integration/clients/...) under Debian's python3."""
    return subprocess.Popen([PYTHON, str(path), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **popen_kwargs)
