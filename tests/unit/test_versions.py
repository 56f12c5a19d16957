"""Module references: name, name@N, refused versions."""

from __future__ import annotations

import pytest

from wasmfleet.core.errors import InvalidDocument
from wasmfleet.core.versions import ModuleRef, carry_versions, parse_module_ref, version_list


def test_a_name_follows_the_latest_version() -> None:
    assert parse_module_ref("fibo") == ModuleRef("fibo", None)
    assert parse_module_ref(" fibo ") == ModuleRef("fibo", None)


def test_a_pinned_version() -> None:
    ref = parse_module_ref("fibo@3")
    assert ref == ModuleRef("fibo", 3)
    assert str(ref) == "fibo@3"


@pytest.mark.parametrize("text", ["fibo@", "fibo@0", "fibo@x", "fibo@-1", "@3", "", "fibo@1.5"])
def test_bad_references_are_refused(text: str) -> None:
    with pytest.raises(InvalidDocument):
        parse_module_ref(text)


def test_version_list_collapses_runs() -> None:
    assert version_list([5, 1, 2, 3]) == "1-3, 5"
    assert version_list([]) == "none"
    assert version_list([4]) == "4"


def _entry(step: int, device: str, version: int, module: str = "fibo") -> dict[str, object]:
    return {
        "step": step,
        "device": device,
        "module": module,
        "module_id": f"{module}-v{version}",
        "version": version,
    }


def test_a_copy_that_stays_keeps_its_version_and_a_new_copy_takes_the_steps_usual_one() -> None:
    old = [_entry(0, "a", 2), _entry(0, "b", 2), _entry(0, "c", 3), _entry(1, "a", 1, "sink")]
    # re-solved from the manifest: every copy on the latest (5), c gone, d joined
    new = [_entry(0, "a", 5), _entry(0, "b", 5), _entry(0, "d", 5), _entry(1, "b", 7, "sink")]
    carried = carry_versions(old, new)
    assert [(e["device"], e["version"]) for e in carried] == [
        ("a", 2),
        ("b", 2),
        ("d", 2),  # most copies of step 0 ran version 2
        ("b", 1),  # the moved sink step keeps the version it ran on a
    ]
    assert carried[2]["module_id"] == "fibo-v2"


def test_a_tie_goes_to_the_newer_version_and_a_new_step_is_left_as_solved() -> None:
    old = [_entry(0, "a", 2), _entry(0, "b", 3)]
    new = [_entry(0, "c", 5), _entry(1, "c", 5, "other")]
    carried = carry_versions(old, new)
    assert [(e["device"], e["version"]) for e in carried] == [("c", 3), ("c", 5)]
