"""End users install only at or below their locations and see only their own installs (the
install service on a real database; window installs deploy nothing when installed)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.integration.test_scheduler_claims import pair  # noqa: F401 - the fixture
from wasmfleet.core import rbac
from wasmfleet.core.errors import Forbidden, NotFound
from wasmfleet.orchestrator.auth import Identity
from wasmfleet.orchestrator.service import Orchestrator
from wasmfleet.orchestrator.store import UserRecord

WINDOW = {"cron": "0 8 * * *", "timezone": "UTC", "mode": "window", "duration": "1h"}


@pytest.fixture
def orch(pair: tuple[Orchestrator, Orchestrator]) -> Iterator[Orchestrator]:  # noqa: F811
    first, _ = pair
    first.store.add_location("campus/hall", "", "tester")
    first.store.add_user(UserRecord("eve", "end-user", locations=["campus/lab-1"]))
    first.store.add_user(UserRecord("mallory", "end-user", locations=["campus/hall"]))
    yield first


def _who(orch: Orchestrator, name: str) -> Identity:
    user = orch.store.get_user(name)
    assert user is not None and user.locations is not None
    return Identity(name, rbac.Role.END_USER, user_id=user.id)


def _body(location: str, name: str) -> dict[str, object]:
    return {"app": "lab-window", "location": location, "name": name, "schedule": WINDOW}


def test_end_users_are_kept_to_their_locations_and_installs(orch: Orchestrator) -> None:
    eve, mallory = _who(orch, "eve"), _who(orch, "mallory")
    with pytest.raises(Forbidden, match="at or below campus/hall, not at campus/lab-1"):
        asyncio.run(orch.installs.install(_body("campus/lab-1", "m-lab"), mallory))
    view, _ = asyncio.run(orch.installs.install(_body("campus/lab-1", "e-lab"), eve))
    assert view["owner"] == "eve"
    assert [i.name for i in orch.installs.list(eve)] == ["e-lab"]
    assert orch.installs.list(mallory) == []
    with pytest.raises(NotFound):
        orch.installs.get("e-lab", mallory)
    with pytest.raises(NotFound):
        asyncio.run(orch.installs.uninstall("e-lab", mallory))
    admin = Identity("root", rbac.Role.ADMIN, user_id="x")
    assert [i.name for i in orch.installs.list(admin)] == ["e-lab"]
    assert asyncio.run(orch.installs.uninstall("e-lab", eve))["name"] == "e-lab"
