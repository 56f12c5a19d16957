"""Ship ``wasmfleet`` log records to the orchestrator's log collector, off the request path.

``LogShipper`` is a ``logging.Handler``: ``emit`` only turns a record into a payload and puts it on
a bounded in-memory queue (full: the oldest record is dropped and counted). A daemon thread drains
the queue in batches and POSTs one form field ``logData`` (JSON) per record over one keep-alive
``httpx.Client``. A failed post is counted and not retried; the endpoint is then backed off
(1 s doubling to 30 s) while new records wait in the queue. Records made by the shipper's own
thread, by this module's logger, or by httpx/httpcore are never shipped (no feedback loops).
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from wasmfleet.service.backoff import Backoff
from wasmfleet.service.http_clients import tls_context
from wasmfleet.service.logs import ROOT_LOGGER, extra_fields, parse_level, stamp_trace
from wasmfleet.supervisor.settings import SupervisorSettings

log = logging.getLogger(__name__)

_NEVER_SHIP = ("httpx", "httpcore", "h11", "hpack", __name__)
_BACKOFF_FIRST_S = 1.0
_BACKOFF_MAX_S = 30.0
_FORMATTER = logging.Formatter()


def log_endpoint_for(orchestrator_url: str) -> str:
    """The wasmiot orchestrator's log collector URL for an orchestrator base URL."""
    return orchestrator_url.rstrip("/") + "/device/logs"


