"""Hot swap under load: redeploying a new version of a module while 16 callers call it
fails not one call, and the new version answers once the redeploy is answered."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.support import FileServer, SupervisorProcess
from tests.swap_modules import counter_module, serve_version, swap_body, version_module

Start = Callable[..., SupervisorProcess]
CONCURRENCY = 16
SWAPS = 12
ANSWERS_PER_SWAP = 20
"""Answers of the new version each swap waits for before the next one (bounded below)."""
WAIT_S = 30.0


class Load:
    """CONCURRENCY callers of one URL until stopped; every answer and failure kept."""

    def __init__(self, client: httpx.AsyncClient, url: str) -> None:
        self.client = client
        self.url = url
        self.answers: list[str] = []
        self.failures: list[str] = []
        self.stopped = asyncio.Event()
        self.new_answer = asyncio.Event()

    async def caller(self) -> None:
        for _ in range(1_000_000):  # bounded: stopped long before
            if self.stopped.is_set():
                return
            try:
                response = await self.client.get(self.url)
            except httpx.HTTPError as err:
                self.failures.append(f"{type(err).__name__}: {err}")
                continue
            if response.status_code != 200 or not response.json().get("success"):
                self.failures.append(f"{response.status_code} {response.text[:200]}")
                continue
            self.answers.append(response.json()["result"])
            self.new_answer.set()

    async def answers_matching(self, wanted: Callable[[str], bool], count: int) -> None:
        """Wait (bounded) until ``count`` answers that satisfy ``wanted`` arrived after now."""
        start = len(self.answers)
        async with asyncio.timeout(WAIT_S):
            while sum(1 for a in self.answers[start:] if wanted(a)) < count:
                self.new_answer.clear()
                await self.new_answer.wait()


async def swap_under_load(
    sup: SupervisorProcess,
    path: str,
    bodies: list[dict[str, Any]],
    answered_by: Callable[[str, int], bool],
) -> Load:
    """Deploy bodies[0], then alternate through the bodies SWAPS times under load, each
    time until the new version answered ANSWERS_PER_SWAP times (``answered_by(answer, k)``:
    the answer came from the version of bodies[k])."""
    limits = httpx.Limits(max_connections=CONCURRENCY + 2)
    async with httpx.AsyncClient(timeout=30.0, limits=limits) as client:
        first = await client.post(f"{sup.url}/deploy", json=bodies[0])
        assert first.status_code == 200, first.text
        load = Load(client, sup.url + path)
        callers = [asyncio.create_task(load.caller()) for _ in range(CONCURRENCY)]
        try:
            await load.answers_matching(lambda a: answered_by(a, 0), ANSWERS_PER_SWAP)
            for i in range(1, SWAPS + 1):
                k = i % len(bodies)
                deployed = await client.post(f"{sup.url}/deploy", json=bodies[k])
                assert deployed.status_code == 200, deployed.text
                await load.answers_matching(lambda a, k=k: answered_by(a, k), ANSWERS_PER_SWAP)
        finally:
            load.stopped.set()
            await asyncio.gather(*callers)
    return load


def test_swapping_versions_under_load_fails_no_call(
    start_supervisor: Start, tmp_path: Path
) -> None:
    with FileServer(_served(tmp_path)) as files:
        sup = start_supervisor("swap-load")
        versions = [serve_version(files, f"v{v}", version_module(v), ["version"]) for v in (1, 2)]
        bodies = [swap_body("live", "ver", v, ["version"]) for v in versions]
        path = "/live/modules/ver/version"
        load = asyncio.run(swap_under_load(sup, path, bodies, lambda a, k: a == str(k + 1)))

        assert load.failures == []
        assert set(Counter(load.answers)) == {"1", "2"}
        status = sup.get("/api/v1/status").json()
        assert status["swaps"]["swaps"] == SWAPS
        # Every version after the first two came from the compile cache, never recompiled.
        assert status["runtime"]["compiled"] == 2
        installed = sup.get("/deploy").json()[0]["modules"][0]["sha256"]
        assert installed == versions[SWAPS % 2]["sha256"]


def test_state_carried_under_load_loses_no_update(start_supervisor: Start, tmp_path: Path) -> None:
    """Both versions carry the count across swaps (snapshot/restore hooks): every call under
    load, on whichever version, counts exactly once — none runs between snapshot and switch."""
    with FileServer(_served(tmp_path)) as files:
        sup = start_supervisor("swap-state-load")
        offsets = (0, 1_000_000)  # an answer is count + offset: the version is visible
        versions = [serve_version(files, f"c{o}", counter_module(o), ["count"]) for o in offsets]
        bodies = [swap_body("tally", "ctr", v, ["count"]) for v in versions]
        path = "/tally/modules/ctr/count"
        load = asyncio.run(
            swap_under_load(sup, path, bodies, lambda a, k: int(a) // 1_000_000 == k)
        )
        last = sup.get(path).json()["result"]

        assert load.failures == []
        counts = [int(a) % 1_000_000 for a in [*load.answers, last]]
        assert len(counts) == len(set(counts)), "two calls saw the same count: an update was lost"
        assert sorted(counts) == list(range(1, len(counts) + 1))
        assert {int(a) // 1_000_000 for a in load.answers} == {0, 1}
        assert sup.get("/api/v1/status").json()["swaps"]["states_carried"] == SWAPS


def _served(tmp_path: Path) -> Path:
    root = tmp_path / "served"
    root.mkdir()
    return root
