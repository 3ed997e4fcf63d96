"""SIGHUP reloads what can change under connected clients (README.md "Reloading"), with real clients.

1. Users: a user added to the file can connect after SIGHUP; a client connected before stays connected and keeps
   receiving.
2. NETPIE keys (the official Node microgear, loopback block 127.0.31.x): a key removed from the file disconnects
   its microgear; a microgear of a key that remains keeps its connection and keeps working; a key disabled later
   disconnects its microgear too.
3. Relay rules: a changed up rule maps new messages to the new cloud topic, a changed down rule brings the new
   cloud filter down and no longer the old one, all on the same uplink connection (mosquitto as the cloud).
4. A listener change is logged as "takes effect after restart" and the old listener keeps serving.
5. A file that does not load keeps the running configuration and the log says why, with file:line:col.
"""
from __future__ import annotations

import re
import signal

import pytest

import harness
import netpie_peers as n
import rawmqtt as r
from peers import MosquittoSub, mosquitto_pub, paho_connect
from test_uplink_relay import clouds, uplink  # noqa: F401  (clouds is a fixture)

pytestmark = pytest.mark.netpie_only

RELOADED = r"app: SIGHUP: reloaded \S+: "


def reload(broker, pattern: str, timeout: float = 10.0) -> re.Match:
    """Rewrites the broker's config from its options (listener port 0, as it started), sends SIGHUP and waits for the reload's summary line
    (the n-th one for the n-th reload), which must match `pattern`."""
    before = broker.log_text().count("app: SIGHUP: ")
    # The harness writes the bound port once it knows it; the running listener was configured with port 0.
    bound, broker.port = broker.port, 0
    broker.write_config()
    broker.port = bound
    broker.signal(signal.SIGHUP)
    harness.wait_for(lambda: broker.log_text().count("app: SIGHUP: ") > before, timeout, "the reload's log line")
    m = re.search(RELOADED + pattern, broker.log_text())
    assert m, f"no reload line matching /{pattern}/\n{broker.log_tail()}"
    return m


def test_a_user_added_to_the_file_connects_after_sighup_and_existing_clients_stay(broker_factory):
    b = broker_factory(auth={"anonymous": "deny", "users": [{"username": "alice", "password": "alice-pw"}]})
    alice = paho_connect(b, client_id="alice-1", username="alice", password="alice-pw")
    try:
        alice.subscribe("news/#", qos=1)
        # Not yet known: CONNACK 4 (bad user name or password).
        paho_connect(b, client_id="bob-1", username="bob", password="bob-pw", expect_rc=4)
        b.wait_log(r'refused CONNECT from \S+: client "bob-1", user bob: bad user name or password')

        b.auth["users"].append({"username": "bob", "password": "bob-pw"})
        reload(b, r"auth \(")
        bob = paho_connect(b, client_id="bob-1", username="bob", password="bob-pw")
        bob.publish("news/today", "bob is in", qos=1)
        msgs = alice.wait_count(1)
        assert msgs[0].topic == "news/today" and msgs[0].payload == b"bob is in"
        assert alice.disconnects == [], f"alice was disconnected by the reload: {alice.disconnects}"
        assert not re.search(r'client "alice-1" disconnected', b.log_text()), b.log_tail()
        bob.close()
    finally:
        alice.close()


def test_removed_and_disabled_netpie_keys_disconnect_their_microgears_others_stay(broker_factory, agents,
                                                                                     tmp_path):
    addr = "127.0.31.1"
    gw = n.start_gateway(broker_factory, addr)
    gone = agents(addr, tmp_path / "gone.cache", alias="gone")
    token_gone = gone.wait_ev("connected")["token"]
    stays = agents(addr, tmp_path / "stays.cache", key=n.LIMITED_KEY, secret=n.LIMITED_SECRET, alias="stays")
    token_stays = stays.wait_ev("connected")["token"]
    stays.send(op="subscribe", topic="/allowed/t")
    stays.wait_ev("subscribed", topic="/allowed/t", ok=1)

    # KEY leaves the file; LIMITED_KEY stays.
    apps = n.default_apps()
    apps[0]["keys"] = [k for k in apps[0]["keys"] if k["key"] != n.KEY]
    gw.extra["netpie"]["apps"] = apps
    mark_stays = stays.mark()
    reload(gw, r"netpie apps and keys .*\(log level info, 1 microgear clients disconnected")
    gone.wait_ev("disconnected")
    gw.wait_log(rf'client "{token_gone}" disconnected from \S+ \(user {n.KEY}%\d+\): closed by the gateway '
                r"\(Not authorized, 0x87\): key removed from the configuration")
    # The other microgear still works on the same connection: it receives what it subscribed to.
    mosquitto_pub(gw, f"/{n.APPID}/allowed/t", "still here", qos=1)
    stays.wait_ev("message", msg="still here", since=mark_stays)
    assert not stays.of("disconnected", mark_stays), f"the remaining key's gear was dropped: {stays.events}"
    assert not re.search(rf'client "{token_stays}" disconnected', gw.log_text()), gw.log_tail()

    # Disabling a key ends its connections too (its tokens are kept for when it is enabled again).
    for k in apps[0]["keys"]:
        if k["key"] == n.LIMITED_KEY:
            k["enabled"] = False
    reload(gw, r"netpie apps and keys .*1 microgear clients disconnected")
    stays.wait_ev("disconnected", since=mark_stays)
    gw.wait_log(rf'client "{token_stays}" disconnected .*key disabled')


