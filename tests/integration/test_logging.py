"""What the daemon logs about its clients, where, and how much (conf/README.md, log.*).

1. At info: one line per connect (client id, user, protocol version, address, clean/persistent), one per
   disconnect with its reason (client DISCONNECT, connection lost, keepalive timeout, protocol error with the
   reason code's name, takeover, server shutdown, slow consumer) and one per refused CONNECT (client id, user,
   reason).
2. At trace: one line per packet in and out (type, packet id, QoS, topic, size) and never a payload or password.
3. log.output file: lines go to the file, not stderr; SIGHUP reopens it (a rotated file is replaced).
4. log.max_lines_per_second: a connect storm writes at most the burst plus the rate, then one
   "suppressed N lines" line once it is over.
(syslog output: the machines running this suite have no syslog daemon; the level -> priority mapping is unit-tested
in base_log_test.)
"""
from __future__ import annotations

import re
import signal
import socket
import time

import pytest

import harness
import rawmqtt as r
from peers import mosquitto_pub, paho_connect

pytestmark = pytest.mark.netpie_only

LINE = re.compile(r"^\S+Z (TRACE|DEBUG|INFO |WARN |ERROR) \w+: ", re.M)


@pytest.mark.broker(auth={"anonymous": "loopback", "users": [{"username": "alice", "password": "alice-pw"}]})
def test_info_lines_for_connects_disconnects_with_reasons_and_refusals(broker):
    b = broker
    # Connect and a client DISCONNECT, with a user name and a persistent session.
    mosquitto_pub(b, "t", "x", client_id="pub-1", username="alice", password="alice-pw", extra=["-c"], qos=1)
    b.wait_log(r'INFO  broker: client "pub-1" connected from 127\.0\.0\.1:\d+: user alice, MQTT 3\.1\.1, '
               r"persistent session \(new\), keepalive 60$")
    b.wait_log(r'INFO  broker: client "pub-1" disconnected from 127\.0\.0\.1:\d+ \(user alice\): client DISCONNECT$')
    # MQTT 5, anonymous, clean.
    mosquitto_pub(b, "t", "x", client_id="pub-5", version="mqttv5")
    b.wait_log(r'client "pub-5" connected from \S+: user -, MQTT 5, clean session \(new\)')

    # Refused: a wrong password.
    paho_connect(b, client_id="intruder", username="alice", password="wrong", expect_rc=4)
    b.wait_log(r'INFO  broker: refused CONNECT from 127\.0\.0\.1:\d+: client "intruder", user alice: '
               r"bad user name or password \(Bad User Name or Password, 0x86\)$")

    # The socket closed without a DISCONNECT.
    with r.RawClient(b.address) as c:
        c.connect("vanisher")
    b.wait_log(r'client "vanisher" disconnected from \S+ \(user -\): connection lost$')

    # Keepalive: 1 s asked, nothing sent; the broker closes it after 1.5 s (MQTT 3.1.1 §3.1.2.10).
    with r.RawClient(b.address) as c:
        c.connect("sleeper", keepalive=1)
        c.read_until_closed(timeout=10)
    b.wait_log(r'client "sleeper" disconnected from \S+ \(user -\): keepalive timeout$')

    # A protocol error: a second CONNECT on a connection (MQTT 3.1.1 §3.1.0-2).
    with r.RawClient(b.address) as c:
        c.connect("twice")
        c.send(r.connect("twice"))
        c.read_until_closed(timeout=10)
    b.wait_log(r'client "twice" disconnected from \S+ \(user -\): protocol error Protocol Error \(0x82\): '
               r"second CONNECT$")

    # Takeover: the same client id connects again.
    with r.RawClient(b.address) as first, r.RawClient(b.address) as second:
        first.connect("dup-id")
        second.connect("dup-id")
        first.read_until_closed(timeout=10)
    b.wait_log(r'client "dup-id" disconnected from \S+ \(user -\): takeover')

    # Server shutdown: a client still connected when SIGTERM comes.
    c = r.RawClient(b.address)
    c.connect("to-the-end")
    b.stop()
    c.close()
    assert re.search(r'client "to-the-end" disconnected from \S+ \(user -\): server shutdown$', b.log_text(), re.M), \
        b.log_tail()


@pytest.mark.broker(limits={"slow_consumer_policy": "disconnect", "write_high_watermark": "4KiB"})
def test_a_slow_consumer_disconnect_is_logged_with_its_reason(broker):
    with r.RawClient(broker.address) as sub, r.RawClient(broker.address) as pub:
        sub.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sub.connect("sloth")
        sub.send(r.subscribe(1, [("flood/#", 0)]))
        sub.expect(r.SUBACK)
        pub.connect("flooder")
        # The subscriber never reads again: once the kernel buffers are full, the gateway's output buffer for it
        # passes the 4 KiB watermark and the policy closes it. Publish until the log says so.
        line = re.compile(r'client "sloth" disconnected from \S+ \(user -\): closed by the gateway '
                          r"\(Implementation specific error, 0x83\): slow consumer$", re.M)
        payload = b"x" * 65536
        deadline = time.monotonic() + 60
        while not line.search(broker.log_text()):
            assert time.monotonic() < deadline, f"no slow consumer line after 60 s of flooding\n{broker.log_tail()}"
            for _ in range(16):
                pub.send(r.publish("flood/x", payload))
            pub.send(r.pingreq())
            pub.expect(r.PINGRESP)  # the gateway has handled the batch before the log is read again


