"""Notification targets and SMTP URLs: what is accepted, and the sentence for what is not
(an install's notify document is a 400; a bad setting stops the orchestrator at start)."""

from __future__ import annotations

from typing import Any

import pytest

from wasmfleet.core.errors import ConfigurationError, InvalidDocument
from wasmfleet.core.notify_targets import SmtpServer, Targets, parse_smtp_url, parse_targets
from wasmfleet.orchestrator.settings import OrchestratorSettings


def test_targets_parse_lists_single_strings_and_nothing() -> None:
    assert parse_targets(None) == Targets()
    assert parse_targets({}) == Targets()
    doc = {
        "webhook": "https://hooks.example/fleet",
        "email": ["a@x.org", "b@lab.example", "a@x.org"],
    }
    assert parse_targets(doc) == Targets(
        ("https://hooks.example/fleet",), ("a@x.org", "b@lab.example")
    )
    assert parse_targets(doc).to_dict() == {
        "webhook": ["https://hooks.example/fleet"],
        "email": ["a@x.org", "b@lab.example"],
    }
    assert parse_targets({"webhook": ["http://127.0.0.1:8080/h?x=1"]}).webhooks == (
        "http://127.0.0.1:8080/h?x=1",
    )


def test_merged_targets_keep_order_and_name_each_once() -> None:
    mine = Targets(("http://a/", "http://b/"), ("x@y.org",))
    theirs = Targets(("http://b/", "http://c/"), ("x@y.org", "z@y.org"))
    assert mine.merged(theirs) == Targets(
        ("http://a/", "http://b/", "http://c/"), ("x@y.org", "z@y.org")
    )
    assert mine.merged(None) is mine
    assert not Targets() and Targets((), ("x@y.org",))


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ([], "notify must be an object"),
        ({"webhooks": ["http://a/"]}, "unknown key(s) webhooks"),
        ({"webhook": "ftp://files.example/x"}, "'ftp://files.example/x' must be an http:// or"),
        ({"webhook": ["https://"]}, "with a host"),
        ({"webhook": ["http://a b/"]}, "without spaces"),
        ({"webhook": ["http://h:99999/"]}, "does not parse"),
        ({"webhook": [3]}, "must be a list of strings"),
        ({"email": ["Ops <ops@x.org>"]}, "must be an e-mail address"),
        ({"email": ["ops@"]}, "must be an e-mail address"),
        ({"email": ["not an address"]}, "must be an e-mail address"),
        ({"email": [f"a{n}@x.org" for n in range(21)]}, "at most 20"),
    ],
)
def test_bad_targets_are_a_400_with_a_sentence(doc: Any, needle: str) -> None:
    with pytest.raises(InvalidDocument) as caught:
        parse_targets(doc)
    assert needle in caught.value.message
    assert caught.value.status == 400 and caught.value.message.endswith(".")


@pytest.mark.parametrize(
    ("url", "server"),
    [
        ("smtp://mail.example.org", SmtpServer("mail.example.org", 25, "plain")),
        ("smtps://mail.example.org", SmtpServer("mail.example.org", 465, "tls")),
        (
            "smtp+starttls://u:p%40ss@127.0.0.1:2525",
            SmtpServer("127.0.0.1", 2525, "starttls", "u", "p@ss"),
        ),
        ("SMTP://u@h:26/", SmtpServer("h", 26, "plain", "u", None)),
    ],
)
def test_smtp_urls(url: str, server: SmtpServer) -> None:
    assert parse_smtp_url(url) == server


def test_an_smtp_url_is_shown_without_its_password() -> None:
    server = parse_smtp_url("smtp+starttls://alerts:secret@mail.example.org:587")
    assert server.shown == "smtp+starttls://alerts@mail.example.org:587"


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("http://mail.example.org", "must start with smtp://, smtps:// or smtp+starttls://"),
        ("smtp://u:secret@host:port", "does not parse as a URL"),
        ("smtp://", "scheme://[user[:password]@]host[:port]"),
        ("smtp://host/path", "nothing after the host and port"),
        ("smtp://host:0", "port 0"),
    ],
)
def test_bad_smtp_urls_are_refused_with_a_sentence(url: str, needle: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_smtp_url(url)
    assert needle in caught.value.message
    assert caught.value.message.startswith("--smtp-url")
    assert "secret" not in caught.value.message


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        ({"notify_webhooks": ["ftp://x/"]}, "--notify-webhook 'ftp://x/' must be an http://"),
        ({"notify_emails": ["nobody"]}, "--notify-email 'nobody' must be an e-mail address"),
        ({"smtp_from": "fleet"}, "--smtp-from must be an e-mail address"),
        ({"smtp_url": "mail.example.org"}, "_SMTP_URL must start with smtp://"),
        (
            {"smtp_url": "smtp://u:pw@h:x"},
            "--smtp-url or WASMFLEET_ORCHESTRATOR_SMTP_URL 'smtp://u:***@h:x' does not parse",
        ),
        ({"notify_emails": ["ops@x.org"]}, "--notify-email needs --smtp-url"),
        ({"notify_attempts": 0}, "--notify-attempts must be between 1 and 10"),
    ],
)
def test_bad_notification_settings_stop_the_orchestrator(
    flags: dict[str, Any], needle: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        OrchestratorSettings.load(env={}, overrides=flags)
    assert needle in caught.value.message


def test_notification_settings_from_the_environment() -> None:
    env = {
        "WASMFLEET_ORCHESTRATOR_NOTIFY_WEBHOOKS": "http://127.0.0.1:1/a,https://hooks.example/b",
        "WASMFLEET_ORCHESTRATOR_NOTIFY_EMAILS": "ops@x.org",
        "WASMFLEET_ORCHESTRATOR_SMTP_URL": "smtps://mail.example.org",
    }
    settings = OrchestratorSettings.load(env=env)
    assert settings.notify_webhooks == ("http://127.0.0.1:1/a", "https://hooks.example/b")
    assert settings.notify_emails == ("ops@x.org",)
