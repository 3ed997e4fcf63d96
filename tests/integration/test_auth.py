"""Authentication: auth.users with pbkdf2 hashes made by `netpie-edge --hash-password`; anonymous policy.

The harness turns each user's plain password into auth.users[].password_hash with the daemon's own
--hash-password (for mosquitto: mosquitto_passwd). A wrong password is refused with CONNACK 4 "bad user name or
password" (3.1 / 3.1.1; the same meaning as v5's 0x86, and what NETPIE microgears read as "credentials no longer
valid") or reason 0x86 Bad User Name or Password (5.0), and the connection is closed. Mosquitto answers 5.
"""
import pytest

import rawmqtt as r
from peers import MosquittoSub, mosquitto_pub

USERS = {"users": [{"username": "alice", "password": "s3cret-Pass"}, {"username": "bob", "password": "другой"}]}
REFUSED = {r.V31: 4, r.V311: 4, r.V5: 0x86}
VERSIONS = [pytest.param(r.V31, id="v31"), pytest.param(r.V311, id="v311"), pytest.param(r.V5, id="v5")]

pytestmark = pytest.mark.broker(auth={"anonymous": "loopback", **USERS})


@pytest.mark.parametrize("version", VERSIONS)
def test_right_password_accepted(broker, version):
    with r.RawClient(broker.address) as c:
        c.connect("alice-ok", version=version, username="alice", password="s3cret-Pass")
        c.send(r.pingreq())
        c.expect(r.PINGRESP)
    with r.RawClient(broker.address) as c:  # a non-ASCII password
        c.connect("bob-ok", version=version, username="bob", password="другой")


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("user,password", [("alice", "wrong"), ("alice", "s3cret-pass"), ("alice", ""),
                                           ("mallory", "s3cret-Pass"), ("bob", "s3cret-Pass")])
def test_wrong_password_refused(broker, version, user, password):
    with r.RawClient(broker.address) as c:
        c.send(r.connect(f"bad-{user}", version=version, username=user, password=password))
        p = c.expect(r.CONNACK)
        allowed = {REFUSED[version]}
        if broker.kind == "mosquitto":
            allowed.add(0x87 if version == r.V5 else 5)  # mosquitto 2.0.11 answers Not Authorized
        assert p.reason in allowed, f"CONNACK code {p.reason:#x}, expected {REFUSED[version]:#x}"
        assert c.read_until_closed(timeout=5) == []


def test_username_without_password_refused(broker):
    with r.RawClient(broker.address) as c:
        c.send(r.connect("nopw", username="alice"))
        p = c.expect(r.CONNACK)
        assert p.reason in (4, 5), p


def test_anonymous_from_loopback_accepted(broker):
    """anonymous: loopback accepts clients without credentials from 127.0.0.0/8 (the tests' own address)."""
    with MosquittoSub(broker, "auth/anon", qos=1) as sub:
        mosquitto_pub(broker, "auth/anon", "hi", qos=1)
        sub.wait_message(lambda m: m.text == "hi")


def test_authenticated_clients_round_trip_with_mosquitto_clients(broker):
    with MosquittoSub(broker, "auth/t", version="mqttv5", qos=1, username="alice", password="s3cret-Pass") as sub:
        mosquitto_pub(broker, "auth/t", "from bob", qos=1, username="bob", password="другой")
        sub.wait_message(lambda m: m.text == "from bob")
    r_ = mosquitto_pub(broker, "auth/t", "x", username="alice", password="nope", check=False)
    assert r_.returncode != 0, "mosquitto_pub with a wrong password succeeded"


@pytest.mark.broker(auth={"anonymous": "deny", **USERS})
@pytest.mark.parametrize("version", VERSIONS)
def test_anonymous_denied(broker, version):
    with r.RawClient(broker.address) as c:
        c.send(r.connect("anon", version=version))
        p = c.expect(r.CONNACK)
        allowed = {5} if version != r.V5 else {0x86, 0x87}
        assert p.reason in allowed, f"CONNACK {p.reason:#x}"
        assert c.read_until_closed(timeout=5) == []
    with r.RawClient(broker.address) as c:
        c.connect("alice", version=version, username="alice", password="s3cret-Pass")
