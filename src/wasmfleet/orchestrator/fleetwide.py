"""Fleet-wide steps (``replicas``): send the devices whose copies changed, at the same epoch.

A fleet-wide step behaves like a Kubernetes DaemonSet: when devices join, return, leave or
change labels, the healer re-solves the deployment (``healing.Healer._refresh_copies``)
and, if only copies of fleet-wide steps changed, hands the new plan to ``apply_copies``.

Why the same epoch: every send of a new epoch makes the supervisors fence older copies,
and a caller (another device's hop, the orchestrator) that carries the new epoch makes a
device still at the old one refuse it. Adding or dropping one copy changes nothing for
the others, so bumping the epoch would force every device to be re-sent a document for
nothing (and fence copies that are still right while that happens). Supervisors accept a
document whose epoch equals their fence (``supervisor.fencing.FenceBook.check_deploy``
refuses only older ones), so a new copy installs at the current epoch and a returning
device can be given its copy back. A removed copy is deleted with ``?epoch=<current>``:
the device's fence rises to the epoch it already has, so it may get a copy again later.

Only the devices whose document differs are sent one: a new copy's device, a device that
lost a copy (deleted when it is active; a dead one is cleaned up by ``reconcile`` when it
returns), and a device whose copy's ``to`` changed because the copy it pointed at is gone.
A send that fails leaves the copy in the plan: the reconciler re-sends it when the
device's heartbeat shows it lacks the deployment. The deployment's status is not changed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from wasmfleet.orchestrator.deployments import DeploymentService
from wasmfleet.orchestrator.documents import build_documents
from wasmfleet.orchestrator.store import DeploymentRecord

log = logging.getLogger(__name__)


def fleet_wide_steps(manifest: dict[str, Any]) -> set[int]:
    """Indices of the steps of a stored (canonical) manifest that have ``replicas``."""
    steps = manifest.get("steps") or []
    return {i for i, s in enumerate(steps) if isinstance(s, dict) and "replicas" in s}


def has_fleet_wide(manifest: dict[str, Any]) -> bool:
    """True when a stored manifest has a fleet-wide step."""
    return bool(fleet_wide_steps(manifest))


async def apply_copies(
    service: DeploymentService, record: DeploymentRecord, sent: dict[str, dict[str, Any]]
) -> DeploymentRecord:
    """Store ``record``'s new plan and documents (same epoch); send only the documents that
    differ from ``sent`` (what the devices were given) and delete the copies dropped."""
    documents, urls, dialects = await asyncio.to_thread(
        build_documents, service.store, record, service.settings
    )
    changed = sorted(n for n in documents if documents[n] != sent.get(n))
    dropped = sorted(n for n in sent if n not in documents)
    record.documents = documents
    record = await asyncio.to_thread(service.store.update_deployment, record)
    devices = {d.name: d for d in await asyncio.to_thread(service.store.list_devices)}
    reachable = [n for n in dropped if n in devices and devices[n].status == "active"]
    pairs = {(n, record.id) for n in changed}
    service.sending |= pairs
    try:
        sends = await asyncio.gather(
            *(service._send(urls[n], documents[n], dialects.get(n)) for n in changed)
        )
        deletes = await asyncio.gather(
            *(service.delete_from(n, record.id, record.epoch) for n in reachable)
        )
    finally:
        service.sending -= pairs
    results = {n: r for n, r in record.results.items() if n in documents}
    results.update(zip(changed, sends, strict=True))
    for name, answer in zip(changed, sends, strict=True):
        if not answer["ok"]:
            log.warning(
                "could not give %s its copy of deployment %s: %s",
                name,
                record.name,
                answer["message"],
                extra={"deployment": record.name, "device": name},
            )
    for name, answer in zip(reachable, deletes, strict=True):
        log.info(
            "removed the copy of deployment %s from %s: %s",
            record.name,
            name,
            answer.get("message"),
            extra={"deployment": record.name, "device": name},
        )
    fresh = await asyncio.to_thread(service.store.get_deployment, record.id)
    if fresh is None:
        return record
    fresh.results = results
    return await asyncio.to_thread(service.store.update_deployment, fresh)
