"""${NAME} expansion in manifest files."""

from __future__ import annotations

import pytest

from wasmfleet.core.errors import ConfigurationError
from wasmfleet.core.variables import expand


def test_names_defaults_and_escapes() -> None:
    env = {"CLOUD": "mqtt://cloud:1883", "EMPTY": ""}
    text = "to: ${CLOUD}\nfrom: ${EDGE:-mqtt://edge:1883}\nx: ${EMPTY:-fallback}\ny: $${CLOUD}"
    assert expand(text, env) == (
        "to: mqtt://cloud:1883\nfrom: mqtt://edge:1883\nx: fallback\ny: ${CLOUD}"
    )


def test_text_without_references_is_unchanged() -> None:
    text = "name: x\nsteps: [{module: fibo, function: fibo}]  # $HOME and {braces} stay"
    assert expand(text, {}) == text


def test_unset_variables_are_named_with_what_to_do() -> None:
    with pytest.raises(ConfigurationError) as info:
        expand("${A} ${B} ${A}", {}, where="uplink.yaml")
    assert info.value.message == (
        "uplink.yaml uses ${A}, but A, B are not set: export A=... (or write ${A:-default} "
        "in the file)."
    )
