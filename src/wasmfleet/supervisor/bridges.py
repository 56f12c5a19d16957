"""Bridges of deployments: store-and-forward bridges a supervisor runs for its deployments.

A deployment document's ``bridges`` (``core.bridge_step``) each become a running
``messaging.bridge.Bridge`` (its own threads) for as long as the deployment is installed:

- source: the entry's ``from``, else this supervisor's ``--broker`` (a deployment with
  neither is refused with 422 before anything is installed);
- outbox: ``<data dir>/bridges/<name>.sqlite``, so what it holds survives supervisor
  restarts and redeploys of the same deployment;
- client id: ``wasmfleet-<device>-<name>`` (``-out`` on the destination), stable, so the
  source broker keeps the bridge's session (and queues for it) across restarts;
- MQTT version: from the source, the supervisor's ``--mqtt-protocol`` (``auto`` asks the
  broker when the bridge starts; one that cannot be reached then is read with 3.1.1), so a
  message's ``traceparent`` user property is seen; into the destination 3.1.1 unless
  ``--mqtt-protocol 5``, so consumers there keep getting the envelope (id and
  ``traceparent``) whatever version they speak.

One background task applies changes in order: an identical bridge in a redeployed document
keeps running untouched; a changed one is stopped and started again on the same outbox; a
removed one is stopped after a short drain, its outbox deleted when empty and its source
session ended (messages still waiting stay in the outbox file, and are forwarded when a
bridge of that name runs here again). Stopping the supervisor stops every bridge and keeps
outboxes and sessions. ``Bridge.start``/``stop`` block, so they run on worker threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wasmfleet.core.bridge_step import broker_of, same_broker
from wasmfleet.core.broker_url import BrokerAddress
from wasmfleet.core.errors import InvalidDocument, Unprocessable, WasmfleetError
from wasmfleet.core.models import BridgeSpec, DeploymentSpec
from wasmfleet.runtime.engine import CompiledModule
from wasmfleet.supervisor.deployment import Deployment
from wasmfleet.supervisor.settings import SupervisorSettings

if TYPE_CHECKING:  # paho and sqlite3 load with the first bridge, not on every device
    from wasmfleet.messaging.bridge import Bridge, BridgeSettings

log = logging.getLogger("wasmfleet.supervisor.bridges")
DRAIN_S = 2.0
"""How long a stopping bridge may still forward what is in flight to the destination."""
SESSION_END_TIMEOUT_S = 3.0


@dataclass(frozen=True, slots=True)
class _Wanted:
    deployment: str
    settings: BridgeSettings


@dataclass(frozen=True, slots=True)
class _Running:
    deployment: str
    settings: BridgeSettings
    bridge: Bridge


class BridgeService:
    """Starts, keeps and stops the bridges of the installed deployments (a DeploymentWatcher)."""

    def __init__(self, settings: SupervisorSettings) -> None:
        self.settings = settings
        self.directory = settings.resolved_data_dir / "bridges"
        self.wanted: dict[str, _Wanted] = {}
        self.running: dict[str, _Running] = {}
        self.failed: dict[str, str] = {}
        """Bridge name -> why it could not be started."""
        self._task: asyncio.Task[None] | None = None
        self._dirty = False
        self._closed = False

    def settings_for(self, spec: BridgeSpec) -> BridgeSettings:
        """How bridge ``spec`` runs on this device; Unprocessable when it cannot run here."""
        route = spec.route
        where = f"Bridge {spec.name!r}"
        try:
            destination = broker_of(route.destination, f"{where}: 'to'")
            source = broker_of(route.source, f"{where}: 'from'") if route.source else None
        except InvalidDocument as err:
            raise Unprocessable(err.message) from None
        if source is None:
            source = self.settings.broker
        if source is None:
            raise Unprocessable(
                f"{where} has no 'from' broker, and this device has no MQTT broker of its own "
                "to bridge from; give the bridge a 'from' URL, or deploy it to a device "
                "started with --broker mqtt://host:1883."
            )
        if same_broker(source, destination):
            raise Unprocessable(
                f"{where} would forward from {source.url} to the same broker; its 'to' must "
                "name another broker."
            )
        from wasmfleet.messaging.bridge import BridgeSettings

        return BridgeSettings(
            source=source,
            destination=destination,
            topics=route.topics,
            client_id=f"wasmfleet-{self.settings.name}-{spec.name}",
            outbox=self.directory / f"{spec.name}.sqlite" if route.qos == 1 else None,
            qos=route.qos,
        )

    # -- following deployments (DeploymentWatcher) ----------------------------------------

    def check(self, spec: DeploymentSpec, compiled: dict[str, CompiledModule]) -> None:
        """Refuse bridges with no source, and names another deployment's bridge has here."""
        for bridge in spec.bridges:
            self.settings_for(bridge)
            owner = self.wanted.get(bridge.name)
            if owner is not None and owner.deployment != spec.id:
                raise Unprocessable(
                    f"Bridge {bridge.name!r} already runs here for deployment "
                    f"{owner.deployment!r}; give each bridge its own name."
                )

    def installed(self, dep: Deployment) -> None:
        """Run the deployment's bridges (an identical running bridge is left alone)."""
        self._want(dep.spec.id, dep.spec.bridges)

    def removed(self, dep_id: str) -> None:
        """Stop the deployment's bridges."""
        self._want(dep_id, ())

    def _want(self, dep_id: str, bridges: tuple[BridgeSpec, ...]) -> None:
        for name in [n for n, w in self.wanted.items() if w.deployment == dep_id]:
            del self.wanted[name]
            self.failed.pop(name, None)
        for spec in bridges:
            try:
                self.wanted[spec.name] = _Wanted(dep_id, self.settings_for(spec))
            except WasmfleetError as err:  # check() refuses this first; shown in the status
                self.failed[spec.name] = err.message
        self._kick()

    # -- applying changes -----------------------------------------------------------------

    def _kick(self) -> None:
        if self._closed:
            return
        self._dirty = True
        if self._task is None or self._task.done():
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # not serving yet: start() applies what is wanted
            self._task = loop.create_task(self._apply(), name="bridges")

    async def start(self) -> None:
        """Start the bridges of the deployments restored so far."""
        self._kick()

    async def _apply(self) -> None:
        while self._dirty:
            self._dirty = False
            try:
                await self._apply_once()
            except Exception:  # never let the task die with bridges half-applied
                log.exception("applying bridge changes failed")

    async def _apply_once(self) -> None:
        for name, run in list(self.running.items()):
            want = self.wanted.get(name)
            if want is not None and (want.deployment, want.settings) == (
                run.deployment,
                run.settings,
            ):
                continue
            del self.running[name]
            await asyncio.to_thread(_stop, name, run, forget=want is None)
        for name, want in list(self.wanted.items()):
            if name in self.running or self._closed or self.wanted.get(name) is not want:
                continue
            try:
                protocol = self.settings.mqtt_protocol
                bridge = await asyncio.to_thread(_start, want.settings, protocol)
            except Exception as err:
                why = err.message if isinstance(err, WasmfleetError) else repr(err)
                self.failed[name] = why
                log.error("bridge %s could not start: %s", name, why)
                continue
            self.failed.pop(name, None)
            self.running[name] = _Running(want.deployment, want.settings, bridge)
            log.info(
                "bridge %s started: %s -> %s (%s)",
                name,
                want.settings.source.url,
                want.settings.destination.url,
                ", ".join(want.settings.topics),
                extra={"deployment": want.deployment},
            )
            if self.wanted.get(name) is not want:
                self._dirty = True  # changed while it started: the next round stops it

    async def stop(self) -> None:
        """Stop every bridge (outboxes and source sessions are kept for the next start)."""
        self._closed = True
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
        runs = list(self.running.items())
        self.running.clear()
        await asyncio.gather(
            *(asyncio.to_thread(_stop, name, run, forget=False) for name, run in runs)
        )

    # -- status ---------------------------------------------------------------------------

    def counters_for_heartbeat(self) -> dict[str, int]:
        """``{"bridged": messages the running bridges forwarded}`` ({} when none run); only
        in-memory counters, so the heartbeat never waits for an outbox."""
        runs = list(self.running.values())
        if not runs:
            return {}
        return {"bridged": sum(int(run.bridge.stats["forwarded"]) for run in runs)}

    def stats(self) -> dict[str, Any]:
        """Per bridge: where from and to, its state and the counters of the running bridge."""
        out: dict[str, Any] = {}
        for name in sorted(set(self.wanted) | set(self.running) | set(self.failed)):
            want = self.wanted.get(name)
            run = self.running.get(name)
            known = want or run
            entry: dict[str, Any] = {"state": "failed"}
            if known is not None:
                cfg = known.settings
                entry = {
                    "deployment": known.deployment,
                    "from": cfg.source.url,
                    "to": cfg.destination.url,
                    "topics": list(cfg.topics),
                    "qos": cfg.qos,
                    "outbox": str(cfg.outbox) if cfg.outbox is not None else None,
                    "client_id": cfg.client_id,
                    "state": "starting",
                }
            if run is not None:
                entry["state"] = "running" if want is not None else "stopping"
                entry.update(run.bridge.counters())
                used = run.bridge.settings
                entry["mqtt_protocol"] = {
                    "from": _NAMES[used.source_protocol],
                    "to": _NAMES[used.destination_protocol],
                }
            if name in self.failed:
                entry["state"] = "failed"
                entry["error"] = self.failed[name]
            out[name] = entry
        return out


