"""service/http_gate.py: at most ``limit`` requests of a client in flight; a turn ends when the
response is closed, also when the request fails."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from wasmfleet.service.http_gate import GatedTransport


def test_at_most_limit_requests_are_in_flight_and_all_are_answered() -> None:
    now = {"in": 0, "max": 0}

    async def handler(request: httpx.Request) -> httpx.Response:
        now["in"] += 1
        now["max"] = max(now["max"], now["in"])
        await asyncio.sleep(0.01)
        now["in"] -= 1
        if request.url.path == "/fail":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, content=request.url.path.encode())

    gate = GatedTransport(httpx.MockTransport(handler), 3)

    async def scenario() -> list[str]:
        async with httpx.AsyncClient(transport=gate, base_url="http://device") as client:

            async def one(i: int) -> str:
                try:
                    return (await client.get(f"/{'fail' if i % 5 == 0 else i}")).text
                except httpx.ConnectError:
                    return "refused"

            answers = await asyncio.gather(*(one(i) for i in range(40)))
            assert gate.in_flight == 0  # every turn given back, failures included
            return answers

    answers = asyncio.run(scenario())
    assert answers == ["refused" if i % 5 == 0 else f"/{i}" for i in range(40)]
    assert now["max"] == 3


def test_a_gate_needs_a_positive_limit() -> None:
    with pytest.raises(ValueError):
        GatedTransport(httpx.MockTransport(lambda r: httpx.Response(200)), 0)
