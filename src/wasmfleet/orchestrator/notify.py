"""Notifications: webhooks and e-mail on app, device and rollout events, sent in the background.

``Notifier.notify(event, subject, text, data, targets)`` never blocks and never raises: it
queues one delivery per target (the global ``--notify-webhook`` / ``--notify-email`` targets
plus the caller's), and a few worker tasks send them with a timeout and a few retries with
backoff. Every delivery is recorded in a ring of the last ``--keep-notifications`` for
``GET /api/v1/notifications``. A full queue drops the delivery, recorded as ``dropped``.

The hooks ``device_transition`` (a monitor listener: ``device.dead``) and
``rollout_rolled_back`` (``rollout.rolled_back``) are wired by the orchestrator service; apps
call ``notify`` for ``app.started`` / ``app.stopped`` / ``app.failed`` with an install's targets.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
import ssl
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from wasmfleet.core.errors import InvalidDocument
from wasmfleet.core.notify_targets import (
    EVENTS,
    SmtpServer,
    Targets,
    parse_smtp_url,
    parse_targets,
)
from wasmfleet.orchestrator.notify_send import DeliveryFailed, post_webhook, send_mail
from wasmfleet.orchestrator.settings import OrchestratorSettings
from wasmfleet.service.backoff import backoff_delay
from wasmfleet.service.http_clients import tls_context

__all__ = ["EVENTS", "Delivery", "Notifier", "Targets", "parse_targets"]

log = logging.getLogger(__name__)
QUEUE = 1000
"""Deliveries waiting at most; more are dropped (and recorded so)."""
WORKERS = 4
"""Deliveries in flight at once: one slow target does not hold up the others."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(slots=True)
class Delivery:
    """One notification to one target, and what became of it."""

    id: str
    event: str
    subject: str
    channel: str
    """webhook or email."""
    target: str
    status: str = "queued"
    """queued, sending, sent, failed or dropped."""
    attempts: int = 0
    error: str | None = None
    queued_at: str = field(default_factory=_now)
    finished_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The delivery as ``GET /api/v1/notifications`` shows it."""
        return {
            "id": self.id,
            "event": self.event,
            "subject": self.subject,
            "channel": self.channel,
            "target": self.target,
            "status": self.status,
            "attempts": self.attempts,
            "error": self.error,
            "queued_at": self.queued_at,
            "finished_at": self.finished_at,
        }


@dataclass(frozen=True, slots=True)
class NotifyConfig:
    """What the notifier is configured with (from the orchestrator's settings)."""

    targets: Targets = field(default_factory=Targets)
    smtp: SmtpServer | None = None
    sender: str = "wasmfleet@localhost"
    secret: str | None = None
    timeout_s: float = 10.0
    attempts: int = 3
    keep: int = 200
    retry_first_s: float = 1.0

    @classmethod
    def from_settings(cls, settings: OrchestratorSettings) -> NotifyConfig:
        """The notifier's configuration from validated settings."""
        smtp = parse_smtp_url(settings.smtp_url) if settings.smtp_url else None
        return cls(
            targets=Targets(settings.notify_webhooks, settings.notify_emails),
            smtp=smtp,
            sender=settings.smtp_from or f"wasmfleet@{socket.gethostname() or 'localhost'}",
            secret=settings.notify_webhook_secret,
            timeout_s=settings.notify_timeout_s,
            attempts=settings.notify_attempts,
            keep=settings.keep_notifications,
        )


class Notifier:
    """Queues notifications and delivers them in the background."""

    def __init__(self, config: NotifyConfig, client: httpx.AsyncClient | None = None) -> None:
        self.config = config
        self._client = client
        self._own_client = client is None
        self._queue: asyncio.Queue[tuple[dict[str, Any], Delivery]] = asyncio.Queue(QUEUE)
        self._ring: deque[Delivery] = deque(maxlen=max(config.keep, 1))
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._workers: list[asyncio.Task[None]] = []
        self.counts = {"sent": 0, "failed": 0, "dropped": 0}

    # -- the contract -----------------------------------------------------------------------

    def notify(
        self,
        event: str,
        subject: str,
        text: str,
        data: Mapping[str, Any],
        targets: Targets | None = None,
    ) -> None:
        """Queue ``event`` for the global targets plus ``targets``; returns at once."""
        message: dict[str, Any] = {"event": event, "time": _now(), "subject": subject}
        message.update(text=text, data=dict(data))
        deliveries = self._deliveries(message, self.config.targets.merged(targets))
        if not deliveries:
            return
        loop = self._loop
        if loop is not None and not loop.is_closed() and not self._in_loop(loop):
            loop.call_soon_threadsafe(self._enqueue, message, deliveries)
        else:
            self._enqueue(message, deliveries)

    def deliveries(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The recorded deliveries, newest first."""
        items = list(reversed(self._ring))
        return [d.to_dict() for d in items[: limit if limit is not None else len(items)]]

    async def test(self, targets: Targets | None = None) -> list[dict[str, Any]]:
        """Send a ``test`` event to ``targets`` (default: the global ones) now; the outcomes."""
        chosen = targets if targets else self.config.targets
        if not chosen:
            raise InvalidDocument(
                "No notification targets are set: start the orchestrator with "
                "--notify-webhook URL or --notify-email ADDRESS, or send "
                '{"webhook": [URL], "email": [ADDRESS]}.'
            )
        message: dict[str, Any] = {"event": "test", "time": _now(), "data": {}}
        message["subject"] = "wasmfleet test notification"
        message["text"] = "This is a test notification from wasmfleet; delivery works."
        deliveries = self._deliveries(message, chosen)
        for delivery in deliveries:
            self._ring.append(delivery)
        await asyncio.gather(*(self._deliver(message, d) for d in deliveries))
        return [d.to_dict() for d in deliveries]

    # -- hooks ------------------------------------------------------------------------------

    async def device_transition(self, transition: Any) -> None:
        """A monitor listener: ``device.dead`` when a device is declared dead."""
        if transition.status != "dead" or transition.previous == "dead":
            return
        name = transition.device
        self.notify(
            "device.dead",
            f"device {name} is dead",
            f"Device {name} was declared dead: {transition.reason}",
            {"device": name, "previous": str(transition.previous), "reason": transition.reason},
        )

    def rollout_rolled_back(self, record: Any) -> None:
        """``rollout.rolled_back`` for a rollout that was just rolled back."""
        self.notify(
            "rollout.rolled_back",
            f"rollout {record.id} of {record.deployment} rolled back",
            f"The rollout {record.id} of deployment {record.deployment} to {record.target} "
            f"was rolled back: {record.reason or 'no reason recorded'}",
            {
                "rollout": record.id,
                "deployment": record.deployment,
                "to": record.target,
                "reason": record.reason,
                "wave": record.wave,
            },
        )

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the delivery workers (deliveries queued before now are sent too)."""
        self._loop = asyncio.get_running_loop()
        if self._client is None:
            self._client = httpx.AsyncClient(trust_env=False, verify=tls_context(None))
        for n in range(WORKERS):
            self._workers.append(asyncio.create_task(self._work(), name=f"notify-{n}"))

    async def stop(self) -> None:
        """Stop the workers; deliveries still queued are recorded as dropped."""
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers.clear()
        while not self._queue.empty():
            _, delivery = self._queue.get_nowait()
            self._finish(delivery, "dropped", "the orchestrator stopped before it was sent")
        if self._own_client and self._client is not None:
            await self._client.aclose()
            self._client = None
        self._loop = None

    # -- inside -----------------------------------------------------------------------------

    @staticmethod
    def _in_loop(loop: asyncio.AbstractEventLoop) -> bool:
        try:
            return asyncio.get_running_loop() is loop
        except RuntimeError:
            return False

    def _deliveries(self, message: dict[str, Any], targets: Targets) -> list[Delivery]:
        made = []
        for channel, items in (("webhook", targets.webhooks), ("email", targets.emails)):
            for target in items:
                delivery_id = f"n{next(self._ids)}"
                made.append(
                    Delivery(delivery_id, message["event"], message["subject"], channel, target)
                )
        return made

    def _enqueue(self, message: dict[str, Any], deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            self._ring.append(delivery)
            try:
                self._queue.put_nowait((message, delivery))
            except asyncio.QueueFull:
                self._finish(delivery, "dropped", f"more than {QUEUE} deliveries were waiting")

    async def _work(self) -> None:
        while True:
            message, delivery = await self._queue.get()
            try:
                await self._deliver(message, delivery)
            except Exception:  # a bug in a sender must not end the worker
                log.exception("notification delivery failed", extra={"target": delivery.target})
                self._finish(delivery, "failed", "an internal error (see the orchestrator log)")

    async def _deliver(self, message: dict[str, Any], delivery: Delivery) -> None:
        """Try a delivery up to ``attempts`` times, with backoff between tries."""
        delivery.status = "sending"
        for attempt in range(self.config.attempts):
            delivery.attempts = attempt + 1
            try:
                await self._send_once(message, delivery)
            except DeliveryFailed as err:
                delivery.error = err.message
                if not err.retry or attempt + 1 >= self.config.attempts:
                    break
                first = self.config.retry_first_s
                await asyncio.sleep(backoff_delay(attempt, first, first * 8))
            else:
                self._finish(delivery, "sent", None)
                return
        log.warning(
            "notification %s to %s failed after %d attempt(s): %s",
            delivery.event, delivery.target, delivery.attempts, delivery.error,
        )  # fmt: skip
        self._finish(delivery, "failed", delivery.error)

    async def _send_once(self, message: dict[str, Any], delivery: Delivery) -> None:
        config = self.config
        if delivery.channel == "webhook":
            assert self._client is not None, "start() makes the client"
            await post_webhook(
                self._client,
                delivery.target,
                message,
                secret=config.secret,
                delivery=delivery.id,
                timeout=config.timeout_s,
            )
            return
        if config.smtp is None:
            raise DeliveryFailed(
                "no SMTP server is set; start the orchestrator with --smtp-url "
                "smtp://HOST:PORT to send e-mail",
                retry=False,
            )
        context: ssl.SSLContext = tls_context(None)
        await asyncio.to_thread(
            send_mail,
            config.smtp,
            config.sender,
            delivery.target,
            message,
            timeout=config.timeout_s,
            context=context,
        )

    def _finish(self, delivery: Delivery, status: str, error: str | None) -> None:
        delivery.status = status
        delivery.error = error
        delivery.finished_at = _now()
        self.counts[status] = self.counts.get(status, 0) + 1
