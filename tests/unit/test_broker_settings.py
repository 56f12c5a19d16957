"""The supervisor's broker settings: flags and WASMFLEET_BROKER*, parsed once at start."""

from __future__ import annotations

import pytest

from wasmfleet.core.errors import ConfigurationError
from wasmfleet.supervisor.settings import SupervisorSettings


def test_no_broker_by_default() -> None:
    settings = SupervisorSettings.load(env={})
    assert settings.broker is None
    assert settings.dead_letter_prefix == "wasmfleet/dead-letter"
    assert settings.stream_queue == 256


def test_broker_from_the_environment_and_flags() -> None:
    env = {
        "WASMFLEET_BROKER": "mqtt://edge:secret@10.0.0.5:1884",
        "WASMFLEET_BROKER_PASSWORD": "from-env",
        "WASMFLEET_STREAM_QUEUE": "16",
        "WASMFLEET_DEAD_LETTER_PREFIX": "site/dlq",
    }
    settings = SupervisorSettings.load(env=env, overrides={"broker_username": "flag-user"})
    broker = settings.broker
    assert broker is not None
    assert (broker.host, broker.port, broker.tls) == ("10.0.0.5", 1884, False)
    assert (broker.username, broker.password) == ("flag-user", "from-env")
    assert broker.url == "mqtt://flag-user@10.0.0.5:1884"  # no password in status pages
    assert settings.stream_queue == 16 and settings.dead_letter_prefix == "site/dlq"


def test_tls_options() -> None:
    settings = SupervisorSettings.load(
        env={"WASMFLEET_BROKER_INSECURE": "true"},
        overrides={"broker_url": "mqtts://broker.example", "broker_ca": "/etc/ca.pem"},
    )
    broker = settings.broker
    assert broker is not None
    assert (broker.port, broker.tls, broker.ca_file, broker.insecure) == (
        8883,
        True,
        "/etc/ca.pem",
        True,
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"broker_url": "http://broker:1883"}, "--broker 'http://broker:1883' has scheme 'http'"),
        ({"broker_ca": "/ca.pem"}, "--broker-ca was given without --broker"),
        ({"broker_url": "mqtt://b", "broker_ca": "/ca.pem"}, "is plain MQTT, but TLS files"),
        ({"broker_url": "mqtt://b", "stream_queue": 0}, "--stream-queue must be at least 1, got 0"),
        ({"dead_letter_prefix": "dead/+/letters"}, "dead-letter prefix 'dead/+/letters'"),
    ],
)
def test_bad_broker_settings_are_refused(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        SupervisorSettings.load(env={}, overrides=overrides)
    assert message in info.value.message