class LogShipper(logging.Handler):
    """A logging handler that queues records and a thread that posts them to a log endpoint."""

    def __init__(
        self,
        settings: SupervisorSettings,
        *,
        client_factory: Callable[[], httpx.Client] | None = None,
        queue_size: int = 10_000,
        batch_size: int = 100,
        idle_wait_s: float = 0.5,
    ) -> None:
        super().__init__(level=parse_level(settings.ship_log_level))
        self._device_name = settings.name
        self._device_ip = settings.public_address  # may probe the routing table: compute once
        self._explicit_endpoint = settings.log_endpoint is not None
        self._endpoint: str | None = settings.resolved_log_endpoint
        self._client_factory = client_factory or (
            lambda: httpx.Client(verify=tls_context(settings.ca_file), timeout=5.0)
        )
        self._batch_size = max(1, batch_size)
        self._idle_wait_s = idle_wait_s
        self._queue: collections.deque[dict[str, Any]] = collections.deque()
        self._queue_size = max(1, queue_size)
        self._cond = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._deadline = float("inf")
        self._backoff = Backoff(_BACKOFF_FIRST_S, _BACKOFF_MAX_S)
        self._retry_at = 0.0
        self._shipped = self._failed = self._dropped = 0
        self._in_flight = 0

    # -- configuration ---------------------------------------------------------------------

    @property
    def endpoint(self) -> str | None:
        """Where records are posted now, or None when shipping is off."""
        return self._endpoint

    def set_endpoint(self, url: str | None) -> None:
        """Post to ``url`` from now on (None turns shipping off); resets the back-off."""
        with self._cond:
            self._endpoint = url
            self._backoff.reset()
            self._retry_at = 0.0
            self._cond.notify_all()

    def follow_orchestrator(self, orchestrator_url: str) -> None:
        """Ship to a new orchestrator's collector, unless a log endpoint was configured."""
        if not self._explicit_endpoint:
            self.set_endpoint(log_endpoint_for(orchestrator_url))

    def stats(self) -> dict[str, Any]:
        """Counters (shipped, failed, dropped), queue state and the current endpoint."""
        with self._cond:
            return {
                "shipped": self._shipped,
                "failed": self._failed,
                "dropped": self._dropped,
                "queued": len(self._queue),
                "in_flight": self._in_flight,
                "endpoint": self._endpoint,
            }

    # -- logging.Handler -------------------------------------------------------------------

    def filter(self, record: logging.LogRecord) -> bool:
        """Skip records nobody would receive, and those that would loop back (before locking)."""
        if self._endpoint is None or not self._wanted(record):
            return False
        return bool(super().filter(record))

    def emit(self, record: logging.LogRecord) -> None:
        """Queue a record for shipping; never blocks on the network and never raises."""
        try:
            payload = self._payload(record)
        except Exception:
            with self._cond:
                self._dropped += 1
            return
        with self._cond:
            if len(self._queue) >= self._queue_size:
                self._queue.popleft()
                self._dropped += 1
            self._queue.append(payload)
            self._cond.notify()

    def _wanted(self, record: logging.LogRecord) -> bool:
        if self._thread is not None and threading.get_ident() == self._thread.ident:
            return False
        name = record.name
        if any(name == bad or name.startswith(bad + ".") for bad in _NEVER_SHIP):
            return False
        return name == ROOT_LOGGER or name.startswith(ROOT_LOGGER + ".")

    def _payload(self, record: logging.LogRecord) -> dict[str, Any]:
        created = datetime.fromtimestamp(record.created, tz=UTC)
        payload: dict[str, Any] = {
            "timestamp": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "loggingTime": _FORMATTER.formatTime(record),
            "levelname": record.levelname,
            "message": record.getMessage(),
            "moduleName": record.module,
            "funcName": record.funcName,
            "deviceName": self._device_name,
            "deviceIP": self._device_ip,
            "logger": record.name,
        }
        if record.exc_info:
            payload["exception"] = _FORMATTER.formatException(record.exc_info)
        stamp_trace(record)  # emit runs in the logging thread: the call's trace is current
        for key, value in extra_fields(record).items():
            payload.setdefault(key, value)
        return payload

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, logger: logging.Logger | None = None) -> None:
        """Attach to the ``wasmfleet`` logger (or ``logger``) and start the shipping thread."""
        target = logger or logging.getLogger(ROOT_LOGGER)
        if self not in target.handlers:
            target.addHandler(self)
        if self._thread is None:
            self._stopping = False
            self._deadline = float("inf")
            self._thread = threading.Thread(target=self._run, name="wasmfleet-logship", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 2.0, logger: logging.Logger | None = None) -> None:
        """Detach, ship what can be shipped within ``timeout`` seconds, then stop the thread."""
        target = logger or logging.getLogger(ROOT_LOGGER)
        target.removeHandler(self)
        thread = self._thread
        with self._cond:
            self._stopping = True
            self._deadline = time.monotonic() + max(0.0, timeout)
            self._cond.notify_all()
        if thread is not None:
            thread.join(timeout + 1.0)
        with self._cond:
            if thread is None or not thread.is_alive():
                self._dropped += len(self._queue)
                self._queue.clear()
                self._thread = None

    def close(self) -> None:
        """Stop shipping (quickly) when the logging system shuts down."""
        if self._thread is not None:
            self.stop(timeout=0.5)
        super().close()

    # -- the shipping thread ---------------------------------------------------------------

    def _next_batch(self) -> list[dict[str, Any]] | None:
        """Wait for records to ship; None means the thread should end."""
        with self._cond:
            while True:
                now = time.monotonic()
                if self._stopping and (
                    now >= self._deadline or not self._queue or self._endpoint is None
                ):
                    return None
                if self._stopping and now < self._retry_at and self._deadline <= self._retry_at:
                    return None  # still backing off when time is up: give up on the rest
                ready = self._queue and self._endpoint is not None and now >= self._retry_at
                if ready:
                    count = min(self._batch_size, len(self._queue))
                    self._in_flight = count
                    return [self._queue.popleft() for _ in range(count)]
                wait = self._idle_wait_s
                if self._queue and self._endpoint is not None:
                    wait = min(wait, self._retry_at - now)
                if self._stopping:
                    wait = min(wait, self._deadline - now)
                self._cond.wait(max(0.01, wait))

    def _run(self) -> None:
        client = self._client_factory()
        try:
            while (batch := self._next_batch()) is not None:
                try:
                    self._ship(client, batch)
                except Exception:  # a bug must not end shipping: count the batch and go on
                    log.exception("log shipper failed on a batch")
                    with self._cond:
                        self._failed += self._in_flight
                        self._in_flight = 0
        finally:
            client.close()

    def _ship(self, client: httpx.Client, batch: list[dict[str, Any]]) -> None:
        for index, payload in enumerate(batch):
            endpoint = self._endpoint
            if endpoint is None or (self._stopping and time.monotonic() >= self._deadline):
                with self._cond:
                    self._requeue_locked(batch[index:])
                return
            error = self._post(client, endpoint, payload)
            with self._cond:
                self._in_flight -= 1
                if error is None:
                    self._shipped += 1
                    self._backoff.reset()
                    continue
                self._failed += 1
                if self._endpoint != endpoint:
                    continue  # the target changed meanwhile: try the next record there
                backoff = self._backoff.next()
                self._retry_at = time.monotonic() + backoff
                self._requeue_locked(batch[index + 1 :])
            log.warning(
                "shipping logs to %s failed (%s); pausing for %.1f s",
                endpoint,
                error,
                backoff,
                extra={"endpoint": endpoint},
            )
            return

    def _post(self, client: httpx.Client, endpoint: str, payload: dict[str, Any]) -> str | None:
        """Post one record; None on success, else a short reason."""
        try:
            data = {"logData": json.dumps(payload, default=str, ensure_ascii=False)}
            response = client.post(endpoint, data=data)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        except Exception as exc:  # a bad URL or anything else: count it, never crash
            return f"{type(exc).__name__}: {exc}"
        if not response.is_success:
            return f"HTTP {response.status_code}"
        return None

    def _requeue_locked(self, rest: list[dict[str, Any]]) -> None:
        """Put unsent records back in front of the queue, dropping the oldest if it overflows."""
        self._in_flight -= len(rest)
        if not rest:
            return
        combined = rest + list(self._queue)
        excess = len(combined) - self._queue_size
        if excess > 0:
            self._dropped += excess
            combined = combined[excess:]
        self._queue.clear()
        self._queue.extend(combined)
