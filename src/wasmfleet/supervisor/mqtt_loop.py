"""A paho MQTT client driven by the asyncio event loop, without paho's network thread.

paho's ``loop_start`` runs the socket on a thread of its own, so every message crossed
threads twice: a loop wake-up per arrival and a socket-pair wake-up of paho's thread per
publication, with the GIL handed back and forth each time. Under a stream that was most of
the supervisor's CPU. Here the socket is registered with the event loop instead (paho's
documented external-loop mode: ``on_socket_open/close``, ``on_socket_register_write`` and
``loop_read/loop_write/loop_misc``), so paho's callbacks run on the loop and a publication
is written the next time the loop polls.

Only connecting runs on a worker thread (``connect`` resolves the name, opens the TCP
connection and does the TLS handshake, all blocking); its socket callbacks are handed to
the loop, and so does ``before_connect`` (the supervisor's name check, mqtt_presence.py),
which may answer ``NotNow``: then the next attempt waits the delay it gives;
``before_attempt`` runs on the loop before each attempt (the link may ``use`` another client
then: a fresh one for MQTT 3.1.1 after a broker refused 5). A lost
connection is retried after ``min_delay``, the ceiling doubling up to ``max_delay`` while
the broker stays unreachable, each delay jittered (service/backoff.py). ``pause_reading``
stops reading the socket (the broker then holds further messages: backpressure) until
``resume_reading``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

from wasmfleet.service.backoff import Backoff

log = logging.getLogger("wasmfleet.supervisor.mqtt")
READ_BATCH = 64
"""Packets read from the socket per readiness event at most (QoS 0: one per loop_read)."""
MISC_INTERVAL = 1.0
"""Seconds between ``loop_misc`` calls (keepalive pings, and noticing a silent broker)."""


class NotNow(Exception):
    """Raised by ``before_connect``: do not connect now; try again after ``delay`` seconds."""

    def __init__(self, message: str, delay: float) -> None:
        super().__init__(message)
        self.message = message
        self.delay = delay


class PahoOnLoop:
    """Connects, reads, writes and reconnects one paho client on the running event loop."""

    def __init__(
        self,
        client: mqtt.Client,
        host: str,
        port: int,
        *,
        keepalive: int = 30,
        min_delay: float = 1.0,
        max_delay: float = 10.0,
        on_unreachable: Callable[[str], None] | None = None,
        before_connect: Callable[[], None] | None = None,
        on_not_now: Callable[[NotNow], None] | None = None,
        before_attempt: Callable[[], None] | None = None,
        connect_options: dict[str, Any] | None = None,
    ) -> None:
        self.client = client
        self.host = host
        self.port = port
        self.keepalive = keepalive
        self.min_delay = min_delay
        self.max_delay = max_delay
        self.on_unreachable = on_unreachable
        self.before_connect = before_connect
        """Runs on the connecting thread before each connect; may raise NotNow."""
        self.on_not_now = on_not_now
        self.before_attempt = before_attempt
        self.connect_options = dict(connect_options or {})
        """Extra ``connect`` arguments (MQTT 5: ``clean_start``, CONNECT ``properties``)."""
        self._backoff = Backoff(min_delay, max_delay)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._sock: Any = None
        self._reading = False
        self._paused = False
        self._flush_scheduled = False
        self._stopping = False
        self._closed = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._connecting: asyncio.Future[None] | None = None
        self._hook(client)

    def _hook(self, client: mqtt.Client) -> None:
        client.on_socket_open = self._cb_open
        client.on_socket_close = self._cb_close
        client.on_socket_register_write = self._cb_want_write
        client.on_socket_unregister_write = self._cb_done_writing

    def use(self, client: mqtt.Client, connect_options: dict[str, Any]) -> None:
        """Connect with ``client`` from now on (call from ``before_attempt``: no socket open)."""
        assert self._sock is None, "use() while a connection is open"
        self._hook(client)
        self.client = client
        self.connect_options = dict(connect_options)

    def start(self) -> None:
        """Start connecting in the background (call on the event loop)."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._task = asyncio.ensure_future(self._run())

    def reset_backoff(self) -> None:
        """The broker accepted the connection: the next loss is retried after min_delay."""
        self._backoff.reset()

    async def stop(self, timeout: float = 2.0) -> None:
        """Send DISCONNECT, wait (bounded) for the socket to close, and stop reconnecting."""
        self._stopping = True
        self._wake.set()
        if self._connecting is not None and not self._connecting.done():
            with contextlib.suppress(Exception):  # a connect in progress ends within its timeout
                await asyncio.wait_for(asyncio.shield(self._connecting), timeout + 5)
        if self._sock is not None:
            self._closed.clear()
            self.client.disconnect()
            with contextlib.suppress(Exception):
                self.client.loop_write()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._closed.wait(), timeout)
        if self._sock is not None:  # the broker did not close it: close it ourselves
            sock, self._sock = self._sock, None
            self._forget(sock)
            with contextlib.suppress(OSError):
                sock.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # -- backpressure ---------------------------------------------------------------------

    @property
    def paused(self) -> bool:
        """True while reading is paused."""
        return self._paused

    def pause_reading(self) -> None:
        """Stop taking messages from the socket until ``resume_reading``."""
        self._paused = True
        if self._reading and self._sock is not None and self._loop is not None:
            self._loop.remove_reader(self._sock)
            self._reading = False

    def resume_reading(self) -> None:
        """Take messages again."""
        self._paused = False
        if not self._reading and self._sock is not None and self._loop is not None:
            self._loop.add_reader(self._sock, self._readable)
            self._reading = True
            self._loop.call_soon(self._readable)  # bytes may wait in the TLS buffer

    # -- the connection task --------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        first = True
        wait: float | None = None
        while not self._stopping:
            if self._sock is None:
                if wait is not None:  # told to wait (NotNow)
                    await self._sleep(wait)
                elif not first:  # lost or failed: back off before the next attempt
                    await self._sleep(self._backoff.next())
                if self._stopping:
                    break
                first, wait = False, None
                if self.before_attempt is not None:
                    self.before_attempt()
                self._connecting = loop.run_in_executor(None, self._connect)
                try:
                    await self._connecting
                except NotNow as err:
                    wait = err.delay
                    if self.on_not_now is not None:
                        self.on_not_now(err)
                    continue
                except Exception as err:  # refused, unreachable, TLS: try again later
                    if self.on_unreachable is not None:
                        self.on_unreachable(str(err) or type(err).__name__)
                    continue
                finally:
                    self._connecting = None
            else:
                self.client.loop_misc()
            await self._sleep(MISC_INTERVAL)

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    def _connect(self) -> None:
        """Worker thread: open the socket and send CONNECT (the loop reads the CONNACK)."""
        if self.before_connect is not None:
            self.before_connect()
        if self._stopping:
            raise NotNow("stopping", 0)
        rc = self.client.connect(
            self.host, self.port, keepalive=self.keepalive, **self.connect_options
        )
        if rc != mqtt.MQTT_ERR_SUCCESS:
            raise OSError(mqtt.error_string(rc))

    # -- socket callbacks (the loop, or the connecting thread) ----------------------------

    def _on_loop(self, func: Callable[..., None], *args: Any) -> None:
        if threading.get_ident() == self._loop_thread:
            func(*args)
        elif self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self._loop.call_soon_threadsafe(func, *args)

    def _cb_open(self, client: Any, userdata: Any, sock: Any) -> None:
        self._on_loop(self._opened, sock)

    def _cb_close(self, client: Any, userdata: Any, sock: Any) -> None:
        # Always on the loop: paho closes the socket only while reading or writing, or
        # on disconnect, and all of those run here. The fd is closed right after this
        # returns, so it must leave the loop's poll set now, not later.
        if threading.get_ident() == self._loop_thread:
            self._closing(sock)
        else:  # a reconnect closing a socket the loop no longer watches
            self._on_loop(self._closing, sock)

    def _cb_want_write(self, client: Any, userdata: Any, sock: Any) -> None:
        self._on_loop(self._want_write, sock)

    def _cb_done_writing(self, client: Any, userdata: Any, sock: Any) -> None:
        self._on_loop(self._done_writing, sock)

    def _opened(self, sock: Any) -> None:
        assert self._loop is not None
        self._sock = sock
        if not self._paused:
            self._loop.add_reader(sock, self._readable)
            self._reading = True

    def _closing(self, sock: Any) -> None:
        self._forget(sock)
        if sock is self._sock:
            self._sock = None
            self._closed.set()
            self._wake.set()

    def _forget(self, sock: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(ValueError, OSError):  # already closed
            loop.remove_reader(sock)
            loop.remove_writer(sock)
        if sock is self._sock:
            self._reading = False

    def _want_write(self, sock: Any) -> None:
        # Write once the callbacks that are ready now have run (so a burst of publications
        # and acks goes out in one send), not after another poll: a QoS 1 message is
        # acknowledged only after its result's PUBACK, so every poll round trip added to
        # a message's latency shrinks the broker's in-flight window's throughput.
        if sock is self._sock and self._loop is not None and not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        sock = self._sock
        if sock is None or self._loop is None:
            return
        # paho sends each packet on its own; corked, the burst leaves in full segments
        # (on loopback each uncorked send cost as much as the rest of a message's work).
        corked = _cork(sock, 1)
        try:
            self.client.loop_write()
        finally:
            if corked and self._sock is sock:
                _cork(sock, 0)
        if self._sock is sock and self.client.want_write():  # the socket's buffer is full
            self._loop.add_writer(sock, self._writable)

    def _done_writing(self, sock: Any) -> None:
        if self._loop is not None:
            with contextlib.suppress(ValueError, OSError):
                self._loop.remove_writer(sock)

    def _readable(self) -> None:
        sock = self._sock
        if sock is None or self._paused:
            return
        client = self.client
        for _ in range(READ_BATCH):
            # paho reads one packet per loop_read at QoS 0; read on while whole packets
            # come (paho starts a new _in_packet after each), not one per loop iteration.
            before = getattr(client, "_in_packet", None)
            client.loop_read()
            if self._sock is not sock or self._paused or before is None:
                break
            if getattr(client, "_in_packet", None) is before:  # nothing more to read now
                break
        # TLS: a record read may leave decrypted bytes that poll() cannot see.
        sock = self._sock
        if sock is not None and not self._paused and getattr(sock, "pending", _none)() > 0:
            assert self._loop is not None
            self._loop.call_soon(self._readable)

    def _writable(self) -> None:
        if self._sock is not None:
            self.client.loop_write()


def _none() -> int:
    return 0


def _cork(sock: Any, on: int) -> bool:
    """Set TCP_CORK (Linux); False where it cannot be (another system, not TCP)."""
    if _TCP_CORK is None:
        return False
    try:
        sock.setsockopt(socket.IPPROTO_TCP, _TCP_CORK, on)
    except (OSError, AttributeError, ValueError):
        return False
    return True


_TCP_CORK: int | None = getattr(socket, "TCP_CORK", None)
