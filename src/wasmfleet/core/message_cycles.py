"""Message cycles: steps whose results come back to trigger them, forever.

A deployment is refused (``MessageCycle``, 422) when its steps, alone or with the
deployments the orchestrator already stores, can pass a message round a loop:

*Function steps.* An edge A -> B when a result of A reaches B:

- **topic**: A's ``publish`` topic is matched by B's ``trigger`` filter (``core.topics.matches``:
  ``+`` one level, a last ``#`` any number including none, wildcards at level one never
  match ``$`` topics, ``$share/<group>/`` removed). A ``publish`` topic is a concrete name,
  published as written: nothing in it is a placeholder (``${NAME}`` is replaced by
  ``wasmfleet deploy`` before the orchestrator sees the manifest, and ``{device}`` is just
  text), so "can match" is plain MQTT matching. Topics a module chooses at run time
  (``wasmfleet.publish``) are not known at deploy time and not checked.
- **HTTP**: within one deployment, each function step's result goes on to the next function
  step (the ``to`` chain of its document).

Steps are taken to share one topic space, whichever devices and brokers they run on: the
orchestrator does not know which broker a supervisor uses, and a deployment whose steps hand
each other topics expects them to arrive (directly or over bridges, which keep topic names).
A bridge therefore neither makes nor breaks a cycle of function steps.

*Bridges.* Bridges do move messages between brokers, and a set of bridges can carry a topic
round a ring of brokers (``a -> b`` and ``b -> a`` both carrying ``x/#``): an edge from bridge
P to bridge Q when P's destination is Q's source, and a cycle when one topic name matches a
filter of every bridge on the ring. Brokers are compared by host and port; a loopback host
(``127.0.0.1``, ``localhost``) is a different broker on every device, and a bridge without
``from`` reads the broker of its device, which the orchestrator cannot name — so such a
bridge is never found on a ring (give ``from`` to have it checked).

Only cycles through a step of the deployment being checked are reported (older cycles were
the older deployments' business); the first step of the manifest that is on a cycle is
named, with its shortest cycle.
"""

from __future__ import annotations

import ipaddress
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from wasmfleet.core.broker_url import parse_broker_url
from wasmfleet.core.errors import MessageCycle
from wasmfleet.core.manifest import Manifest
from wasmfleet.core.models import BridgeRoute
from wasmfleet.core.subscriptions import SHARED_PREFIX, intersection
from wasmfleet.core.topics import matches

MAX_BRIDGE_STATES = 20_000
"""(bridge, topic filter) states the ring search visits at most."""

BrokerKey = tuple[str, str, int]
_Successors = Callable[[int], list[int]]


@dataclass(frozen=True, slots=True)
class Deployed:
    """A deployment's steps as the cycle check sees them."""

    manifest: Manifest
    name: str | None = None
    """The deployment's name (default: the manifest's), said of the steps of the others."""
    devices: Mapping[int, str] = field(default_factory=dict)
    """Step index -> the device it is placed on (a loopback broker URL is per device)."""


@dataclass(frozen=True, slots=True)
class _Step:
    label: str
    trigger: str | None
    publish: str | None
    deployment: str | None
    next_step: int | None = None
    """Node index of the next function step of the same deployment (the HTTP ``to``)."""


@dataclass(frozen=True, slots=True)
class _Bridge:
    label: str
    source: BrokerKey
    destination: BrokerKey
    source_url: str
    destination_url: str
    topics: tuple[str, ...]
    new: bool


def check_message_cycles(deployment: Deployed, others: Sequence[Deployed] = ()) -> None:
    """Raise MessageCycle (422) naming the cycle when ``deployment`` is on one."""
    problem = find_message_cycle(deployment, others)
    if problem is not None:
        raise MessageCycle(problem)


def find_message_cycle(deployment: Deployed, others: Sequence[Deployed] = ()) -> str | None:
    """The sentence naming a message cycle through ``deployment``'s steps, or None."""
    steps: list[_Step] = []
    bridges: list[_Bridge] = []
    for k, dep in enumerate((deployment, *others)):
        _collect(dep, k, steps, bridges)
    return _step_cycle(steps) or _bridge_cycle(bridges)


def _collect(dep: Deployed, k: int, steps: list[_Step], bridges: list[_Bridge]) -> None:
    """Add ``dep``'s function steps and bridges (``k`` = 0: the deployment being checked)."""
    new = k == 0
    previous: int | None = None
    owner = None if new else (dep.name or dep.manifest.name)
    where = "" if owner is None else f" of deployment {owner!r}"
    for i, step in enumerate(dep.manifest.steps):
        if step.bridge is not None:
            place = dep.devices.get(i) or f"?{k}#{i}"  # unknown device: the same as no other
            bridges.append(_bridge(step.bridge, i + 1, place, where, new))
            continue
        current = _Step(
            label=f"{step.module}.{step.function}{where}",
            trigger=step.trigger.topic if step.trigger is not None else None,
            publish=step.publish.topic if step.publish is not None else None,
            deployment=owner,
        )
        if previous is not None and not _topic_hop(steps[previous], current):
            steps[previous] = _with_next(steps[previous], len(steps))
        previous = len(steps)
        steps.append(current)


def _topic_hop(step: _Step, following: _Step) -> bool:
    """The deploy plan's rule: no HTTP ``to`` when the next step's trigger takes the result."""
    return (
        step.publish is not None
        and following.trigger is not None
        and matches(following.trigger, step.publish)
    )


def _with_next(step: _Step, index: int) -> _Step:
    return _Step(step.label, step.trigger, step.publish, step.deployment, index)


# -- function steps --------------------------------------------------------------------


