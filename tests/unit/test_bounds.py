"""Integers from requests are bounded before they reach a database (core/bounds.py and users)."""

from __future__ import annotations

import pytest

from wasmfleet.core.bounds import MAX_DB_INT, is_db_int, whole_number
from wasmfleet.core.deploy_doc import MAX_LEASE_S
from wasmfleet.core.errors import BadRequest, InvalidDocument
from wasmfleet.core.form_fields import parse_bracket_fields
from wasmfleet.core.manifest_fields import replicas_field
from wasmfleet.core.resources import parse_accelerator, parse_memory_mb
from wasmfleet.core.versions import parse_module_ref


@pytest.mark.parametrize("value", [0, "0", " 42 ", MAX_DB_INT, str(MAX_DB_INT)])
def test_whole_number_reads_ints_and_ascii_digits_in_range(value: object) -> None:
    assert whole_number(value, "limit") == int(str(value).strip())


@pytest.mark.parametrize(
    "value",
    [MAX_DB_INT + 1, str(2**64), "9" * 5000, -1, "-1", True, 1.0, "²", "\u0661", "", None, "1_0"],
)
def test_whole_number_refuses_everything_else_with_a_sentence(value: object) -> None:
    with pytest.raises(BadRequest, match="must be a whole number from 0 to"):
        whole_number(value, "limit")


def test_whole_number_honours_its_own_range() -> None:
    assert whole_number("5", "n", low=1, high=5) == 5
    with pytest.raises(BadRequest, match="from 1 to 5"):
        whole_number(6, "n", low=1, high=5)


def test_is_db_int() -> None:
    assert is_db_int(MAX_DB_INT) and is_db_int(-MAX_DB_INT - 1) and is_db_int(0)
    assert not is_db_int(MAX_DB_INT + 1) and not is_db_int(True) and not is_db_int(1.0)


@pytest.mark.parametrize("ref", [f"fibo@{2**64}", "fibo@" + "9" * 5000, "fibo@²", "fibo@0"])
def test_module_versions_beyond_a_database_integer_are_refused(ref: str) -> None:
    with pytest.raises(InvalidDocument, match="whole number from 1"):
        parse_module_ref(ref)
    assert parse_module_ref(f"fibo@{MAX_DB_INT}").version == MAX_DB_INT


@pytest.mark.parametrize("raw", ["²", "9" * 5000, 2**63, "0"])
def test_replicas_out_of_range_or_odd_digits_are_refused(raw: object) -> None:
    with pytest.raises(InvalidDocument):
        replicas_field(raw, "replicas")


@pytest.mark.parametrize("raw", ["²%", "1" * 5000 + "%", "101%"])
def test_accelerator_percent_with_odd_digits_is_refused(raw: str) -> None:
    with pytest.raises(InvalidDocument):
        parse_accelerator(raw, "accelerator")
    assert parse_accelerator("050%", "accelerator") == 50


def test_memory_with_thousands_of_digits_is_refused() -> None:
    with pytest.raises(InvalidDocument):
        parse_memory_mb("9" * 5000, "memory_mb")


def test_bracket_fields_with_non_ascii_digit_keys_stay_a_mapping() -> None:
    parsed = parse_bracket_fields([("f[mounts][²][name]", "x")])
    assert parsed == {"f": {"mounts": {"²": {"name": "x"}}}}


def test_a_lease_beyond_a_float_is_refused() -> None:
    from wasmfleet.core.deploy_doc import _parse_fencing

    for lease in (10**400, MAX_LEASE_S + 1, float("inf")):
        with pytest.raises(InvalidDocument, match="lease_s"):
            _parse_fencing({"lease_s": lease})
    assert _parse_fencing({"lease_s": 3})[0] == 3.0
