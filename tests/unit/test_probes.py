"""``OffLoop`` and ``Probes`` (service/probes.py): one blocking call at a time, bounded waits,
brief reuse of a result, and the 200/503 answers."""

from __future__ import annotations

import asyncio
import threading

import orjson

from wasmfleet.service.lifespan import Lifecycle, Phase
from wasmfleet.service.probes import OffLoop, Probes


def test_concurrent_probes_share_one_call_and_a_hung_one_answers_in_time() -> None:
    release = threading.Event()
    calls: list[int] = []

    def blocking() -> str | None:
        calls.append(1)
        release.wait(10)
        return None

    async def scenario() -> None:
        check = OffLoop(blocking, timeout_s=0.2, fresh_s=60)
        answers = await asyncio.gather(*(check() for _ in range(5)))
        assert all(a is not None and "No answer within 0.2 s" in a for a in answers)
        assert len(calls) == 1  # the next probes waited for the same call
        assert "No answer" in (await check() or "")
        assert len(calls) == 1
        release.set()
        for _ in range(100):  # the call finishes in its thread; its result is then reused
            if await check() is None:
                break
            await asyncio.sleep(0.02)
        assert await check() is None
        assert len(calls) == 1

    asyncio.run(scenario())


def test_an_exception_in_a_check_is_a_failure_with_its_first_line() -> None:
    def broken() -> str | None:
        raise OSError("disk on fire\nsecond line")

    async def scenario() -> None:
        assert await OffLoop(broken, fresh_s=0)() == "disk on fire"

    asyncio.run(scenario())


def test_results_are_reused_only_while_fresh() -> None:
    answers = iter(["first problem", None])

    async def scenario() -> None:
        check = OffLoop(lambda: next(answers), fresh_s=0.0)
        assert await check() == "first problem"
        assert await check() is None

    asyncio.run(scenario())


def test_readyz_names_every_failing_check_and_skips_checks_until_serving() -> None:
    ran: list[str] = []

    async def good() -> str | None:
        ran.append("good")
        return None

    async def bad() -> str | None:
        ran.append("bad")
        return "The widget is missing."

    async def raising() -> str | None:
        raise RuntimeError("bug")

    async def scenario() -> None:
        lifecycle = Lifecycle()
        probes = Probes("thing", lifecycle, {"good": good, "bad": bad, "odd": raising})
        starting = await probes.readyz(None)  # type: ignore[arg-type]
        assert starting.status_code == 503
        assert [c["name"] for c in orjson.loads(starting.body)["checks"]] == ["started"]
        assert ran == []

        lifecycle.phase = Phase.SERVING
        answer = await probes.readyz(None)  # type: ignore[arg-type]
        body = orjson.loads(answer.body)
        assert answer.status_code == 503
        assert body["checks"] == [
            {"name": "started", "ok": True},
            {"name": "good", "ok": True},
            {"name": "bad", "ok": False, "message": "The widget is missing."},
            {"name": "odd", "ok": False, "message": "The check itself failed: bug"},
        ]
        assert body["error"]["status"] == 503
        assert "bad: The widget is missing." in body["error"]["message"]

        healthy = Probes("thing", lifecycle, {"good": good})
        ok = await healthy.readyz(None)  # type: ignore[arg-type]
        assert ok.status_code == 200
        assert orjson.loads(ok.body)["status"] == "ready"

    asyncio.run(scenario())