def test_changed_relay_rules_apply_on_the_same_uplink_connection(broker_factory, clouds):  # noqa: F811
    cloud = clouds("cloud")
    rules = {"up": [{"filter": "sensors/#", "prefix": "old/"}],
             "down": [{"filter": "cmd/a/#", "prefix": "local/"}]}
    edge = broker_factory(name="edge", extra={"uplinks": [uplink("c", cloud, **rules)]})
    edge.wait_log(r"uplink: c: online", timeout=10)
    mosquitto_pub(edge, "sensors/t", "before", qos=1)
    cloud.wait("old/sensors/t", b"before")

    with MosquittoSub(edge, "local/#", qos=1) as sub:
        # The old down rule works; wait for it so the subscription upstream is known to be in place.
        harness.wait_for(lambda: (cloud.publish("cmd/a/x", b"old rule"), sub.snapshot())[1], 10,
                         "a cloud message through the old down rule", interval=0.3)
        edge.extra["uplinks"] = [uplink("c", cloud, up=[{"filter": "sensors/#", "prefix": "new/"}],
                                        down=[{"filter": "cmd/b/#", "prefix": "local/"}])]
        reload(edge, r"outbox routes, relay rules of c ")
        edge.wait_log(r"uplink: c: relay rules reloaded, 1 up / 1 down rules")
        mosquitto_pub(edge, "sensors/t", "after", qos=1)
        cloud.wait("new/sensors/t", b"after")
        # The new filter comes down (retried until the SUBSCRIBE sent on reload is in place)...
        harness.wait_for(lambda: (cloud.publish("cmd/b/probe", b"probe"),
                                  [m for m in sub.snapshot() if m.topic == "local/cmd/b/probe"])[1], 10,
                         "a cloud message through the new down rule", interval=0.3)
        # ...and the old one no longer does: cmd/a goes out before cmd/b on the same cloud connection.
        cloud.publish("cmd/a/x", b"after the reload")
        cloud.publish("cmd/b/y", b"marker")
        sub.wait_topic_payload("local/cmd/b/y", b"marker")
        late = [m for m in sub.snapshot() if m.topic == "local/cmd/a/x" and m.payload == b"after the reload"]
        assert late == [], f"the removed down rule still brings messages down: {late}"
    assert edge.log_text().count("uplink: c: online") == 1, "the rules reload must not reconnect the uplink"
    assert not cloud.got("old/sensors/t")[1:], "the old up rule mapped a message after the reload"


def test_a_listener_change_takes_effect_after_restart(broker):
    with r.RawClient(broker.address) as c:
        c.connect("stays-connected", keepalive=60)
        broker.extra["listeners"] = [{"name": "mqtt", "protocol": "mqtt", "bind": harness.HOST, "port": 1}]
        broker.extra["sys_interval"] = 3
        reload(broker, r"no changes applied .*2 changes need a restart")
        text = broker.log_text()
        assert "WARN  app: SIGHUP: changed listeners: takes effect after restart" in text, text
        assert "WARN  app: SIGHUP: changed sys_interval: takes effect after restart" in text, text
        # The running listener still serves, and the connected client is still there.
        mosquitto_pub(broker, "still/serving", "yes", qos=1)
        c.send(r.pingreq())
        assert c.read_packet().type == 13, "PINGRESP on the connection from before the reload"


def test_a_broken_file_keeps_the_running_configuration(broker):
    with r.RawClient(broker.address) as c:
        c.connect("survivor", keepalive=60)
        broker.config_path.write_text(broker.config_path.read_text() +
                                      "limits:\n  max_inflight: abc\n  max_queued_messages: 0\n")
        broker.signal(signal.SIGHUP)
        # Every mistake, on the one line.
        broker.wait_log(r"ERROR app: SIGHUP: reload failed, keeping the running configuration: "
                        r"\S+netpie-edge\.yaml:\d+:17: limits\.max_inflight: expected an integer from 1 to 65535, "
                        r'got "abc";\S+netpie-edge\.yaml:\d+:24: limits\.max_queued_messages: expected an integer '
                        r'from 1 to 100000000, got "0"$')
        assert not re.search(RELOADED, broker.log_text())
        c.send(r.pingreq())
        assert c.read_packet().type == 13
        mosquitto_pub(broker, "still/serving", "yes", qos=1)
        # A good file afterwards reloads as usual.
        broker.limits["max_queued_messages"] = 5
        reload(broker, r"limits ")


def test_command_line_overrides_stay_in_force_across_sighup(broker_factory, tmp_path):
    """--state-dir and --log-level beat the file at start and at every reload: no "changed state_dir" warning for
    a file that did not change, and the command line's level stays."""
    b = broker_factory(start=False, log_level="info")
    state = tmp_path / "cli-state"
    b.command = lambda: [b.binary, "-c", str(b.config_path), "--state-dir", str(state), "--log-level", "debug"]
    b.start()
    assert (state / "netpie-edge.db").exists(), "the command line's state directory is used"
    reload(b, r"no changes applied \(log level debug, 0 microgear clients disconnected, 0 changes need a restart\)")
    assert "takes effect after restart" not in b.log_text(), b.log_tail()
