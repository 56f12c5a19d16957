"""HTTP load generators for the benchmarks: wrk (parsed), or a bounded one of our own.

``run_wrk`` runs Debian's wrk with ``--latency`` and converts its figures; ``run_python_load``
is the fallback when wrk is missing: asyncio, raw HTTP/1.1 keep-alive sockets, a fixed number
of connections for a fixed duration, every request's latency recorded. Both return
``calls_per_s``, ``p50_ms``, ``p99_ms``, ``errors`` (+ ``errors_detail``), ``requests`` and
``duration_s``.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

REQUEST_TIMEOUT_S = 2.0
"""A request slower than this counts as an error (wrk's --timeout, our read timeout)."""

_TO_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def wrk_time_ms(text: str) -> float:
    """A wrk time figure ('85.00us', '1.02ms', '2.00s', '1.00m') in milliseconds."""
    match = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text.strip())
    if match is None:
        raise ValueError(f"not a wrk time: {text!r}")
    return float(match.group(1)) * _TO_MS[match.group(2)]


def parse_wrk(output: str) -> dict[str, Any]:
    """Rate, latency percentiles and errors from ``wrk --latency`` output."""

    def find(pattern: str) -> re.Match[str]:
        match = re.search(pattern, output, re.MULTILINE)
        if match is None:
            raise ValueError(f"wrk output has no {pattern!r}:\n{output}")
        return match

    done = find(r"^\s*(\d+) requests in (\S+),")
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    counts = map(int, sockets.groups()) if sockets else (0, 0, 0, 0)  # printed only if any
    socket_errors = dict(zip(("connect", "read", "write", "timeout"), counts, strict=True))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", output)
    detail = {"non_2xx_3xx": int(non2xx.group(1)) if non2xx else 0, **socket_errors}
    return {
        "calls_per_s": float(find(r"^Requests/sec:\s*([0-9.]+)").group(1)),
        "p50_ms": wrk_time_ms(find(r"^\s*50%\s+(\S+)").group(1)),
        "p99_ms": wrk_time_ms(find(r"^\s*99%\s+(\S+)").group(1)),
        "errors": sum(detail.values()),
        "errors_detail": detail,
        "requests": int(done.group(1)),
        "duration_s": wrk_time_ms(done.group(2)) / 1e3,
    }


def run_wrk(
    url: str, connections: int, threads: int, seconds: int, *, script: Path | None = None
) -> dict[str, Any]:
    """One wrk run (``wrk -tT -cC -dS --latency``, with a Lua ``script`` if given), parsed."""
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script is not None:
        cmd += ["-s", str(script)]
    cmd += ["--timeout", f"{REQUEST_TIMEOUT_S:g}s", url]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    return parse_wrk(proc.stdout)


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = dict(line.lower().split(":", 1) for line in lines[1:] if ":" in line)
    length = headers.get("content-length")
    if length is None:
        raise ValueError("response without content-length")
    await reader.readexactly(int(length))
    return status, headers.get("connection", "").strip() != "close"


async def _connection(
    host: str, port: int, request: bytes, stop_at: float, latencies: list[float], errors: list[int]
) -> None:
    """One keep-alive connection sending requests back to back until ``stop_at``."""
    writer: asyncio.StreamWriter | None = None
    reader: asyncio.StreamReader | None = None
    try:
        while time.perf_counter() < stop_at:
            try:
                if writer is None or reader is None:
                    connecting = asyncio.open_connection(host, port)
                    reader, writer = await asyncio.wait_for(connecting, REQUEST_TIMEOUT_S)
                started = time.perf_counter()
                writer.write(request)
                reading = _read_response(reader)
                status, keep = await asyncio.wait_for(reading, REQUEST_TIMEOUT_S)
                latencies.append(time.perf_counter() - started)
                if status > 399:  # what wrk counts as "Non-2xx or 3xx"
                    errors[0] += 1
                if not keep:
                    writer.close()
                    writer = reader = None
            except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError, IndexError):
                errors[1] += 1
                if writer is not None:
                    writer.close()
                writer = reader = None
                await asyncio.sleep(0.01)
    finally:
        if writer is not None:
            writer.close()


async def _python_load(url: str, connections: int, seconds: float) -> dict[str, Any]:
    parsed = httpx.URL(url)
    host, port = parsed.host, parsed.port or 80
    target = parsed.raw_path.decode("ascii")
    request = f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    latencies: list[float] = []
    errors = [0, 0]  # [status, socket]
    started = time.perf_counter()
    stop_at = started + seconds
    tasks = [
        _connection(host, port, request, stop_at, latencies, errors) for _ in range(connections)
    ]
    await asyncio.wait_for(asyncio.gather(*tasks), seconds + 3 * REQUEST_TIMEOUT_S + 5)
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return (
            latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1e3 if latencies else 0.0
        )

    detail = {"non_2xx_3xx": errors[0], "socket": errors[1]}
    return {
        "calls_per_s": len(latencies) / elapsed,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "errors": sum(detail.values()),
        "errors_detail": detail,
        "requests": len(latencies),
        "duration_s": elapsed,
    }


def run_python_load(url: str, connections: int, seconds: float) -> dict[str, Any]:
    """The fallback generator: asyncio keep-alive sockets, fixed connections and duration."""
    return asyncio.run(_python_load(url, connections, seconds))
