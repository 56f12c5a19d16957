"""MQTT-triggered functions and published results (docs/streams.md, "Triggers and publishing").

A function with a ``trigger`` runs once per message on a matching topic, through the same
call path as an HTTP call (``CallService``), on its instance's lane. The message goes in as

- its execution mount's file, when the function has exactly one execution mount;
- bytes (``runtime/bytes_abi.py``), when it is ``f(i32 ptr, i32 len)`` and exports ``alloc``;
- its one scalar parameter, parsed from the payload's text (``"21.5"``);
- nothing, when it takes no parameters (it may read the topic: ``wasmfleet.message_topic``).

A function with ``publish`` publishes each result (a number as its text, an output file or
output buffer as its bytes; nothing for no output) — for HTTP calls too. A failed run, or
a message the function cannot take, is published to the dead-letter topic
``<prefix>/<deployment>/<module>/<function>`` (``--dead-letter-prefix``, default
``wasmfleet/dead-letter``) as JSON with the original message and the error, and recorded
in the request history with the message id; the stream goes on. A message is acknowledged
(QoS 1/2) only when every function it triggered ran and what they published — results,
``wasmfleet.publish`` calls, dead letters — is with the broker (``mqtt_link.py``). Over
MQTT 5 a result carries its call's ``traceparent``, and a triggered call continues the
trace its message carries (user property, or a bridge's envelope): docs/tracing.md.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import logging
import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any

import orjson

from wasmfleet.core.errors import Unprocessable, WasmfleetError
from wasmfleet.core.models import DeploymentSpec
from wasmfleet.core.protocol import MQTT_METHOD, ErrorCode, HistoryEntry, Message, new_entry
from wasmfleet.core.topics import matches
from wasmfleet.core.tracing import parse
from wasmfleet.messaging.envelope import unwrap
from wasmfleet.runtime.engine import CompiledModule
from wasmfleet.runtime.host.guest import GuestMessage
from wasmfleet.service import tracing
from wasmfleet.supervisor.call_job import MessageInput
from wasmfleet.supervisor.calls import CallRequest, CallService
from wasmfleet.supervisor.deployment import BoundFunction, Deployment
from wasmfleet.supervisor.mqtt_link import BrokerLink, Delivery
from wasmfleet.supervisor.settings import SupervisorSettings
from wasmfleet.supervisor.things import ThingService
from wasmfleet.supervisor.triggers import TriggerRoute, trigger_input

log = logging.getLogger("wasmfleet.supervisor.streams")
TARGET_CACHE = 4096
"""Topics whose matching routes are remembered (a topic per sensor: thousands at most)."""


class StreamService:
    """Subscribes for triggered functions, runs them per message, publishes and dead-letters."""

    def __init__(self, settings: SupervisorSettings, calls: CallService) -> None:
        self.settings = settings
        self.calls = calls
        self.prefix = settings.dead_letter_prefix.rstrip("/")
        self.routes: dict[str, TriggerRoute] = {}
        self._targets: dict[str, list[TriggerRoute]] = {}
        """Topic -> the routes whose filter matches it (cleared when routes change)."""
        self.counters = dict.fromkeys(
            ("received", "handled", "failed", "dead_lettered", "published", "unmatched"), 0
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self.sensors: ThingService | None = None
        """An app install's sensor topics (things.py): subscribed, and fed each message."""
        broker = settings.broker
        self.link: BrokerLink | None = None
        if broker is not None:
            self.link = BrokerLink(
                broker,
                client_id=f"wasmfleet-{settings.name}",
                capacity=settings.stream_queue,
                state_path=settings.resolved_data_dir / "mqtt-subscriptions.json",
                on_message=self._arrived,
                protocol=settings.mqtt_protocol,
            )
        calls.results = self
        self._id_prefix = uuid.uuid4().hex[:16]
        self._id_count = itertools.count(1)

    async def start(self) -> None:
        """Connect to the broker (in the background); subscriptions follow deployments."""
        if self.link is not None:
            self.settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)
            self.link.start()
            self._subscribe()

    async def stop(self) -> None:
        """Disconnect; messages not yet acknowledged are sent again after a restart."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.link is not None:
            await self.link.stop()

    # -- following deployments (DeploymentWatcher) ----------------------------------------

    def check(self, spec: DeploymentSpec, compiled: dict[str, CompiledModule]) -> None:
        """Refuse triggers and publishing without a broker, and functions no message fits."""
        streamed = [f for f in spec.functions if f.trigger is not None or f.publish is not None]
        if streamed and self.link is None:
            fn = streamed[0]
            what = "a trigger" if fn.trigger is not None else "a publish topic"
            raise Unprocessable(
                f"{fn.module}.{fn.name} has {what}, but this device has no MQTT broker; "
                "deploy it to a device started with --broker mqtt://host:1883."
            )
        for fn in streamed:
            if fn.trigger is not None:
                trigger_input(fn, compiled[fn.module].functions)

    def installed(self, dep: Deployment) -> None:
        """Route the deployment's triggers (keeping what a same trigger remembered)."""
        old = {k: r for k, r in self.routes.items() if r.deployment == dep.spec.id}
        for key in old:
            del self.routes[key]
        for (module, function), bound in dep.functions.items():
            trigger = bound.spec.trigger
            if trigger is None:
                continue
            functions = bound.runtime.compiled.functions
            kind, mount = trigger_input(bound.spec, functions)
            route = TriggerRoute(dep.spec.id, module, function, trigger, kind, mount)
            before = old.get(route.key)
            if before is not None:
                route.received, route.handled, route.failed = (
                    before.received,
                    before.handled,
                    before.failed,
                )
                if before.trigger.topic == trigger.topic:
                    route.retained = before.retained
            self.routes[route.key] = route
        self._targets.clear()
        self._subscribe()

    def removed(self, dep_id: str) -> None:
        """Forget the deployment's triggers."""
        for key in [k for k, r in self.routes.items() if r.deployment == dep_id]:
            del self.routes[key]
        self._targets.clear()
        self._subscribe()

    def _subscribe(self) -> None:
        if self.link is None:
            return
        wanted = self.sensors.sensor_topics() if self.sensors is not None else {}
        for route in self.routes.values():
            topic_filter = route.trigger.topic
            wanted[topic_filter] = max(route.trigger.qos, wanted.get(topic_filter, 0))
        self.link.set_subscriptions(wanted)

    # -- messages -------------------------------------------------------------------------

    def _arrived(self, delivery: Delivery) -> None:
        """A message arrived (event loop): start its function runs, in arrival order."""
        self.counters["received"] += 1
        fed = self.sensors is not None and self.sensors.reading(delivery.topic, delivery.payload)
        targets = self._targets.get(delivery.topic)
        if targets is None:
            targets = [r for r in self.routes.values() if matches(r.trigger.topic, delivery.topic)]
            if len(self._targets) >= TARGET_CACHE:
                self._targets.clear()
            self._targets[delivery.topic] = targets
        if delivery.retain:  # sent because of a (re-)subscription: once per trigger
            targets = [r for r in targets if not r.seen_retained(delivery.topic, delivery.payload)]
        assert self.link is not None
        if not targets:
            self.counters["unmatched"] += 0 if fed else 1
            self.link.ack(delivery)
            return
        task = asyncio.ensure_future(self._handle(delivery, targets))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, delivery: Delivery, targets: list[TriggerRoute]) -> None:
        link = self.link
        assert link is not None
        # A message that crossed a bridge keeps its id, and the function gets the payload
        # without the envelope (docs/streams.md, "Message ids and the envelope").
        envelope = unwrap(delivery.payload)
        message_id = envelope.id if envelope is not None else self._next_id()
        message = delivery
        if envelope is not None:
            trace = delivery.trace or parse(envelope.traceparent)
            message = replace(delivery, payload=envelope.payload, trace=trace)
        try:
            runs = [self._run(message, route, message_id) for route in targets]
            pending = await asyncio.gather(*runs) if len(runs) > 1 else [await runs[0]]
        finally:
            link.release(delivery)
        confirmations = [f for futures in pending for f in futures]
        if not all(f.done() for f in confirmations):  # QoS 0 publications are done at once
            await asyncio.wait(confirmations)
        for future in confirmations:
            problem = future.exception() if not future.cancelled() else None
            if problem is not None:
                log.warning(
                    "a publication for a message failed",
                    extra={"message_id": message_id, "error": str(problem)},
                )
        link.ack(delivery)

    async def _run(
        self, delivery: Delivery, route: TriggerRoute, message_id: str
    ) -> list[asyncio.Future[None]]:
        """One function run for one message; the publications to wait for before the ack."""
        route.received += 1
        guest = GuestMessage(delivery.topic, message_id)
        record: Message = {
            "message_id": message_id,
            "topic": delivery.topic,
            "qos": delivery.qos,
            "retain": delivery.retain,
            "bytes": len(delivery.payload),
        }
        args: list[tuple[str, Any]] = []
        files: dict[str, bytes] = {}
        if route.input == "mount" and route.mount is not None:
            files[route.mount] = delivery.payload
        elif route.input == "scalar":
            args = [("0", delivery.payload.decode("utf-8", errors="replace").strip())]
        request = CallRequest(
            route.deployment,
            route.module,
            route.function,
            MQTT_METHOD,
            args,
            files,
            message=MessageInput(guest, delivery.payload, route.input == "bytes", record),
            trace=delivery.trace,
        )
        try:
            outcome = await self.calls.call(request, self.settings.base_url)
        except WasmfleetError as err:  # refused before it ran: bad number, fenced, gone
            entry = self._record_refusal(route, record, err)
            return [self._dead_letter(delivery, route, entry, err)]
        except Exception as exc:  # a bug of ours: the message is not lost, nor the stream stuck
            log.error("triggered call failed", exc_info=exc, extra={"message_id": message_id})
            bug = WasmfleetError(
                f"internal error: {type(exc).__name__}: {exc}", code=ErrorCode.INTERNAL
            )
            entry = self._record_refusal(route, record, bug)
            return [self._dead_letter(delivery, route, entry, bug)]
        waits = [p.future for p in guest.publishes if p.future is not None]
        if outcome.error is not None:
            return [*waits, self._dead_letter(delivery, route, outcome.entry, outcome.error)]
        route.handled += 1
        self.counters["handled"] += 1
        if outcome.published is not None:
            waits.append(outcome.published)
        return waits

    def _record_refusal(
        self, route: TriggerRoute, record: Message, err: WasmfleetError
    ) -> HistoryEntry:
        history = self.calls.history
        entry = new_entry(
            history.next_id(route.deployment, route.module, route.function),
            route.deployment,
            route.module,
            route.function,
            MQTT_METHOD,
            datetime.now().isoformat(),
            result=err.message,
            message=record,
        )
        history.add(entry)
        return entry

    def _dead_letter(
        self, delivery: Delivery, route: TriggerRoute, entry: HistoryEntry, err: WasmfleetError
    ) -> asyncio.Future[None]:
        assert self.link is not None
        route.failed += 1
        self.counters["failed"] += 1
        self.counters["dead_lettered"] += 1
        topic = f"{self.prefix}/{route.key}"
        entry["dead_letter_topic"] = topic
        message_id = entry["message"]["message_id"]
        try:
            text: str | None = delivery.payload.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        body = {
            "message_id": message_id,
            "request_id": entry["request_id"],
            "device": self.settings.name,
            "deployment": route.deployment,
            "module": route.module,
            "function": route.function,
            "topic": delivery.topic,
            "qos": delivery.qos,
            "retain": delivery.retain,
            "payload": text,
            "payload_base64": base64.b64encode(delivery.payload).decode("ascii"),
            "error": {"code": err.code, "message": err.message},
            "failed_at": datetime.now().astimezone().isoformat(),
        }
        log.warning(
            "message dead-lettered",
            extra={
                "message_id": message_id,
                "request_id": entry["request_id"],
                "topic": delivery.topic,
                "error": err.message,
            },
        )
        return self.link.publish(topic, orjson.dumps(body), qos=1)

    # -- results (ResultPublisher) --------------------------------------------------------

    def publish_result(
        self, bound: BoundFunction, entry: HistoryEntry, value: Any, output: str | None
    ) -> asyncio.Future[None] | None:
        """Publish a result of a function with ``publish``; None when there is nothing to send."""
        target = bound.spec.publish
        if target is None or self.link is None:
            return None
        if output is not None:
            payload: bytes | None = (bound.runtime.workdir / output).read_bytes()
        elif isinstance(value, bytes) or value is None:
            payload = value
        else:
            result = entry.get("step_result")
            payload = result.encode() if isinstance(result, str) else orjson.dumps(result)
        if payload is None:
            return None
        # The call's span is current here: the message carries it (MQTT 5).
        trace = tracing.CURRENT.get()
        future = self.link.publish(target.topic, payload, target.qos, target.retain, trace)
        self.counters["published"] += 1
        entry["published_to"] = target.topic
        future.add_done_callback(_consume)
        return future

    def _next_id(self) -> str:
        """A message id unique to this process: a random prefix and a counter (one uuid4
        per message cost a quarter of the event loop's time at 8,000 messages/s)."""
        return f"{self._id_prefix}-{next(self._id_count):x}"

    def counters_for_heartbeat(self) -> dict[str, int] | None:
        """The message counters the orchestrator shows per device (None without a broker)."""
        if self.link is None:
            return None
        keys = ("received", "handled", "failed", "dead_lettered", "published")
        counters = {key: int(self.counters.get(key, 0)) for key in keys}
        counters["guest_published"] = self.link.stats.guest_published
        return counters

    def stats(self) -> dict[str, Any]:
        """The ``streams`` part of GET /api/v1/status."""
        link = self.link
        if link is None:
            return {"broker": None, "triggers": {}}
        return {
            "broker": link.broker.url,
            "client_id": link.client_id,
            "connected": link.connected,
            "mqtt_protocol": link.version.name,
            "connects": link.stats.connects,
            "last_error": link.stats.last_error,
            "name_conflict": link.name_conflict,
            "presence": {"topic": link.claim.topic, "instance": link.claim.instance},
            "subscriptions": link.subscriptions,
            "active": link.active,
            "refused_filters": dict(link.stats.refused_filters),
            **self.counters,
            "guest_published": link.stats.guest_published,
            "publish_errors": link.stats.publish_errors,
            "unsolicited": link.stats.unsolicited,
            "queued": link.queued,
            "held": link.held,
            "queue_capacity": link.capacity,
            "triggers": {
                key: {
                    "topic": r.trigger.topic,
                    "qos": r.trigger.qos,
                    "input": r.input,
                    "received": r.received,
                    "handled": r.handled,
                    "failed": r.failed,
                }
                for key, r in sorted(self.routes.items())
            },
        }


def _consume(future: asyncio.Future[None]) -> None:
    """Mark a publication's failure as seen (HTTP calls do not wait for it)."""
    if not future.cancelled() and future.exception() is not None:
        log.warning("a result could not be published", extra={"error": str(future.exception())})
