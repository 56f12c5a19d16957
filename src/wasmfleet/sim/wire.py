"""A small HTTP/1.1 keep-alive client for the simulator's heartbeats.

A thousand devices heartbeating twice a second are 2,000 requests a second from one Python
process; a general client (httpx) does much more per request than heartbeats need, and on a
small machine every cycle the simulator spends is taken from the orchestrator being measured.
This one does only what heartbeats need: ``POST``
a JSON body over a pool of persistent plain-HTTP connections and read a ``Content-Length`` or
chunked answer. Any error closes that connection (the next request opens a new one) and is
raised as ``OSError``; TLS orchestrators are reached with httpx instead.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024


class WireError(OSError):
    """The exchange failed (connection refused or reset, malformed or too large an answer)."""


class StaleConnection(WireError):
    """A reused connection was closed by the server before answering (its keep-alive timeout
    ran out): nothing was processed, the request may be sent again on a new connection."""


class Connection:
    """One persistent connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def close(self) -> None:
        """Close without waiting."""
        with contextlib.suppress(Exception):
            self.writer.close()


class KeepAlivePool:
    """At most ``size`` connections to one ``http://host:port``, reused across requests."""

    def __init__(self, url: str, size: int) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"KeepAlivePool speaks plain http:// only, got {url!r}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self._authority = f"{parts.hostname}:{self.port}".encode("latin-1")
        self._idle: list[Connection] = []
        self._slots = asyncio.Semaphore(size)
        self.opened = 0

    async def post_json(self, path: str, body: bytes) -> tuple[int, bytes]:
        """POST ``body`` (JSON) to ``path``; the status and the answer's body."""
        async with self._slots:
            reused = bool(self._idle)
            conn = self._idle.pop() if reused else await self._open()
            try:
                status, answer, keep = await self._exchange(conn, path, body, reused)
            except StaleConnection:
                conn.close()
                conn = await self._open()
                try:
                    status, answer, keep = await self._exchange(conn, path, body, False)
                except BaseException:
                    conn.close()
                    raise
            except BaseException:  # cancelled or failed mid-exchange: never reuse it
                conn.close()
                raise
            if keep:
                self._idle.append(conn)
            else:
                conn.close()
            return status, answer

    async def close(self) -> None:
        """Close every idle connection."""
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    async def _open(self) -> Connection:
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        except OSError as err:
            raise WireError(f"cannot connect to {self.host}:{self.port}: {err}") from err
        self.opened += 1
        return Connection(reader, writer)

    async def _exchange(
        self, conn: Connection, path: str, body: bytes, reused: bool
    ) -> tuple[int, bytes, bool]:
        head = (
            b"POST " + (self.prefix + path).encode("latin-1") + b" HTTP/1.1\r\nHost: "
            + self._authority
            + b"\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
        )  # fmt: skip
        conn.writer.write(head + body)
        try:
            await conn.writer.drain()
            raw = await conn.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError) as err:
            nothing = not isinstance(err, asyncio.IncompleteReadError) or not err.partial
            if reused and nothing and not isinstance(err, asyncio.LimitOverrunError):
                raise StaleConnection(f"the server had closed the connection: {err}") from err
            raise WireError(f"the connection broke: {err}") from err
        if len(raw) > MAX_HEADER_BYTES:
            raise WireError("the answer's headers are too large")
        lines = raw.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise WireError(f"not an HTTP answer: {lines[0][:80]!r}")
        status = int(parts[1])
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip().lower()
        keep = headers.get("connection") != "close" and parts[0] == "HTTP/1.1"
        try:
            if headers.get("transfer-encoding") == "chunked":
                answer = await self._chunked(conn.reader)
            elif "content-length" in headers:
                size = int(headers["content-length"])
                if not 0 <= size <= MAX_BODY_BYTES:
                    raise WireError(f"the answer's body is {size} bytes")
                answer = await conn.reader.readexactly(size)
            else:  # read until the server closes
                answer, keep = await conn.reader.read(MAX_BODY_BYTES), False
        except (asyncio.IncompleteReadError, ConnectionError, ValueError) as err:
            raise WireError(f"the answer broke off: {err}") from err
        return status, answer, keep

    @staticmethod
    async def _chunked(reader: asyncio.StreamReader) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers are sent to us
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                raise WireError(f"the answer's body is over {MAX_BODY_BYTES} bytes")
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