_NAMES = {5: "5", 4: "3.1.1"}


def _start(settings: BridgeSettings, protocol: str) -> Bridge:
    """Choose each side's MQTT version, open the outbox, start both connections (worker
    thread)."""
    from dataclasses import replace

    from wasmfleet.messaging.bridge import Bridge

    settings = replace(
        settings,
        source_protocol=_version(settings.source, protocol),
        destination_protocol=5 if protocol == "5" else 4,
    )
    bridge = Bridge(settings)
    bridge.start()
    return bridge


def _version(broker: BrokerAddress, protocol: str) -> int:
    """5 or 4 (3.1.1) for ``--mqtt-protocol``; ``auto`` asks the broker (worker thread)."""
    if protocol != "auto":
        return 5 if protocol == "5" else 4
    from wasmfleet.messaging.client import speaks_mqtt5

    return 5 if speaks_mqtt5(broker) else 4


def _stop(name: str, run: _Running, *, forget: bool) -> None:
    """Stop a bridge (worker thread); ``forget``: its deployment no longer wants it."""
    try:
        run.bridge.stop(drain=DRAIN_S)
    except Exception:
        log.exception("bridge %s did not stop cleanly", name)
    log.info("bridge %s stopped", name, extra={"deployment": run.deployment})
    if forget:
        _forget(name, run.settings)


