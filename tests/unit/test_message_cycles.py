"""core.message_cycles: publish/trigger loops and bridge rings are refused with the cycle named."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wasmfleet.core.errors import MessageCycle
from wasmfleet.core.manifest import Manifest, parse_manifest
from wasmfleet.core.message_cycles import Deployed, check_message_cycles, find_message_cycle
from wasmfleet.core.subscriptions import intersection, overlap
from wasmfleet.core.topics import matches


def manifest(*steps: dict[str, Any], name: str = "pipe") -> Manifest:
    return parse_manifest({"name": name, "steps": list(steps)})


def step(fn: str, trigger: str | None = None, publish: str | None = None) -> dict[str, Any]:
    module, function = fn.split(".")
    out: dict[str, Any] = {"module": module, "function": function}
    if trigger is not None:
        out["trigger"] = trigger
    if publish is not None:
        out["publish"] = publish
    return out


def bridge(source: str | None, to: str, *topics: str) -> dict[str, Any]:
    route: dict[str, Any] = {"to": to, "topic": list(topics)}
    if source is not None:
        route["from"] = source
    return {"bridge": route}


# -- function steps --------------------------------------------------------------------


def test_two_steps_publishing_to_each_others_triggers_are_refused_with_the_cycle_named() -> None:
    m = manifest(
        step("thermo.check", trigger="readings/+", publish="alerts/x"),
        step("relay.forward", trigger="alerts/#", publish="readings/x"),
    )
    with pytest.raises(MessageCycle) as caught:
        check_message_cycles(Deployed(m))
    assert caught.value.status == 422
    assert caught.value.code == "message_cycle"
    assert caught.value.message == (
        "Steps form a message cycle: thermo.check publishes to alerts/x, which triggers "
        "relay.forward (trigger alerts/#), which publishes to readings/x, which triggers "
        "thermo.check (trigger readings/+); each message would go round forever. Break it by "
        "publishing to a topic outside one of these triggers or narrowing a trigger."
    )


def test_a_three_step_cycle_is_named_in_order() -> None:
    m = manifest(
        step("a.one", trigger="t/a", publish="t/b"),
        step("b.two", trigger="t/b", publish="t/c"),
        step("c.three", trigger="+/c", publish="t/a"),
    )
    text = find_message_cycle(Deployed(m))
    assert text is not None
    assert text.startswith(
        "Steps form a message cycle: a.one publishes to t/b, which triggers b.two (trigger "
        "t/b), which publishes to t/c, which triggers c.three (trigger +/c), which publishes "
        "to t/a, which triggers a.one (trigger t/a);"
    )


def test_the_http_chain_closes_a_cycle_with_a_topic() -> None:
    # Step 1 sends its result over HTTP to step 2 (its topic does not trigger step 2), and
    # step 2 publishes where step 1 listens: each message runs both, forever.
    m = manifest(step("fibo.fibo", trigger="numbers/in"), step("fibo.double", publish="numbers/in"))
    assert find_message_cycle(Deployed(m)) == (
        "Steps form a message cycle: fibo.fibo sends its result over HTTP to fibo.double, "
        "which publishes to numbers/in, which triggers fibo.fibo (trigger numbers/in); each "
        "message would go round forever. Break it by publishing to a topic outside one of "
        "these triggers or narrowing a trigger."
    )


@pytest.mark.parametrize(
    "steps",
    [
        # the thermo pipeline of docs/streams.md: a chain, no way back
        [
            step("thermo.check", trigger="site/+/temperature", publish="alerts/temperature"),
            step("thermo.celsius", trigger="alerts/#", publish="final/celsius"),
        ],
        # the trigger does not match the publish topic one level deeper
        [
            step("a.one", trigger="t/+", publish="u/x"),
            step("b.two", trigger="u/x", publish="t/x/y"),
        ],
        # a wildcard at level one never matches a $ topic
        [
            step("a.one", trigger="+/in", publish="$data/in"),
            step("b.two", trigger="$data/#", publish="$out/in"),
        ],
        # HTTP only goes forward
        [step("a.one"), step("b.two"), step("c.three", trigger="x", publish="y")],
    ],
)
def test_pipelines_without_a_way_back_pass(steps: list[dict[str, Any]]) -> None:
    assert find_message_cycle(Deployed(manifest(*steps))) is None


def test_a_shared_subscription_matches_like_its_filter() -> None:
    m = manifest(
        step("a.one", trigger="$share/workers/jobs/+", publish="done/1"),
        step("b.two", trigger="done/#", publish="jobs/again"),
    )
    text = find_message_cycle(Deployed(m))
    assert text is not None and "triggers a.one (trigger $share/workers/jobs/+)" in text


def test_a_cycle_with_a_stored_deployment_names_it_and_how_to_remove_it() -> None:
    mine = manifest(step("thermo.check", trigger="readings/+", publish="alerts/x"), name="mine")
    theirs = manifest(step("relay.forward", trigger="alerts/#", publish="readings/x"), name="r")
    text = find_message_cycle(Deployed(mine), [Deployed(theirs, "relays")])
    assert text is not None
    assert "which triggers relay.forward of deployment 'relays' (trigger alerts/#)" in text
    assert text.endswith("or narrowing a trigger, or remove deployment 'relays'.")


def test_cycles_among_stored_deployments_alone_are_not_the_new_ones_business() -> None:
    old = manifest(
        step("a.one", trigger="x", publish="y"), step("b.two", trigger="y", publish="x"), name="o"
    )
    new = manifest(step("c.three", trigger="z", publish="w"), name="n")
    assert find_message_cycle(Deployed(new), [Deployed(old)]) is None


def test_the_manifest_self_loop_is_still_refused_at_parse_time() -> None:
    from wasmfleet.core.errors import InvalidDocument

    with pytest.raises(InvalidDocument, match="matches the step's own trigger"):
        manifest(step("a.one", trigger="x/#", publish="x/y"))


# -- bridges ---------------------------------------------------------------------------


def test_two_bridges_carrying_a_topic_back_and_forth_are_refused() -> None:
    up = manifest(bridge("mqtt://lab:1883", "mqtt://cloud:1883", "x/#", "y"), name="up")
    down = manifest(bridge("mqtt://cloud:1883", "mqtt://lab:1883", "x/+/cmd"), name="down")
    with pytest.raises(MessageCycle) as caught:
        check_message_cycles(Deployed(down), [Deployed(up)])
    assert caught.value.message == (
        "Bridges form a message cycle: the bridge of step 1 carries x/+/cmd from "
        "mqtt://cloud:1883 to mqtt://lab:1883, where the bridge of step 1 of deployment 'up' "
        "carries x/# and y back to mqtt://cloud:1883; any message on x/+/cmd would be "
        "forwarded round them forever. Narrow the topics of one of these bridges so that they "
        "no longer overlap."
    )


def test_bridges_in_both_directions_with_disjoint_topics_pass() -> None:
    m = manifest(
        bridge("mqtt://lab:1883", "mqtt://cloud:1883", "up/#"),
        bridge("mqtt://cloud:1883", "mqtt://lab:1883", "down/#"),
    )
    assert find_message_cycle(Deployed(m)) is None


def test_a_ring_of_three_needs_one_topic_every_bridge_carries() -> None:
    ring = [("a", "b", "x/+"), ("b", "c", "+/y"), ("c", "a", "x/#")]
    m = manifest(*(bridge(f"mqtt://{s}:1883", f"mqtt://{t}:1883", f) for s, t, f in ring))
    text = find_message_cycle(Deployed(m))
    assert text is not None and "any message on x/y would be forwarded" in text
    broken = [("a", "b", "x/+"), ("b", "c", "+/y"), ("c", "a", "z/#")]
    m = manifest(*(bridge(f"mqtt://{s}:1883", f"mqtt://{t}:1883", f) for s, t, f in broken))
    assert find_message_cycle(Deployed(m)) is None


def test_loopback_brokers_are_the_same_only_on_the_same_device() -> None:
    up = manifest(bridge("mqtt://127.0.0.1:1883", "mqtt://cloud:1883", "x/#"), name="up")
    down = manifest(bridge("mqtt://cloud:1883", "mqtt://localhost:1883", "x/#"), name="down")
    same = find_message_cycle(Deployed(down, devices={0: "gw"}), [Deployed(up, devices={0: "gw"})])
    assert same is not None
    apart = find_message_cycle(
        Deployed(down, devices={0: "gw-1"}), [Deployed(up, devices={0: "gw-2"})]
    )
    assert apart is None
    assert find_message_cycle(Deployed(down), [Deployed(up)]) is None  # devices unknown


def test_a_bridge_without_from_is_not_on_a_checked_ring() -> None:
    # Its source is its device's broker, which the orchestrator cannot name (documented).
    m = manifest(
        bridge(None, "mqtt://cloud:1883", "x/#"),
        bridge("mqtt://cloud:1883", "mqtt://lab:1883", "x/#"),
    )
    assert find_message_cycle(Deployed(m, devices={0: "gw", 1: "gw"})) is None


def test_the_examples_have_no_cycles() -> None:
    import pathlib

    import yaml

    examples = pathlib.Path(__file__).resolve().parents[2] / "examples"
    deployed = [
        Deployed(parse_manifest(yaml.safe_load(p.read_text().replace("${", "x{"))), p.stem)
        for p in sorted(examples.glob("*.yaml"))
        if "bridge" not in p.read_text()
    ]
    for k, dep in enumerate(deployed):
        assert find_message_cycle(dep, deployed[:k] + deployed[k + 1 :]) is None, dep.name


# -- properties ------------------------------------------------------------------------

LEVELS = st.sampled_from(["a", "b", "$s", "+"])
FILTERS = st.builds(
    lambda levels, tail: "/".join(levels + (["#"] if tail else [])),
    st.lists(LEVELS, min_size=1, max_size=3),
    st.booleans(),
) | st.just("#")
NAMES = st.lists(st.sampled_from(["a", "b", "$s", "c"]), min_size=1, max_size=4).map("/".join)


@given(FILTERS, FILTERS, NAMES)
@settings(max_examples=400)
def test_intersection_matches_exactly_what_both_filters_match(a: str, b: str, t: str) -> None:
    both = intersection(a, b)
    assert (both is not None and matches(both, t)) == (matches(a, t) and matches(b, t))


@given(FILTERS, FILTERS)
def test_intersection_agrees_with_overlap(a: str, b: str) -> None:
    assert (intersection(a, b) is not None) == overlap(a, b)


TOPIC_NAMES = ["a", "a/b", "b", "b/a"]
TOPIC_FILTERS = ["a", "a/#", "+", "b/+", "#", "b"]


def _reaches(steps: list[tuple[str | None, str | None]], i: int, j: int) -> bool:
    """Does a result of step i reach step j (HTTP next step or topic)?"""
    pub = steps[i][1]
    http = j == i + 1 and not (pub and steps[j][0] and matches(steps[j][0], pub))
    return http or (pub is not None and steps[j][0] is not None and matches(steps[j][0], pub))


def _has_cycle(steps: list[tuple[str | None, str | None]]) -> bool:
    """Brute force: is some step reachable from itself?"""
    n = len(steps)
    reach = [[_reaches(steps, i, j) for j in range(n)] for i in range(n)]
    for k, i, j in itertools.product(range(n), repeat=3):
        reach[i][j] = reach[i][j] or (reach[i][k] and reach[k][j])
    return any(reach[i][i] for i in range(n))


STEP = st.tuples(
    st.none() | st.sampled_from(TOPIC_FILTERS), st.none() | st.sampled_from(TOPIC_NAMES)
)


@given(st.lists(STEP, min_size=1, max_size=5))
@settings(max_examples=300)
def test_a_cycle_is_found_exactly_when_one_exists(raw: list[tuple[str | None, str | None]]) -> None:
    # A step may not publish where its own trigger listens (refused at parse time).
    steps = [(t, p) if not (t and p and matches(t, p)) else (t, None) for t, p in raw]
    m = manifest(*(step(f"m.f{i}", trigger=t, publish=p) for i, (t, p) in enumerate(steps)))
    found = find_message_cycle(Deployed(m))
    assert (found is not None) == _has_cycle(steps), found
