"""The Notifier against a real HTTP receiver and a real SMTP server (aiosmtpd) on loopback:
what arrives, signatures, retries of what can succeed later, no retries of refusals, and a
sentence for every failure."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.notify_receivers import Mailbox, Receiver
from tests.support import free_port
from wasmfleet.cli.local_ca import make_local_tls
from wasmfleet.core.notify_targets import SmtpServer, Targets, parse_smtp_url
from wasmfleet.orchestrator.notify import Notifier, NotifyConfig
from wasmfleet.orchestrator.notify_send import DeliveryFailed, send_mail

FAST = {"timeout_s": 5.0, "retry_first_s": 0.05}


def run(config: NotifyConfig, body: Callable[[Notifier], Awaitable[Any]]) -> Any:
    """Run ``body`` with a started notifier, stopping it afterwards."""

    async def scenario() -> Any:
        notifier = Notifier(config)
        await notifier.start()
        try:
            return await body(notifier)
        finally:
            await notifier.stop()

    return asyncio.run(scenario())


async def settled(notifier: Notifier, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    """The deliveries once ``count`` of them have finished (bounded wait)."""
    for _ in range(int(timeout / 0.02)):
        done = [d for d in notifier.deliveries() if d["finished_at"]]
        if len(done) >= count:
            return notifier.deliveries()
        await asyncio.sleep(0.02)
    raise AssertionError(f"deliveries did not finish: {notifier.deliveries()}")


def test_a_notification_reaches_the_global_and_the_callers_targets() -> None:
    with Receiver() as hooks, Mailbox() as box:
        config = NotifyConfig(
            targets=Targets((hooks.url + "/global",), ("ops@example.org",)),
            smtp=parse_smtp_url(f"smtp://127.0.0.1:{box.port}"),
            sender="fleet@example.org",
            secret="s3cret",
            **FAST,
        )

        async def body(notifier: Notifier) -> list[dict[str, Any]]:
            notifier.notify(
                "app.started",
                "app too-warm started at campus/lab-1",
                "The install too-warm-lab1 is running.",
                {"install": "too-warm-lab1", "where": {"check": "dev-1"}},
                Targets((hooks.url + "/mine",), ("owner@example.org",)),
            )
            return await settled(notifier, 4)

        deliveries = run(config, body)
    assert sorted((d["channel"], d["status"], d["attempts"]) for d in deliveries) == [
        ("email", "sent", 1), ("email", "sent", 1), ("webhook", "sent", 1), ("webhook", "sent", 1),
    ]  # fmt: skip
    assert sorted(h.path for h in hooks.hooks) == ["/global", "/mine"]
    hook = hooks.hooks[0]
    assert hook.json["event"] == "app.started"
    assert hook.json["subject"] == "app too-warm started at campus/lab-1"
    assert hook.json["text"] == "The install too-warm-lab1 is running."
    assert hook.json["data"] == {"install": "too-warm-lab1", "where": {"check": "dev-1"}}
    assert hook.json["time"].endswith("Z")
    assert set(hook.json) == {"event", "time", "subject", "text", "data"}
    expected = hmac.new(b"s3cret", hook.body, hashlib.sha256).hexdigest()
    assert hook.headers["X-Wasmfleet-Signature"] == f"sha256={expected}"
    assert hook.headers["X-Wasmfleet-Event"] == "app.started"
    for address in ("ops@example.org", "owner@example.org"):
        mail = box.wait(address)
        assert mail["Subject"] == "[wasmfleet] app too-warm started at campus/lab-1"
        assert mail["From"] == "fleet@example.org"
        assert mail["X-Wasmfleet-Event"] == "app.started"
        text = mail.get_payload(decode=True).decode()
        assert "The install too-warm-lab1 is running." in text
        assert '"install": "too-warm-lab1"' in text


def test_unsigned_webhooks_carry_no_signature() -> None:
    with Receiver() as hooks:
        config = NotifyConfig(targets=Targets((hooks.url,)), **FAST)

        async def body(notifier: Notifier) -> None:
            notifier.notify("device.dead", "device d is dead", "gone", {"device": "d"})
            await settled(notifier, 1)

        run(config, body)
    assert "X-Wasmfleet-Signature" not in hooks.hooks[0].headers


def test_a_failing_webhook_is_retried_and_can_succeed_later() -> None:
    with Receiver([503, 500, 204]) as hooks:
        config = NotifyConfig(targets=Targets((hooks.url,)), attempts=3, **FAST)

        async def body(notifier: Notifier) -> list[dict[str, Any]]:
            notifier.notify("app.failed", "app x failed", "it trapped", {})
            return await settled(notifier, 1)

        (delivery,) = run(config, body)
    assert (delivery["status"], delivery["attempts"], delivery["error"]) == ("sent", 3, None)
    assert len(hooks.hooks) == 3
    assert len({h.headers["X-Wasmfleet-Delivery"] for h in hooks.hooks}) == 1


def test_retries_end_after_the_attempts_with_the_last_reason() -> None:
    with Receiver([500]) as hooks:
        config = NotifyConfig(targets=Targets((hooks.url,)), attempts=2, **FAST)

        async def body(notifier: Notifier) -> list[dict[str, Any]]:
            notifier.notify("app.failed", "app x failed", "it trapped", {})
            return await settled(notifier, 1)

        (delivery,) = run(config, body)
    assert (delivery["status"], delivery["attempts"]) == ("failed", 2)
    assert f"{hooks.url} answered 500" in delivery["error"]
    assert len(hooks.hooks) == 2


def test_a_refusing_webhook_is_not_retried() -> None:
    with Receiver([404]) as hooks:
        config = NotifyConfig(targets=Targets((hooks.url,)), attempts=3, **FAST)

        async def body(notifier: Notifier) -> list[dict[str, Any]]:
            notifier.notify("app.stopped", "app x stopped", "window closed", {})
            return await settled(notifier, 1)

        (delivery,) = run(config, body)
    assert (delivery["status"], delivery["attempts"]) == ("failed", 1)
    assert "answered 404" in delivery["error"]
    assert len(hooks.hooks) == 1


def test_an_unreachable_webhook_fails_with_a_sentence() -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"  # nobody listens there
    config = NotifyConfig(targets=Targets((url,)), attempts=2, **FAST)

    async def body(notifier: Notifier) -> list[dict[str, Any]]:
        notifier.notify("app.failed", "x", "y", {})
        return await settled(notifier, 1)

    (delivery,) = run(config, body)
    assert (delivery["status"], delivery["attempts"]) == ("failed", 2)
    assert delivery["error"].startswith(f"could not reach {url}")


def test_notify_from_another_thread_and_before_start_is_delivered() -> None:
    with Receiver() as hooks:
        notifier = Notifier(NotifyConfig(targets=Targets((hooks.url,)), **FAST))
        notifier.notify("test", "before start", "queued before the workers run", {})

        async def scenario() -> list[dict[str, Any]]:
            await notifier.start()
            try:
                thread = threading.Thread(
                    target=notifier.notify, args=("test", "from a thread", "t", {"n": 1})
                )
                thread.start()
                await asyncio.to_thread(thread.join, 10)
                return await settled(notifier, 2)
            finally:
                await notifier.stop()

        deliveries = asyncio.run(scenario())
    assert [d["status"] for d in deliveries] == ["sent", "sent"]
    assert sorted(h.json["subject"] for h in hooks.hooks) == ["before start", "from a thread"]


def test_a_full_queue_drops_and_records_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import wasmfleet.orchestrator.notify as notify

    monkeypatch.setattr(notify, "QUEUE", 2)
    notifier = Notifier(NotifyConfig(targets=Targets(("http://127.0.0.1:9/",)), **FAST))
    for n in range(3):  # not started: nothing takes from the queue
        notifier.notify("test", f"n{n}", "", {})
    statuses = [d["status"] for d in notifier.deliveries()]
    assert statuses == ["dropped", "queued", "queued"]
    assert "more than 2 deliveries were waiting" in notifier.deliveries()[0]["error"]
    assert notifier.counts["dropped"] == 1


def test_e_mail_needs_an_smtp_server_and_says_so() -> None:
    config = NotifyConfig(targets=Targets((), ("ops@example.org",)), **FAST)

    async def body(notifier: Notifier) -> list[dict[str, Any]]:
        notifier.notify("test", "x", "y", {})
        return await settled(notifier, 1)

    (delivery,) = run(config, body)
    assert (delivery["status"], delivery["attempts"]) == ("failed", 1)
    assert "--smtp-url" in delivery["error"]


def test_smtp_login_and_a_refused_recipient() -> None:
    with Mailbox(login=("alerts", "p@ss"), refuse=("nobody@example.org",)) as box:
        good = parse_smtp_url(f"smtp://alerts:p%40ss@127.0.0.1:{box.port}")
        wrong = parse_smtp_url(f"smtp://alerts:nope@127.0.0.1:{box.port}")
        config = NotifyConfig(
            targets=Targets((), ("ops@example.org", "nobody@example.org")), smtp=good, **FAST
        )

        async def body(notifier: Notifier) -> list[dict[str, Any]]:
            notifier.notify("app.started", "logged in", "via AUTH", {})
            return await settled(notifier, 2)

        deliveries = {d["target"]: d for d in run(config, body)}
        assert deliveries["ops@example.org"]["status"] == "sent"
        assert box.wait("ops@example.org")["Subject"] == "[wasmfleet] logged in"
        refused = deliveries["nobody@example.org"]
        assert (refused["status"], refused["attempts"]) == ("failed", 1)
        assert "refused nobody@example.org: 550" in refused["error"]
        with pytest.raises(DeliveryFailed) as caught:
            send_mail(wrong, "f@example.org", "ops@example.org", _message(), timeout=5)
        assert "refused the user and password of --smtp-url" in caught.value.message
        assert not caught.value.retry


def _message() -> dict[str, Any]:
    return {"event": "test", "time": "now", "subject": "s", "text": "t", "data": {}}


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_smtp_over_tls_verifies_the_server(tmp_path: Path, security: str) -> None:
    files = make_local_tls(tmp_path / "tls")
    server_context = ssl_server(files.cert, files.key)
    trusting = __import__("ssl").create_default_context(cafile=str(files.ca))
    kwargs = {"starttls": server_context} if security == "starttls" else {"smtps": server_context}
    with Mailbox(login=("u", "p"), **kwargs) as box:
        server = SmtpServer("127.0.0.1", box.port, security, "u", "p")
        send_mail(
            server, "f@example.org", "ops@example.org", _message(), timeout=5, context=trusting
        )
        assert box.wait("ops@example.org")["Subject"] == "[wasmfleet] s"
        other = make_local_tls(tmp_path / "other")
        distrusting = __import__("ssl").create_default_context(cafile=str(other.ca))
        with pytest.raises(DeliveryFailed) as caught:
            send_mail(server, "f@example.org", "x@example.org", _message(), timeout=5,
                      context=distrusting)  # fmt: skip
        assert "TLS with the SMTP server" in caught.value.message
        assert not box.to("x@example.org")


def ssl_server(cert: Path, key: Path) -> Any:
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    return context


def test_an_smtp_server_that_is_down_fails_after_retries() -> None:
    port = free_port()
    config = NotifyConfig(
        targets=Targets((), ("ops@example.org",)),
        smtp=SmtpServer("127.0.0.1", port, "plain"),
        attempts=2,
        **FAST,
    )

    async def body(notifier: Notifier) -> list[dict[str, Any]]:
        notifier.notify("test", "x", "y", {})
        return await settled(notifier, 1)

    (delivery,) = run(config, body)
    assert (delivery["status"], delivery["attempts"]) == ("failed", 2)
    assert f"could not send through the SMTP server 127.0.0.1:{port}" in delivery["error"]


def test_targets_are_redacted_for_callers_other_than_admins() -> None:
    from wasmfleet.orchestrator.routes_notify import redacted

    assert redacted("https://hooks.example:8443/services/T0/B0/SECRET?k=v") == (
        "https://hooks.example:8443/***"
    )
    assert redacted("http://127.0.0.1/h") == "http://127.0.0.1/***"
    assert redacted("ops@example.org") == "o***@example.org"


def test_a_test_without_targets_says_how_to_set_them() -> None:
    from wasmfleet.core.errors import InvalidDocument

    async def body(notifier: Notifier) -> None:
        with pytest.raises(InvalidDocument) as caught:
            await notifier.test()
        assert "--notify-webhook URL or --notify-email ADDRESS" in caught.value.message
        assert notifier.deliveries() == []

    run(NotifyConfig(**FAST), body)
