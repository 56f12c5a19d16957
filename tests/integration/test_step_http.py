"""StepHttp (orchestrator/step_http.py) against a real HTTP/1.1 server on loopback: kept-alive
connections are reused, chunked and close-delimited bodies are read, the query, headers and
bearer arrive, and failures are httpx's errors (connect: did not run; read: may have run)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.support import free_port
from wasmfleet.orchestrator.step_http import StepHttp

ANSWERS = {
    "/length": b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 13\r\n\r\n"
    b'{"result": 7}',
    "/chunked": b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
    b'4\r\n{"a"\r\n5\r\n: 1}\n\r\n0\r\n\r\n',
    "/close": b"HTTP/1.1 500 Internal Server Error\r\nconnection: close\r\n\r\nit failed",
    "/broken": b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nshort",
}


async def _serve(seen: list[str], connections: list[int]) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                seen.append(head)
                path = head.split(" ", 2)[1].split("?", 1)[0]
                writer.write(ANSWERS[path])
                await writer.drain()
                if path in ("/close", "/broken"):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def test_step_http() -> None:
    seen: list[str] = []
    connections: list[int] = []

    async def main() -> None:
        server = await _serve(seen, connections)
        port = server.sockets[0].getsockname()[1]
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient() as client:
            http = StepHttp(client, lambda url: "sekret" if "length" in url else None)
            for _ in range(3):
                first = await http.request(
                    "GET", f"{base}/length", [("n", "a b&c")], {"X-Epoch": "3"}
                )
                assert first.status_code == 200 and first.json() == {"result": 7}
            assert len(connections) == 1  # one kept-alive connection for the three
            assert "GET /length?n=a%20b%26c HTTP/1.1" in seen[0]
            assert "X-Epoch: 3" in seen[0] and "Authorization: Bearer sekret" in seen[0]
            chunked = await http.request("POST", f"{base}/chunked")
            assert chunked.json() == {"a": 1} and "Content-Length: 0" in seen[-1]
            closed = await http.request("GET", f"{base}/close")
            assert closed.status_code == 500 and closed.text == "it failed"
            with pytest.raises(httpx.ReadError, match="broke"):
                await http.request("GET", f"{base}/broken")
            with pytest.raises(httpx.ConnectError):
                await http.request("GET", f"http://127.0.0.1:{free_port()}/length")
            http.close()
        server.close()
        await server.wait_closed()

    asyncio.run(main())