@pytest.mark.broker(log_level="trace", auth={"anonymous": "loopback",
                                             "users": [{"username": "alice", "password": "hunter2-secret"}]})
def test_trace_logs_packets_without_payloads_or_passwords(broker):
    mosquitto_pub(broker, "trace/topic", "SECRET-PAYLOAD-42", qos=1, client_id="tracer", username="alice",
                  password="hunter2-secret")
    broker.wait_log(r'client "tracer" disconnected')
    text = broker.log_text()
    assert re.search(r'TRACE broker: in client "" \(127\.0\.0\.1:\d+\): CONNECT, \d+ bytes$', text, re.M), text
    assert re.search(r'TRACE broker: out client "tracer" \(\S+\): CONNACK, 4 bytes$', text, re.M), text
    m = re.search(r'TRACE broker: in client "tracer" \(\S+\): PUBLISH id (\d+) qos 1 topic "trace/topic", '
                  r"(\d+) bytes$", text, re.M)
    assert m, text
    # 2 (fixed header) + 2 + 11 (topic) + 2 (packet id) + 17 (payload)
    assert int(m.group(2)) == 2 + 2 + len("trace/topic") + 2 + len("SECRET-PAYLOAD-42")
    assert re.search(rf'TRACE broker: out client "tracer" \(\S+\): PUBACK id {m.group(1)}, 4 bytes$', text, re.M)
    assert re.search(r'TRACE broker: in client "tracer" \(\S+\): DISCONNECT, 2 bytes$', text, re.M)
    assert "SECRET-PAYLOAD-42" not in text
    assert "hunter2" not in text


def test_file_output_and_reopen_on_sighup(broker_factory, tmp_path):
    log_file = tmp_path / "edge.log"
    b = broker_factory(extra={"log": {"level": "info", "output": "file", "file": str(log_file)}})
    mosquitto_pub(b, "t", "x", client_id="to-the-file")
    harness.wait_for(lambda: log_file.exists() and 'client "to-the-file" disconnected' in log_file.read_text(), 10,
                     "the disconnect line in the log file")
    text = log_file.read_text()
    assert re.search(r"^\S+Z INFO  net: listening mqtt on 127\.0\.0\.1:\d+$", text, re.M), text
    assert 'client "to-the-file" connected from' in text
    assert "to-the-file" not in b.log_text(), "stderr gets nothing once the file is the output"

    # Rotation: the file is moved away; SIGHUP makes the daemon open a new one at the configured path.
    rotated = tmp_path / "edge.log.1"
    log_file.rename(rotated)
    b.signal(signal.SIGHUP)
    harness.wait_for(lambda: log_file.exists() and "SIGHUP: reloaded" in log_file.read_text(), 10,
                     "the reload line in a new log file")
    mosquitto_pub(b, "t", "x", client_id="after-rotation")
    harness.wait_for(lambda: 'client "after-rotation" disconnected' in log_file.read_text(), 10,
                     "a line in the new file")
    assert "after-rotation" not in rotated.read_text()


def test_a_connect_storm_is_cut_to_the_rate_limit_and_summarised(broker_factory):
    burst, rate, clients = 10, 2, 150
    started = time.monotonic()
    b = broker_factory(extra={"log": {"level": "info", "max_lines_per_second": rate, "burst": burst}})
    for i in range(clients):
        with r.RawClient(b.address) as c:
            c.connect(f"storm-{i}")
            c.send(r.disconnect())
            c.read_until_closed(timeout=10)
    m = b.wait_log(r"WARN  log: suppressed (\d+) lines \(over log\.max_lines_per_second\)$", timeout=15)
    elapsed = time.monotonic() - started
    text = b.log_text()
    summaries = [int(x) for x in re.findall(r"WARN  log: suppressed (\d+) lines", text)]
    written = [ln for ln in LINE.findall(text)]
    other = len(written) - len(summaries)
    # The bucket: the burst at once, then `rate` lines a second over the daemon's whole life so far.
    bound = burst + rate * elapsed + 1
    assert other <= bound, f"{other} lines written in {elapsed:.1f}s, over the bound {bound:.0f}\n{b.log_tail()}"
    # Every connect and disconnect line of the storm was either written or counted.
    storm_lines = len(re.findall(r'client "storm-\d+" (connected|disconnected)', text))
    assert storm_lines + sum(summaries) >= 2 * clients, (storm_lines, summaries)
    assert int(m.group(1)) > 0