def _forget(name: str, settings: BridgeSettings) -> None:
    """Delete an empty outbox and end the source session; keep an outbox that holds messages."""
    path = settings.outbox
    if path is None:
        return  # best effort: a clean session, nothing on disk
    from wasmfleet.messaging.outbox import Outbox

    try:
        with Outbox(path) as outbox:
            waiting = outbox.count()
    except WasmfleetError as err:
        log.warning("bridge %s: its outbox cannot be read (%s); it is kept", name, err.message)
        return
    if waiting:
        log.warning(
            "bridge %s removed with %d message(s) waiting in %s; they are forwarded when a "
            "bridge of that name runs on this device again",
            name,
            waiting,
            path,
        )
        return
    for suffix in ("", "-wal", "-shm", ".lock"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    if not end_session(settings.source, settings.client_id):
        log.warning(
            "bridge %s: could not end its session on %s; the broker may queue messages for "
            "client %s until that session expires",
            name,
            settings.source.url,
            settings.client_id,
        )


def end_session(broker: BrokerAddress, client_id: str) -> bool:
    """Connect once with a clean session as ``client_id``: the broker drops its old session."""
    from wasmfleet.messaging.client import paho_client

    client = paho_client(broker, client_id=client_id, clean_session=True)
    connected = threading.Event()
    client.on_connect = lambda _c, _u, _f, reason, _p: (
        connected.set() if not reason.is_failure else None
    )
    try:
        client.connect(broker.host, broker.port, keepalive=10)
    except (OSError, ValueError):
        return False
    client.loop_start()
    try:
        return connected.wait(SESSION_END_TIMEOUT_S)
    finally:
        client.disconnect()
        client.loop_stop()
