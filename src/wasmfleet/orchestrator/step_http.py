"""The hot path of executions: bodyless HTTP/1.1 calls to supervisors over kept-alive sockets.

An execution makes two requests per step (the call, then its request-history entry). Through
httpx, each costs about a millisecond of CPU at one client and twice that at 16: its
connection pool scans every connection, with a ``poll`` system call each, on every request
and every response (bench/executions.py, bench/README.md). ``StepHttp`` sends those two
requests itself: plain ``http://`` origins, no body (or an empty one), a LIFO pool of idle
connections per origin whose closing the event loop already noticed (``at_eof``), and an
``StepAnswer`` as the answer (status, headers, body, its JSON parsed once; building an
``httpx.Response`` for each answer cost more than reading it), which the rest of the
orchestrator reads as it reads an ``httpx.Response`` (``answers.Answered``). Anything
else — ``https://`` (TLS, the CA file), request bodies (execution files) — goes through the
orchestrator's httpx client. A device's control bearer (a joined device) is added as the
httpx client's ``ControlAuth`` adds it.

Errors are httpx's: a connection that cannot be made is ``httpx.ConnectError`` or
``httpx.ConnectTimeout`` (the call certainly did not run), a connection that breaks later is
``httpx.ReadError`` (it may have run). Every read is bounded in size.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

CONNECT_TIMEOUT_S = 5.0
IDLE_S = 10.0
"""A connection idle longer than this is closed, not reused (supervisors keep 30 s)."""
MAX_IDLE_PER_ORIGIN = 64
MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024

Origin = tuple[str, int]
Idle = tuple[asyncio.StreamReader, asyncio.StreamWriter, float]
_UNREAD = object()


class StepAnswer:
    """A supervisor's answer read by ``StepHttp``: what the execution code reads of an
    ``httpx.Response``, with the JSON body parsed at most once."""

    __slots__ = ("_json", "_pairs", "content", "status_code")

    def __init__(self, status_code: int, pairs: list[tuple[str, str]], content: bytes) -> None:
        self.status_code = status_code
        self.content = content
        self._pairs = pairs
        self._json: Any = _UNREAD

    @property
    def headers(self) -> httpx.Headers:
        """The answer's headers."""
        return httpx.Headers(self._pairs)

    @property
    def text(self) -> str:
        """The body as text (UTF-8, undecodable bytes replaced)."""
        return self.content.decode("utf-8", errors="replace")

    @property
    def reason_phrase(self) -> str:
        """The status code's reason phrase."""
        return httpx.codes.get_reason_phrase(self.status_code)

    def json(self, **kwargs: Any) -> Any:
        """The body parsed as JSON (ValueError when it is not), parsed once."""
        if self._json is _UNREAD:
            self._json = json.loads(self.content, **kwargs)
        return self._json


class StepHttp:
    """Bodyless requests to plain-HTTP supervisors, kept alive; others through ``client``."""

    def __init__(
        self, client: httpx.AsyncClient, bearer_for: Callable[[str], str | None] | None
    ) -> None:
        self.client = client
        self.bearer_for = bearer_for
        self._idle: dict[Origin, list[Idle]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    async def request(
        self,
        method: str,
        url: str,
        params: Sequence[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> StepAnswer | httpx.Response:
        """Send ``method url?params`` without a body; the answer, read whole."""
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            return await self.client.request(
                method, url, params=list(params), headers=headers, timeout=None
            )
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # connections belong to one event loop
            self._idle, self._loop = {}, loop
        origin = (parts.hostname, parts.port or 80)
        target = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
        query = "&".join(f"{quote(str(k), safe='')}={quote(str(v), safe='')}" for k, v in params)
        if parts.query:
            query = f"{parts.query}&{query}" if query else parts.query
        if query:
            target = f"{target}?{query}"
        lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        bearer = self.bearer_for(url) if self.bearer_for is not None else None
        if bearer is not None and not any(k.lower() == "authorization" for k in headers or {}):
            lines.append(f"Authorization: Bearer {bearer}")
        if method not in ("GET", "HEAD", "DELETE"):
            lines.append("Content-Length: 0")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        reader, writer = await self._connection(origin, url)
        keep = False
        try:
            writer.write(head)
            status, pairs, body, keep = await _read_response(reader, method)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as err:
            raise httpx.ReadError(
                f"the connection to {parts.netloc} broke: {str(err) or type(err).__name__}"
            ) from None
        finally:
            if keep:
                self._release(origin, reader, writer)
            else:
                writer.close()
        return StepAnswer(status, pairs, body)

    async def _connection(
        self, origin: Origin, url: str
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """An idle connection to ``origin`` still open, else a new one."""
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            reader, writer, since = idle.pop()
            if reader.at_eof() or writer.is_closing() or now - since > IDLE_S:
                writer.close()
                continue
            return reader, writer
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                return await asyncio.open_connection(*origin, limit=MAX_HEAD_BYTES)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {url} timed out") from None
        except OSError as err:
            raise httpx.ConnectError(str(err) or type(err).__name__) from None

    def _release(
        self, origin: Origin, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        idle = self._idle.setdefault(origin, [])
        if len(idle) >= MAX_IDLE_PER_ORIGIN or reader.at_eof():
            writer.close()
            return
        idle.append((reader, writer, time.monotonic()))

    def close(self) -> None:
        """Close every idle connection."""
        for idle in self._idle.values():
            for _, writer, _ in idle:
                writer.close()
        self._idle.clear()


async def _read_response(
    reader: asyncio.StreamReader, method: str
) -> tuple[int, list[tuple[str, str]], bytes, bool]:
    """Status, headers, body and whether the connection may be reused."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    status = int(rest.split(" ", 1)[0])
    pairs: list[tuple[str, str]] = []
    length: int | None = None
    chunked = False
    keep = version == "HTTP/1.1"
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        value = value.strip()
        pairs.append((name, value))
        lower = name.lower()
        if lower == "content-length":
            length = int(value)
        elif lower == "transfer-encoding":
            chunked = "chunked" in value.lower()
        elif lower == "connection":
            keep = value.lower() == "keep-alive" or (keep and value.lower() != "close")
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return status, pairs, b"", keep
    if chunked:
        body = await _read_chunked(reader)
        pairs = [(k, v) for k, v in pairs if k.lower() != "transfer-encoding"]
    elif length is not None:
        if length > MAX_BODY_BYTES:
            raise ValueError(f"an answer of {length} bytes is larger than {MAX_BODY_BYTES}")
        body = await reader.readexactly(length)
    else:  # read to the end of the connection
        chunks = bytearray()
        while chunk := await reader.read(65536):
            chunks += chunk
            if len(chunks) > MAX_BODY_BYTES:
                raise ValueError(f"an answer is larger than {MAX_BODY_BYTES} bytes")
        body, keep = bytes(chunks), False
    return status, pairs, body, keep


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    """A chunked body, bounded in size and count."""
    out = bytearray()
    for _ in range(1_000_000):
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            for _ in range(100):  # trailers, up to the empty line
                if await reader.readuntil(b"\r\n") == b"\r\n":
                    return bytes(out)
            raise ValueError("an answer has too many trailers")
        if len(out) + size > MAX_BODY_BYTES:
            raise ValueError(f"an answer is larger than {MAX_BODY_BYTES} bytes")
        out += await reader.readexactly(size)
        await reader.readexactly(2)
    raise ValueError("an answer has too many chunks")
