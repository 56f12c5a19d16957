"""HTTP registration with a (fake, but real HTTP) orchestrator on loopback."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import httpx
import pytest

from tests.integration.fake_orchestrator import FakeOrchestrator, running_orchestrator
from wasmfleet.core.errors import InvalidDocument
from wasmfleet.supervisor.registration import REGISTER_PATH, Registrar
from wasmfleet.supervisor.settings import SupervisorSettings

WAIT_S = 10.0


@pytest.fixture
def orch() -> Iterator[FakeOrchestrator]:
    with running_orchestrator() as fake:
        yield fake


def settings_for(url: str | None, **changes: Any) -> SupervisorSettings:
    values: dict[str, Any] = {"name": "dev-a", "host": "127.0.0.1", "port": 5123}
    values.update(changes)
    return SupervisorSettings(orchestrator_url=url, **values)


def make_registrar(settings: SupervisorSettings, **kwargs: Any) -> Registrar:
    kwargs.setdefault("first_backoff_s", 0.05)
    kwargs.setdefault("max_backoff_s", 0.2)
    return Registrar(settings, lambda: httpx.AsyncClient(timeout=5.0), **kwargs)


async def eventually(predicate: Callable[[], bool], timeout: float = WAIT_S) -> bool:
    """Poll ``predicate`` without blocking the event loop; False after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 60))


def registrations(orch: FakeOrchestrator, status: int | None = None) -> list[Any]:
    reqs = orch.requests_to(REGISTER_PATH, "POST")
    return [r for r in reqs if status is None or r.status == status]


def test_registers_on_start_with_the_wasmiot_body(orch: FakeOrchestrator) -> None:
    async def scenario() -> None:
        registrar = make_registrar(settings_for(orch.url))
        assert registrar.orchestrator_set is True
        await registrar.start()
        try:
            # Counted once the answer is back, just after the fake recorded the request.
            assert await eventually(lambda: registrar.stats()["registrations_ok"] >= 1)
        finally:
            await registrar.stop()
        assert registrar.stats()["registrations_ok"] == 1

    run(scenario())
    [request] = registrations(orch)
    assert request.json == {
        "name": "dev-a",
        "port": 5123,
        "properties": {"path": "/", "tls": "0", "address": "127.0.0.1"},
        "addresses": ["127.0.0.1"],
    }


def test_retries_after_errors_then_recovers(orch: FakeOrchestrator) -> None:
    orch.fail(503, times=2)

    async def scenario() -> None:
        registrar = make_registrar(settings_for(orch.url))
        await registrar.start()
        try:
            assert await eventually(lambda: registrar.stats()["registrations_ok"] >= 1)
        finally:
            await registrar.stop()
        stats = registrar.stats()
        assert stats["registrations_failed"] == 2
        assert stats["registrations_ok"] == 1

    run(scenario())
    assert [r.status for r in registrations(orch)] == [503, 503, 200]


def test_start_does_not_wait_for_an_unreachable_orchestrator() -> None:
    async def scenario() -> None:
        # Nothing listens on port 9 of loopback: every attempt is refused.
        registrar = make_registrar(settings_for("http://127.0.0.1:9"), max_attempts=3)
        await asyncio.wait_for(registrar.start(), 5)
        try:
            assert await eventually(lambda: registrar.stats()["registrations_failed"] >= 3)
        finally:
            await registrar.stop()
        assert registrar.stats()["registrations_ok"] == 0
        assert registrar.stats()["last_error"]

    run(scenario())


def test_gives_up_after_bounded_attempts_per_cycle(orch: FakeOrchestrator) -> None:
    orch.fail(503)

    async def scenario() -> None:
        registrar = make_registrar(settings_for(orch.url), max_attempts=3)
        await registrar.start()
        try:
            assert await eventually(lambda: len(registrations(orch)) >= 3)
            await asyncio.sleep(0.5)  # room for a fourth attempt, which must not come
        finally:
            await registrar.stop()

    run(scenario())
    assert len(registrations(orch)) == 3


