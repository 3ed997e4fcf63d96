"""The v5 client's Maximum Packet Size bounds every packet the gateway sends it, CONNACK included [MQTT-3.1.2-24]:
the Reason String and User Properties go first, and a packet that still does not fit is not sent [MQTT-3.1.2-25]
(gateway/broker/connection.cpp, encode_for_client). The DISCONNECT case is in test_limits.py; the unit cases
(SUBACK not sent, a CONNACK that cannot fit at all) in tests/unit/broker_test.cpp.

Which packets carry a Reason String from this gateway: a refusing CONNACK and a DISCONNECT (the PUBACK, PUBREC,
SUBACK and UNSUBACK it sends have reason codes only).
"""
from __future__ import annotations

import pytest

import rawmqtt as r

# A CONNECT asking for enhanced authentication, which the gateway refuses with CONNACK 0x8C Bad authentication
# method and the Reason String "enhanced authentication is not supported".
AUTH_METHOD = bytes([0x15]) + r.string("SCRAM-SHA-1")
BAD_AUTHENTICATION_METHOD = 0x8C


def connack_properties(p: r.Packet) -> dict[int, bytes]:
    """The CONNACK's properties by identifier (5.0 §3.2.2.3), each as its raw value bytes."""
    length, pos = r.read_varint(p.body, 2)
    end, out = pos + length, {}
    while pos < end:
        ident = p.body[pos]
        pos += 1
        size = {0x11: 4, 0x27: 4, 0x21: 2, 0x22: 2, 0x13: 2, 0x24: 1, 0x25: 1, 0x28: 1, 0x29: 1, 0x2A: 1}.get(ident)
        if size is None:  # strings: 0x12 assigned client id, 0x1F reason string, 0x26 user property (two)
            size = 2 + int.from_bytes(p.body[pos:pos + 2], "big")
            if ident == 0x26:
                size += 2 + int.from_bytes(p.body[pos + size:pos + size + 2], "big")
        out[ident] = p.body[pos:pos + size]
        pos += size
    assert pos == end, f"CONNACK properties do not add up: {p}"
    return out


def refused_connack(broker, client_id: str, properties: bytes) -> tuple[r.Packet, int]:
    with r.RawClient(broker.address) as c:
        c.send(r.connect(client_id, version=r.V5, properties=properties))
        p = c.expect(r.CONNACK)
        size = 1 + len(r.varint(len(p.body))) + len(p.body)
        assert c.read_until_closed(timeout=10) == [], "packets after a refusing CONNACK"
    return p, size


@pytest.mark.netpie_only
def test_MQTT_3_1_2_24_a_refusing_connack_drops_its_reason_string_to_fit_the_clients_maximum_packet_size(broker):
    # Without a Maximum Packet Size the refusal says why: the Reason String is there (and the test means something).
    p, size = refused_connack(broker, "no-limit", AUTH_METHOD)
    assert p.reason == BAD_AUTHENTICATION_METHOD, p
    assert b"enhanced authentication" in connack_properties(p).get(0x1F, b""), p
    assert size > 16, f"a {size}-byte CONNACK with its Reason String"
    # A client that takes at most 16 bytes gets the same refusal, without the string, within its size.
    p, size = refused_connack(broker, "small", r.prop_u32(0x27, 16) + AUTH_METHOD)
    assert p.reason == BAD_AUTHENTICATION_METHOD, p
    assert 0x1F not in connack_properties(p), f"Reason String sent past the Maximum Packet Size: {p}"
    assert size <= 16, f"a {size}-byte CONNACK to a client whose Maximum Packet Size is 16: {p}"


@pytest.mark.netpie_only
def test_MQTT_3_1_2_24_an_accepting_connack_within_the_clients_maximum_packet_size(broker):
    """The accepting CONNACK with the gateway's limits (receive maximum, maximum packet size, topic alias maximum)
    fits a small Maximum Packet Size whole, and the connection works."""
    with r.RawClient(broker.address) as c:
        p = c.connect("fits", version=r.V5, properties=r.prop_u32(0x27, 32))
        size = 1 + len(r.varint(len(p.body))) + len(p.body)
        assert size <= 32, f"a {size}-byte CONNACK: {p}"
        assert {0x21, 0x27} <= connack_properties(p).keys(), p
        c.send(r.pingreq())
        c.expect(r.PINGRESP)
