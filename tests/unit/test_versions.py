"""Module references: name, name@N, refused versions."""

from __future__ import annotations

import pytest

from wasmfleet.core.errors import InvalidDocument
from wasmfleet.core.versions import ModuleRef, parse_module_ref, version_list


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