def test_registers_again_when_health_checks_stop(orch: FakeOrchestrator) -> None:
    interval = 0.5

    async def scenario() -> None:
        registrar = make_registrar(settings_for(orch.url, reregister_after_s=interval))
        await registrar.start()
        try:
            assert await eventually(lambda: len(registrations(orch)) >= 3)
        finally:
            await registrar.stop()

    run(scenario())
    times = [r.received_at for r in registrations(orch)]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # The watchdog waits a whole quiet interval after each registration: no hammering.
    assert all(gap >= interval * 0.9 for gap in gaps), gaps


def test_no_reregistration_while_health_checks_arrive(orch: FakeOrchestrator) -> None:
    interval = 0.5

    async def scenario() -> None:
        registrar = make_registrar(settings_for(orch.url, reregister_after_s=interval))
        await registrar.start()
        try:
            assert await eventually(lambda: len(registrations(orch)) >= 1)
            for _ in range(40):  # 2 s = four quiet intervals, each one interrupted
                assert registrar.note_health_check("127.0.0.1")  # the orchestrator's address
                await asyncio.sleep(0.05)
            age = registrar.stats()["last_health_check_age_s"]
            assert age is not None and age < interval
        finally:
            await registrar.stop()

    run(scenario())
    assert len(registrations(orch)) == 1


def test_only_health_checks_from_the_orchestrator_count(orch: FakeOrchestrator) -> None:
    async def scenario() -> None:
        registrar = make_registrar(settings_for(orch.url))
        await registrar.start()
        try:
            assert await eventually(lambda: registrar.stats()["registrations_ok"] >= 1)
            assert registrar.stats()["orchestrator_addresses"] == ["127.0.0.1"]
            assert registrar.note_health_check("127.0.0.2") is False  # another host's probe
            assert registrar.note_health_check(None) is False
            assert registrar.stats()["last_contact_age_s"] is None
            assert registrar.note_health_check("::ffff:127.0.0.1") is True
            assert registrar.note_health_check("127.0.0.1") is True
            # A wasmfleet orchestrator (it acknowledged a heartbeat) does not poll devices that
            # push: from then on /health is somebody's probe, even from the orchestrator's host.
            registrar.note_heartbeat_ack()
            assert registrar.note_health_check("127.0.0.1") is False
            stats = registrar.stats()
            assert stats["health_checks_ignored"] == 3
            assert stats["heartbeats_acknowledged"] is True
            # Another orchestrator: its address, and whether it acknowledges heartbeats, anew.
            registrar.set_orchestrator(f"http://localhost:{orch.port}")
            assert await eventually(lambda: len(registrations(orch)) >= 2)
            assert "127.0.0.1" in registrar.stats()["orchestrator_addresses"]
            assert registrar.note_health_check("127.0.0.1") is True
        finally:
            await registrar.stop()

    run(scenario())


def test_set_orchestrator_switches_the_target(orch: FakeOrchestrator) -> None:
    seen: list[str] = []

    async def scenario(other: FakeOrchestrator) -> None:
        registrar = make_registrar(settings_for(orch.url), on_orchestrator=seen.append)
        await registrar.start()
        try:
            assert await eventually(lambda: len(registrations(orch)) >= 1)
            registrar.set_orchestrator(other.url + "/")
            assert await eventually(lambda: len(registrations(other)) >= 1)
        finally:
            await registrar.stop()
        assert registrar.orchestrator_url == other.url

    with running_orchestrator() as other:
        run(scenario(other))
        assert len(registrations(other)) == 1
    assert len(registrations(orch)) == 1
    assert seen == [other.url]


def test_without_orchestrator_waits_for_post_register(orch: FakeOrchestrator) -> None:
    async def scenario() -> None:
        registrar = make_registrar(settings_for(None, reregister_after_s=0.2))
        assert registrar.orchestrator_set is False
        await registrar.start()
        try:
            await asyncio.sleep(0.5)  # the watchdog fires, but there is nobody to register with
            assert registrations(orch) == []
            with pytest.raises(InvalidDocument):
                registrar.set_orchestrator("orchestrator:3000")
            assert registrar.orchestrator_set is False
            registrar.set_orchestrator(orch.url)
            assert registrar.orchestrator_set is True
            assert await eventually(lambda: len(registrations(orch)) >= 1)
        finally:
            await registrar.stop()

    run(scenario())
