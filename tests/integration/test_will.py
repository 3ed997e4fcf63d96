"""Last will (MQTT 3.1.1 §3.1.2.5, 5.0 §3.1.3.2): published when the client vanishes, not after a clean DISCONNECT.

The client is a paho-mqtt process (clients/will_client.py) killed with SIGKILL, so the broker sees the TCP
connection drop without a DISCONNECT. Absence of a will is checked by publishing a live END marker on the will
topic after the client is gone, from a fresh connection (several round trips later than the DISCONNECT).
"""
import json
import signal
import subprocess

import pytest

from harness import PYTHON, HERE
from peers import VERSIONS, MosquittoSub, mosquitto_pub

CLIENT = HERE / "clients" / "will_client.py"


class WillClient:
    def __init__(self, broker, **args):
        args = {"host": broker.host, "port": broker.port, "will_qos": 1, **args}
        self.proc = subprocess.Popen([PYTHON, str(CLIENT), json.dumps(args)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self._readline()
        assert line == "CONNECTED", f"will client did not connect: {line!r} {self.stderr()}"

    def _readline(self) -> str:
        # The child prints within its own 10 s CONNACK deadline, or exits; either way readline returns.
        return self.proc.stdout.readline().strip()

    def stderr(self) -> str:
        if self.proc.poll() is None:
            return ""
        return self.proc.stderr.read()

    def command(self, cmd: str) -> None:
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        assert self._readline() == "DONE", self.stderr()
        assert self.proc.wait(10) == 0

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.mark.parametrize("version", VERSIONS)
def test_will_published_after_sigkill(broker, version):
    topic = f"will/{version}/dev1"
    with MosquittoSub(broker, "will/#", qos=1) as sub:
        c = WillClient(broker, version=version, client_id=f"willk-{version}", will_topic=topic,
                       will_payload="gone-" + version)
        try:
            c.kill9()
            msg = sub.wait_message(lambda m: m.topic == topic, timeout=10, what="the last will")
        finally:
            c.close()
        assert msg.text == "gone-" + version
        assert msg.qos == 1 and not msg.retain
        # exactly once
        mosquitto_pub(broker, topic, "END", qos=1)
        assert [m.text for m in sub.wait_topic_payload(topic, b"END")] == ["gone-" + version]


@pytest.mark.parametrize("version", VERSIONS)
def test_no_will_after_clean_disconnect(broker, version):
    topic = f"will/{version}/clean"
    with MosquittoSub(broker, topic, qos=1) as sub:
        c = WillClient(broker, version=version, client_id=f"willc-{version}", will_topic=topic,
                       will_payload="should-not-appear")
        try:
            c.command("disconnect")
        finally:
            c.close()
        mosquitto_pub(broker, topic, "END", qos=1)
        assert sub.wait_topic_payload(topic, b"END") == [], "a will was published after a clean DISCONNECT"


def test_v5_disconnect_with_will_message_publishes_will(broker):
    """MQTT 5.0 §3.14.2.1: reason 0x04 'Disconnect with Will Message' asks the server to publish the will."""
    topic = "will/v5/explicit"
    with MosquittoSub(broker, topic, qos=1) as sub:
        c = WillClient(broker, version="mqttv5", client_id="willx", will_topic=topic, will_payload="asked-for")
        try:
            c.command("disconnect-with-will")
        finally:
            c.close()
        msg = sub.wait_message(lambda m: m.topic == topic, what="the will after DISCONNECT 0x04")
        assert msg.text == "asked-for"


def test_retained_will(broker):
    topic = "will/retained/dev"
    c = WillClient(broker, version="mqttv311", client_id="willr", will_topic=topic, will_payload="offline",
                   will_retain=True)
    with MosquittoSub(broker, topic, qos=1) as sub:
        try:
            c.kill9()
        finally:
            c.close()
        sub.wait_message(lambda m: m.text == "offline", what="the will")
    # A subscriber arriving later gets it as a retained message.
    with MosquittoSub(broker, topic, qos=1) as late:
        msg = late.wait_message(lambda m: m.text == "offline", what="the retained will")
        assert msg.retain


def test_v5_will_delay(broker):
    """5.0 §3.1.3.2.2: the will waits Will Delay Interval seconds after the connection is lost."""
    import time
    topic = "will/v5/delayed"
    with MosquittoSub(broker, topic, qos=1) as sub:
        c = WillClient(broker, version="mqttv5", client_id="willd", will_topic=topic, will_payload="late",
                       will_delay=2, session_expiry=60)
        try:
            t0 = time.monotonic()
            c.kill9()
            sub.wait_message(lambda m: m.text == "late", timeout=8, what="the delayed will")
            elapsed = time.monotonic() - t0
        finally:
            c.close()
        assert elapsed >= 1.9, f"the will came {elapsed:.2f}s after the loss, before its 2 s delay"
        assert elapsed <= 4.5, f"the will came {elapsed:.2f}s after the loss, long after its 2 s delay"


def test_v5_will_delay_cancelled_by_reconnect(broker):
    topic = "will/v5/cancelled"
    with MosquittoSub(broker, topic, qos=1) as sub:
        c = WillClient(broker, version="mqttv5", client_id="willc5", will_topic=topic, will_payload="nope",
                       will_delay=3, session_expiry=60)
        c.kill9()
        c.close()
        # Back within the delay (same client id, session resumed): the will is not sent.
        c2 = WillClient(broker, version="mqttv5", client_id="willc5", will_topic="will/v5/other",
                        will_payload="x", session_expiry=60, clean_start=False)
        try:
            import time
            time.sleep(3.5)  # the will delay itself must pass for the absence to mean anything
            mosquitto_pub(broker, topic, "END", qos=1)
            assert sub.wait_topic_payload(topic, b"END") == []
        finally:
            c2.command("disconnect")
            c2.close()
