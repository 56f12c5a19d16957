"""The embedded MQTT broker: amqtt on 127.0.0.1, so a laptop fleet needs no Mosquitto.

It listens on loopback only — never on a network interface — so it allows anonymous clients;
a fleet that spans machines uses a real broker (Mosquitto, EMQX) with credentials and TLS.
Three ways to run it:

    async with EmbeddedBroker(port=0) as broker:     # asyncio: in the running loop
        broker.url                                   # "mqtt://127.0.0.1:<port>"

    with BrokerThread(port=0) as broker:             # sync code: its own loop in a thread
        broker.url

    wasmfleet broker --port 1883                     # a process (``run_broker``), Ctrl-C stops

Port 0 asks the kernel for a free port; ``port``/``url`` tell which one it got. A port that is
taken is a ``ConfigurationError`` saying so. amqtt's own log lines go to the ``amqtt`` logger.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wasmfleet.core.errors import ConfigurationError, Unavailable
from wasmfleet.service.logs import JsonFormatter, TextFormatter

LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 1883

log = logging.getLogger("wasmfleet.messaging.embedded")
BROKER_LOGGERS = {"amqtt": logging.INFO, "transitions": logging.WARNING, log.name: logging.INFO}
"""Loggers of the broker and their levels in a log file: amqtt, its state machines, this module."""


def _not_startup_failure(record: logging.LogRecord) -> bool:
    """Drop amqtt's traceback for a failed start: ``start`` raises a sentence instead."""
    return record.msg != "Broker startup failed"


logging.getLogger("amqtt.broker").addFilter(_not_startup_failure)


def broker_config(port: int) -> dict[str, Any]:
    """amqtt's configuration: one TCP listener on 127.0.0.1:port, anonymous clients allowed."""
    if not 0 <= port <= 65535:
        raise ConfigurationError(f"Broker port {port} is out of range; use 1 to 65535 (0: any).")
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{LOOPBACK}:{port}"}},
        # Only the anonymous-auth plugin: no $SYS publisher, no per-packet logging.
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }


