"""pytest fixtures for the integration tests: brokers started per test on port 0, stopped with a checked exit."""
from __future__ import annotations

import pytest

import harness


def pytest_configure(config):
    config.addinivalue_line("markers", "broker(**options): options for the `broker` fixture (see harness.Broker)")
    config.addinivalue_line("markers", "netpie_only: exercises a netpie-edge feature mosquitto does not have")


def pytest_collection_modifyitems(config, items):
    if harness.broker_kind() != "mosquitto":
        return
    skip = pytest.mark.skip(reason="netpie-edge only (ITEST_BROKER=mosquitto)")
    for item in items:
        if item.get_closest_marker("netpie_only"):
            item.add_marker(skip)


@pytest.fixture
def broker_factory(tmp_path):
    """broker_factory(**options) -> a started harness.Broker; every broker is stopped (SIGTERM, exit 0 required)
    when the test ends, and its log tail is printed (pytest shows it only for a failing test)."""
    brokers: list[harness.Broker] = []

    def make(name: str | None = None, start: bool = True, **options) -> harness.Broker:
        b = harness.make_broker(tmp_path, name=name or f"broker{len(brokers)}", **options)
        brokers.append(b)
        if start:
            b.start()
        return b

    yield make
    errors = []
    for b in brokers:
        try:
            b.stop(check=True)
        except AssertionError as e:
            errors.append(str(e))
        print(b.log_tail())
    if errors:
        pytest.fail("\n\n".join(errors), pytrace=False)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """Test certificates from tests/tls/make-test-ca.sh (openssl CLI; the file names are listed there)."""
    import subprocess

    d = tmp_path_factory.mktemp("certs")
    subprocess.run(["sh", str(harness.HERE.parent / "tls" / "make-test-ca.sh"), str(d)], check=True, timeout=60,
                   capture_output=True)
    return d


@pytest.fixture
def broker(request, broker_factory):
    """One started broker; options from @pytest.mark.broker(...)."""
    marker = request.node.get_closest_marker("broker")
    options = dict(marker.kwargs) if marker else {}
    return broker_factory(**options)


@pytest.fixture
def kind():
    return harness.broker_kind()


@pytest.fixture
def agents():
    """Starts official Node microgears (netpie_peers.MicrogearAgent) and closes them after the test."""
    import netpie_peers

    made = []

    def make(*args, **kw):
        a = netpie_peers.MicrogearAgent(*args, **kw)
        made.append(a)
        return a

    yield make
    for a in made:
        a.close()
