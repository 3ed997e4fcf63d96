"""1,000 concurrent MQTT.js clients (half 3.1.1, half 5.0), each subscribed, each receiving one broadcast once."""
import pytest

from harness import raise_nofile
from peers import mosquitto_pub, MosquittoSub, run_node

N = 1000


@pytest.fixture
def nofile():
    raise_nofile(8192)  # the broker and node inherit it: 1,000 sockets each side plus slack


@pytest.mark.timeout(180)
def test_thousand_concurrent_clients(nofile, broker_factory):
    broker = broker_factory(sys_interval=1)
    res = run_node("many_clients.js", {"host": broker.host, "port": broker.port, "count": N, "parallel": 100,
                                       "timeoutMs": 90000}, timeout=120)
    assert "error" not in res, res
    assert res["connected"] == N and res["subscribed"] == N, res
    assert res["received"] == N, f"{N - res['received']} clients missed the broadcast: {res}"
    assert res["duplicates"] == 0, res
    print(f"{N} clients connected, subscribed and received in {res['ms']} ms")
    # The broker is still fine afterwards.
    with MosquittoSub(broker, "after/scale", qos=1) as sub:
        mosquitto_pub(broker, "after/scale", "ok", qos=1)
        sub.wait_message(lambda m: m.text == "ok")