class EmbeddedBroker:
    """An amqtt broker bound to 127.0.0.1:``port``, started and stopped in the running loop."""

    def __init__(self, port: int = DEFAULT_PORT) -> None:
        self._config = broker_config(port)
        self._wanted = port
        self._broker: Any = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        """The port it listens on (known once started)."""
        if self._port is None:
            raise RuntimeError("the embedded broker is not started")
        return self._port

    @property
    def url(self) -> str:
        """``mqtt://127.0.0.1:<port>``."""
        return f"mqtt://{LOOPBACK}:{self.port}"

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """The (host, port) of every listening socket (for checks: loopback only)."""
        if self._broker is None:
            return []
        names: list[tuple[str, int]] = []
        for server in self._broker._servers.values():
            for sock in getattr(server.instance, "sockets", None) or ():
                host, port = sock.getsockname()[:2]
                names.append((str(host), int(port)))
        return names

    async def start(self) -> EmbeddedBroker:
        """Listen; ConfigurationError when the port is taken or cannot be bound."""
        from amqtt.broker import Broker
        from amqtt.errors import BrokerError

        if self._broker is not None:
            return self
        broker = Broker(self._config)
        try:
            await broker.start()
        except BrokerError as err:
            cause = err.__cause__ or err
            raise ConfigurationError(
                f"The embedded broker cannot listen on {LOOPBACK}:{self._wanted} ({cause}); "
                "is another broker running there? Pick another port with --port."
            ) from None
        self._broker = broker
        ports = [port for _, port in self.addresses]
        self._port = ports[0] if ports else self._wanted
        log.info("embedded broker listening", extra={"url": self.url})
        return self

    async def stop(self) -> None:
        """Disconnect every client and stop listening (idempotent)."""
        broker, self._broker = self._broker, None
        if broker is not None:
            await broker.shutdown()
            log.info("embedded broker stopped")

    async def __aenter__(self) -> EmbeddedBroker:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class BrokerThread:
    """The embedded broker in a background thread with its own event loop (for sync callers).

    With ``log_path``, the broker's log lines (amqtt's included) go to that file only, not to
    the terminal of the program that hosts it, as text or json (``log_format``, the formats of
    service/logs.py).
    """

    def __init__(
        self, port: int = DEFAULT_PORT, *, log_path: Path | None = None, log_format: str = "text"
    ) -> None:
        self.broker = EmbeddedBroker(port)
        self.log_path = log_path
        self.log_format = log_format
        self._handler: logging.Handler | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        """The port it listens on."""
        return self.broker.port

    @property
    def url(self) -> str:
        """``mqtt://127.0.0.1:<port>``."""
        return self.broker.url

    def start(self, timeout: float = 10.0) -> BrokerThread:
        """Start the thread and wait until the broker listens (errors are raised here)."""
        if self._thread is not None:
            return self
        self._log_to_file()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="embedded-broker", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout):
            self.stop()
            raise Unavailable(f"The embedded broker did not start within {timeout:g} s.")
        if self._error is not None:
            self._thread.join(timeout)
            self._thread = None
            self._close_log()
            raise self._error
        return self

    def _log_to_file(self) -> None:
        if self.log_path is None or self._handler is not None:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(self.log_path)
        json_lines = self.log_format == "json"
        handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
        handler._wasmfleet_broker_file = True  # type: ignore[attr-defined]
        for name, level in BROKER_LOGGERS.items():
            logger = logging.getLogger(name)
            logger.addHandler(handler)
            logger.setLevel(level)
            logger.propagate = False
        self._handler = handler

    def _close_log(self) -> None:
        handler, self._handler = self._handler, None
        if handler is not None:
            for name in BROKER_LOGGERS:
                logger = logging.getLogger(name)
                logger.removeHandler(handler)
                # another BrokerThread (up's second broker) may still write these loggers
                others = [h for h in logger.handlers if getattr(h, "_wasmfleet_broker_file", 0)]
                logger.propagate = not others
            handler.close()

    def _run(self) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        loop.set_task_factory(_retrieving_task)
        try:
            loop.run_until_complete(self.broker.start())
        except BaseException as err:  # handed to start()
            self._error = err
            self._started.set()
            loop.close()
            return
        self._started.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self.broker.stop())
            _cancel_rest(loop)
            loop.close()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the broker and join the thread (bounded by ``timeout``; idempotent)."""
        thread, self._thread = self._thread, None
        loop = self._loop
        if thread is None or loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        if thread.is_alive():
            log.warning("the embedded broker thread did not stop within %s s", timeout)
        self._close_log()

    def __enter__(self) -> BrokerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _retrieving_task(
    loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any
) -> asyncio.Task[Any]:
    """A task of the broker's loop whose failure becomes a line of the broker's log when it
    ends. amqtt leaves the exceptions of client handlers that fail while it stops
    unretrieved; asyncio then printed "Task exception was never retrieved" with a traceback
    on the console of ``wasmfleet up`` whenever the task object was freed, after the
    broker's log file was closed."""
    task: asyncio.Task[Any] = asyncio.Task(coro, loop=loop, **kwargs)
    task.add_done_callback(_log_failure)
    return task


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and (err := task.exception()) is not None:
        log.info("broker task %s ended: %s: %s", task.get_name(), type(err).__name__, err)


def _cancel_rest(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel the tasks amqtt left behind (client handlers) and let them finish."""
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.wait(tasks, timeout=5))


async def serve(port: int, on_ready: Callable[[EmbeddedBroker], None] | None = None) -> None:
    """Run the broker until SIGINT or SIGTERM, then stop it cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
    try:
        async with EmbeddedBroker(port) as broker:
            if on_ready is not None:
                on_ready(broker)
            await stop.wait()
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)


def run_broker(port: int, on_ready: Callable[[EmbeddedBroker], None] | None = None) -> None:
    """Blocking: run the broker in this process until Ctrl-C or SIGTERM."""
    asyncio.run(serve(port, on_ready))
