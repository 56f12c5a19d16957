"""Broker URLs: schemes, default ports, credentials, TLS options, and the errors people hit."""

from __future__ import annotations

import pytest

from wasmfleet.core.broker_url import BrokerAddress, parse_broker_url
from wasmfleet.core.errors import ConfigurationError


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://127.0.0.1:1884", BrokerAddress("127.0.0.1", 1884)),
        ("mqtt://broker", BrokerAddress("broker", 1883)),
        ("broker.local:1999", BrokerAddress("broker.local", 1999)),
        ("tcp://h", BrokerAddress("h", 1883)),
        ("mqtts://h", BrokerAddress("h", 8883, tls=True)),
        ("ssl://h:9000", BrokerAddress("h", 9000, tls=True)),
        ("mqtt://alice:s%40cret@h", BrokerAddress("h", 1883, username="alice", password="s@cret")),
        ("mqtt://[::1]:1883", BrokerAddress("::1", 1883)),
    ],
)
def test_urls(url: str, expected: BrokerAddress) -> None:
    assert parse_broker_url(url) == expected


def test_flags_win_over_the_url_and_the_password_never_shows() -> None:
    address = parse_broker_url(
        "mqtts://alice:old@h", password="new", ca_file="/ca.pem", insecure=True
    )
    assert (address.username, address.password, address.ca_file) == ("alice", "new", "/ca.pem")
    assert address.url == "mqtts://alice@h:8883"
    assert "new" not in address.url and "old" not in address.url
    assert parse_broker_url("mqtt://[::1]").url == "mqtt://[::1]:1883"


@pytest.mark.parametrize(
    ("url", "kw", "message"),
    [
        ("http://h", {}, "use mqtt://"),
        ("mqtt://", {}, "names no host"),
        ("", {}, "names no host"),
        ("mqtt://h:99999", {}, "is not a broker URL"),
        ("mqtt://h/topic", {}, "has a path or query"),
        ("mqtt://h", {"ca_file": "/ca.pem"}, "use mqtts://"),
        ("mqtts://h", {"cert_file": "/c.pem"}, "both its cert and key"),
    ],
)
def test_bad_urls_say_what_to_do(url: str, kw: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        parse_broker_url(url, **kw)  # type: ignore[arg-type]
    assert message in str(err.value)