def _step_cycle(steps: list[_Step]) -> str | None:
    successors: dict[int, list[int]] = {}

    def after(node: int) -> list[int]:
        found = successors.get(node)
        if found is None:
            found = list(_reached_from(steps, node))
            successors[node] = found
        return found

    for start, step in enumerate(steps):
        if step.deployment is not None or (step.trigger is None and step.publish is None):
            continue
        path = _shortest_cycle(start, after)
        if path is not None:
            return _describe_steps(steps, path)
    return None


def _reached_from(steps: list[_Step], node: int) -> Iterator[int]:
    """The steps a result of ``node`` reaches: its HTTP next step, then those it triggers."""
    step = steps[node]
    if step.next_step is not None:
        yield step.next_step
    if step.publish is None:
        return
    for other, candidate in enumerate(steps):
        if candidate.trigger is not None and matches(candidate.trigger, step.publish):
            yield other


def _shortest_cycle(start: int, after: _Successors) -> list[int] | None:
    """Nodes of the shortest cycle through ``start`` (start first), by breadth-first search."""
    parent: dict[int, int] = {}
    queue = deque([start])
    seen = {start}
    while queue:
        node = queue.popleft()
        for nxt in after(node):
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return path[::-1]
            if nxt not in seen:
                seen.add(nxt)
                parent[nxt] = node
                queue.append(nxt)
    return None


def _describe_steps(steps: list[_Step], path: list[int]) -> str:
    hops: list[str] = []
    for k, node in enumerate(path):
        step, following = steps[node], path[(k + 1) % len(path)]
        target = steps[following]
        if step.next_step == following:
            hop = f"sends its result over HTTP to {target.label}"
        else:
            hop = f"publishes to {step.publish}, which triggers {target.label}"
            hop += f" (trigger {target.trigger})"
        hops.append(f"{step.label} {hop}" if k == 0 else f"which {hop}")
    others = sorted({d for d in (steps[n].deployment for n in path) if d is not None})
    remove = f", or remove deployment {', '.join(map(repr, others))}" if others else ""
    return (
        f"Steps form a message cycle: {', '.join(hops)}; each message would go round forever. "
        "Break it by publishing to a topic outside one of these triggers or narrowing a "
        f"trigger{remove}."
    )


# -- bridges ---------------------------------------------------------------------------


def _bridge(route: BridgeRoute, number: int, device: str, where: str, new: bool) -> _Bridge:
    to = parse_broker_url(route.destination)
    if route.source is None:
        source_key: BrokerKey = ("device", device, 0)
        source_url = "its device's broker"
    else:
        source = parse_broker_url(route.source)
        source_key, source_url = _key(source.host, source.port, device), source.url
    return _Bridge(
        label=f"the bridge of step {number}{where}",
        source=source_key,
        destination=_key(to.host, to.port, device),
        source_url=source_url,
        destination_url=to.url,
        topics=tuple(_filter_part(t) for t in route.topics),
        new=new,
    )


def _key(host: str, port: int, device: str) -> BrokerKey:
    """A broker's identity: host and port, or (device, port) for a loopback host."""
    host = host.lower().strip("[]")
    if host == "localhost" or host.endswith(".localhost") or _is_loopback(host):
        return ("loopback", device, port)
    return ("host", host, port)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _filter_part(topic_filter: str) -> str:
    if topic_filter.startswith(SHARED_PREFIX):
        return topic_filter.split("/", 2)[2]
    return topic_filter


def _bridge_cycle(bridges: list[_Bridge]) -> str | None:
    for start, bridge in enumerate(bridges):
        if not bridge.new:
            continue
        for topic_filter in bridge.topics:
            ring = _bridge_ring(bridges, start, topic_filter)
            if ring is not None:
                return _describe_bridges(bridges, *ring)
    return None


def _bridge_ring(
    bridges: list[_Bridge], start: int, topic_filter: str
) -> tuple[list[int], str] | None:
    """The shortest ring of bridges from ``start`` that carries some topic matching
    ``topic_filter`` all the way round: (bridges in order, the topics it carries)."""
    State = tuple[int, str]
    first: State = (start, topic_filter)
    parent: dict[State, State] = {}
    queue = deque([first])
    seen = {first}
    while queue and len(seen) < MAX_BRIDGE_STATES:
        state = queue.popleft()
        node, carried = state
        here = bridges[node].destination
        for nxt, candidate in enumerate(bridges):
            if candidate.source != here:
                continue
            if nxt == start:
                path = [state]
                while path[-1] != first:
                    path.append(parent[path[-1]])
                return [n for n, _ in reversed(path)], carried
            for own in candidate.topics:
                narrower = intersection(carried, own)
                if narrower is None:
                    continue
                following = (nxt, narrower)
                if following not in seen:
                    seen.add(following)
                    parent[following] = state
                    queue.append(following)
    return None


def _describe_bridges(bridges: list[_Bridge], ring: list[int], carried: str) -> str:
    hops: list[str] = []
    for k, node in enumerate(ring):
        bridge = bridges[node]
        topics = _listing(bridge.topics)
        if k == 0:
            hops.append(
                f"{bridge.label} carries {topics} from {bridge.source_url} to "
                f"{bridge.destination_url}"
            )
        else:
            back = " back" if k == len(ring) - 1 else ""
            hops.append(f"where {bridge.label} carries {topics}{back} to {bridge.destination_url}")
    return (
        f"Bridges form a message cycle: {', '.join(hops)}; any message on {carried} would be "
        "forwarded round them forever. Narrow the topics of one of these bridges so that "
        "they no longer overlap."
    )


def _listing(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"
