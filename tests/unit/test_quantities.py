"""core.quantities and core.resources: Kubernetes quantities for CPU and memory, and what the
old spellings that meant something else now do (warnings or refusals)."""

from __future__ import annotations

import logging
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wasmfleet.core.errors import ConfigurationError, InvalidDocument
from wasmfleet.core.manifest import parse_manifest
from wasmfleet.core.quantities import MiB, cpu_text, parse_quantity, spread_cores
from wasmfleet.core.resources import (
    MAX_CORES,
    Warnings,
    merge_warnings,
    parse_cpu,
    parse_memory,
    parse_memory_mb,
)
from wasmfleet.service.setting_values import parse_capacity, parse_size

# --- the grammar -------------------------------------------------------------------------

DECIMAL = {"m": Fraction(1, 1000), "": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
DECIMAL |= {"P": 10**15, "E": 10**18}
BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}


def value(text: str) -> Fraction | None:
    quantity = parse_quantity(text)
    return None if quantity is None else Fraction(quantity.numerator, quantity.denominator)


@pytest.mark.parametrize("suffix", sorted(DECIMAL))
def test_every_decimal_suffix(suffix: str) -> None:
    assert value(f"3{suffix}") == 3 * DECIMAL[suffix]
    assert value(f"1.5{suffix}") == Fraction(3, 2) * DECIMAL[suffix]


@pytest.mark.parametrize("suffix", sorted(BINARY))
def test_every_binary_suffix_with_and_without_b(suffix: str) -> None:
    assert value(f"3{suffix}") == 3 * BINARY[suffix]
    assert value(f"3{suffix}B") == 3 * BINARY[suffix]
    assert value(f".5{suffix}") == BINARY[suffix] // 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("12", 12),
        ("12.", 12),
        (".5", Fraction(1, 2)),
        ("+1", 1),
        ("-1.5", Fraction(-3, 2)),
        ("1e3", 1000),
        ("1E3", 1000),  # E followed by digits is an exponent ...
        ("1E", 10**18),  # ... alone it is exa
        ("2e-3", Fraction(2, 1000)),
        ("1.5e+2", 150),
        ("0.001", Fraction(1, 1000)),
    ],
)
def test_numbers_signs_and_exponents(text: str, expected: Fraction | int) -> None:
    assert value(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        ".",
        "+",
        "1 Mi",  # no spaces inside
        "1mi",  # case-sensitive
        "1K",  # kilo is a lowercase k
        "1MB",
        "1kB",
        "1B",
        "1e",
        "1e1.5",
        "1Mi1",
        "1.2.3",
        "--1",
        "1e99",  # exponent out of range
        "1" * 41,  # too many digits
        "٣",  # a non-ASCII digit
        "0x10",
    ],
)
def test_what_the_grammar_refuses(text: str) -> None:
    assert parse_quantity(text) is None


@given(
    st.integers(min_value=0, max_value=10**12),
    st.integers(min_value=0, max_value=6),
    st.sampled_from(sorted(DECIMAL) + sorted(BINARY)),
)
def test_the_value_is_exact(digits: int, decimals: int, suffix: str) -> None:
    text = str(digits)
    if decimals:
        text = text.rjust(decimals + 1, "0")
        text = f"{text[:-decimals]}.{text[-decimals:]}"
    factor = DECIMAL.get(suffix) or BINARY[suffix]
    assert value(text + suffix) == Fraction(digits, 10**decimals) * factor


@given(st.text(max_size=12))
def test_any_text_parses_or_is_refused_without_an_exception(text: str) -> None:
    quantity = parse_quantity(text)
    assert quantity is None or quantity.denominator > 0


# --- CPU -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "cores"),
    [
        (1, (1000,)),
        ("1", (1000,)),
        ("1000m", (1000,)),
        (0.5, (500,)),
        ("0.5", (500,)),
        ("500m", (500,)),
        ("2", (1000, 1000)),
        (2.5, (1000, 1000, 500)),
        ("2500m", (1000, 1000, 500)),
        ("1e-3", (1,)),
        ("1m", (1,)),
        (0, ()),
        ("0m", ()),
        (None, ()),
        ([500, 100], (500, 100)),
        (["500m", 100, " 1m "], (500, 100, 1)),
        ([2000], (2000,)),  # a device may declare cores bigger than 1000m
        ([], ()),
        (MAX_CORES, (1000,) * MAX_CORES),
    ],
)
def test_cpu_forms(raw: Any, cores: tuple[int, ...]) -> None:
    assert parse_cpu(raw, "cpu") == cores


@given(st.integers(min_value=0, max_value=MAX_CORES * 1000))
def test_a_scalar_maps_onto_whole_cores_then_the_rest(millicores: int) -> None:
    cores = parse_cpu(f"{millicores}m", "cpu")
    assert cores == spread_cores(millicores)
    assert sum(cores) == millicores
    assert all(c == 1000 for c in cores[:-1]) and all(0 < c <= 1000 for c in cores)
    assert len(cores) == -(-millicores // 1000)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("lots", ['cpu must be cores (1, 0.5, "2"), millicores ("500m")', "'lots'"]),
        ("250 m", ["without spaces"]),
        (True, ["must be cores"]),
        ({"cores": 1}, ["must be cores"]),
        (float("inf"), ["must be cores"]),
        ("1Gi" + "B", ["must be cores"]),
        (-1, ["cannot be negative"]),
        ("-500m", ["cannot be negative"]),
        (0.0005, ["finer than 1m", "at least 1m"]),
        ("1.5m", ["finer than 1m", "at least 2m"]),
        (MAX_CORES + 1, [f"asks {MAX_CORES + 1} cores; at most {MAX_CORES}", "write 1025m"]),
        ("2000", ["asks 2000 cores"]),
        ([0], ["each entry must be 1 .. 1000000"]),
        ([1_000_001], ["each entry must be 1 .. 1000000"]),
        ([0.5], ["cpu[0] must be millicores for one core", "for whole cores write cpu: 2"]),
        (["1"], ["cpu[0] must be millicores for one core"]),
        (["0.5m"], ["cpu[0] must be millicores"]),
        ([True], ["cpu[0] must be millicores"]),
        ([1] * (MAX_CORES + 1), ["at most 1024"]),
    ],
)
def test_bad_cpu_is_refused_with_a_sentence(raw: Any, words: list[str]) -> None:
    with pytest.raises(InvalidDocument) as err:
        parse_cpu(raw, "cpu")
    message = err.value.message
    assert message.startswith("cpu") and message.endswith("."), message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (1, ["1 now means 1 whole core (1000m)", "not 1 millicore as before", "write 1m"]),
        (250, ["250 now means 250 whole cores (250000m)", "write 250m", '"250" (quoted)']),
        ("1500m", ["1500m now means 1.5 cores (1000m, 500m)", "per-core list [1500]"]),
    ],
)
def test_old_cpu_spellings_warn(raw: Any, words: list[str]) -> None:
    warnings: Warnings = []
    parse_cpu(raw, "steps[0].resources.cpu", warnings)
    assert [where for where, _ in warnings] == ["steps[0].resources.cpu"]
    for word in words:
        assert word in warnings[0][1], f"{word!r} not in {warnings[0][1]!r}"


@pytest.mark.parametrize(
    "raw", [0, "1", 0.5, 2.5, "2", "500m", "1000m", [1], [1500], [500, 100], "1e3m"[:3]]
)
def test_spellings_without_an_old_meaning_do_not_warn(raw: Any) -> None:
    warnings: Warnings = []
    parse_cpu(raw, "cpu", warnings)
    assert warnings == []


def test_cpu_text_counts_equal_cores() -> None:
    assert cpu_text((1000, 500, 1000)) == "2x1000m, 500m"
    assert cpu_text([90, 10, 90, 10]) == "2x90m, 2x10m"
    assert cpu_text((1,)) == "1m"


# --- memory --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "mib"),
    [
        ("512Mi", 512),
        ("512MiB", 512),
        ("512M", 489),  # 512 x 10^6 bytes = 488.3 MiB, rounded up
        ("1Gi", 1024),
        ("1G", 954),
        ("1.5Gi", 1536),
        ("1Ti", 1024 * 1024),
        ("1T", 953675),
        ("1Pi", 1024**3),
        ("1P", 953674317),
        ("1Ei", 1024**4),
        ("100Ki", 1),  # less than a MiB reserves one
        ("1k", 1),
        ("1e9", 954),
        ("1.5e9", 1431),
        (1048576, 1),
        ("1048577", 2),
        (2**30, 1024),
        (float(2**30), 1024),
        (0, 0),
        ("0", 0),
        ("0Mi", 0),
        (None, 0),
        ("8Ei", 8 * 1024**4),
    ],
)
def test_memory_forms(raw: Any, mib: int) -> None:
    assert parse_memory(raw, "memory") == mib


@given(st.integers(min_value=1, max_value=2**53))
def test_memory_in_bytes_is_rounded_up_to_whole_mib(size: int) -> None:
    mib = parse_memory(f"{size}e0", "memory")
    assert (mib - 1) * MiB < size <= mib * MiB


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("lots", ['must be bytes as a Kubernetes quantity like "512Mi"', "'lots'"]),
        ("64MB", ["'64MB'", "write 64Mi (64 x 2^20 bytes) or 64M (64 x 10^6 bytes)"]),
        ("1g", ["write 1Gi", "or 1G", "case-sensitive"]),
        ("1gb", ["write 1Gi"]),
        ("64mi", ["write 64Mi"]),
        ("2K", ["write 2Ki", "or 2k"]),
        ("64 Mi", ["write 64Mi"]),
        ("64B", ["must be bytes"]),
        (True, ["must be bytes"]),
        ([64], ["must be bytes"]),
        (-1, ["cannot be negative"]),
        ("-1Mi", ["cannot be negative"]),
        ("9Ei", ["more than the largest memory, 8Ei"]),
        (64, ["64 bytes, as in Kubernetes", "used to mean MiB", "write 64Mi for 64 MiB"]),
        ("512", ["512 bytes", "write 512Mi"]),
        (1.5, ["1.5 bytes", "write 1.5Mi"]),
        (1048575, ["1048575 bytes"]),
        ("64m", ["m means milli", "write 64Mi"]),
    ],
)
def test_bad_memory_is_refused_with_a_sentence(raw: Any, words: list[str]) -> None:
    with pytest.raises(InvalidDocument) as err:
        parse_memory(raw, "memory")
    message = err.value.message
    assert message.startswith("memory") and message.endswith("."), message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("512M", ["512M now means 512 x 10^6 bytes (489Mi reserved)", "not 512 MiB", "512Mi"]),
        ("1G", ["1 x 10^9 bytes (954Mi reserved)", "not 1024 MiB", "write 1Gi"]),
        ("2T", ["2 x 10^12 bytes", "write 2Ti"]),
        ("100000k", ["100000 x 10^3 bytes (96Mi reserved)", "not 98 MiB", "write 100000Ki"]),
        (2**21, ["2097152 bytes (2Mi reserved)", "not 2097152 MiB", "write 2097152Mi"]),
        ("3000000", ["3000000 bytes (3Mi reserved)"]),
        ("2000000000m", ["2000000000m now means", "(2Mi reserved)", "not 2000000000 MiB"]),
    ],
)
def test_old_memory_spellings_warn(raw: Any, words: list[str]) -> None:
    warnings: Warnings = []
    parse_memory(raw, "steps[1].resources.memory", warnings)
    assert [where for where, _ in warnings] == ["steps[1].resources.memory"]
    for word in words:
        assert word in warnings[0][1], f"{word!r} not in {warnings[0][1]!r}"


@pytest.mark.parametrize(
    "raw", ["512Mi", "2GiB", "1Pi", "5P", "1e9", "1M", "64k", "0", 0, "2M", "100Ki"]
)
def test_memory_spellings_that_reserve_what_they_did_do_not_warn(raw: Any) -> None:
    # "1M", "2M" and "64k" reserve the same whole MiB as before (1, 2 and 1), so they keep
    # their meaning for placement; "P", "E" and exponents had no meaning before.
    warnings: Warnings = []
    parse_memory(raw, "memory", warnings)
    assert warnings == []


@pytest.mark.parametrize(("raw", "mib"), [(64, 64), ("64", 64), (64.0, 64), (0, 0), (None, 0)])
def test_memory_mb_is_whole_mib(raw: Any, mib: int) -> None:
    assert parse_memory_mb(raw, "memory_mb") == mib


@pytest.mark.parametrize("raw", ["64M", "64Mi", "1.5", 1.5, -1, True, "x", 2**44])
def test_memory_mb_refuses_quantities_and_fractions(raw: Any) -> None:
    with pytest.raises(InvalidDocument) as err:
        parse_memory_mb(raw, "memory_mb")
    assert "whole number of MiB" in err.value.message
    assert "memory: 64Mi" in err.value.message


# --- warnings in manifests -----------------------------------------------------------------


def manifest(*resources: dict[str, Any]) -> dict[str, Any]:
    steps = [{"module": "m", "function": f"f{i}", "resources": r} for i, r in enumerate(resources)]
    return {"name": "p", "steps": steps}


def test_manifest_warnings_name_the_field_and_merge_repeats() -> None:
    parsed = parse_manifest(
        manifest({"cpu": 1, "memory": "512M"}, {"cpu": 1}, {"cpu": "1", "memory": "512Mi"})
    )
    assert len(parsed.warnings) == 2
    cpu, memory = parsed.warnings
    assert cpu.startswith("steps[0].resources.cpu, steps[1].resources.cpu: 1 now means")
    assert memory.startswith("steps[0].resources.memory: 512M now means 512 x 10^6 bytes")
    assert all(w.endswith(".") for w in parsed.warnings)
    assert [s.cpu for s in parsed.steps] == [(1000,), (1000,), (1000,)]
    assert [s.memory_mb for s in parsed.steps] == [489, 0, 512]


def test_bridge_steps_warn_too() -> None:
    doc = {
        "name": "p",
        "steps": [
            {"bridge": {"to": "mqtt://127.0.0.1:1883", "topic": "a/#"}, "resources": {"cpu": 2}}
        ],
    }
    parsed = parse_manifest(doc)
    assert parsed.steps[0].cpu == (1000, 1000)
    assert parsed.warnings and parsed.warnings[0].startswith("steps[0].resources.cpu: 2 now")


def test_warnings_are_not_part_of_equality_or_the_canonical_form() -> None:
    old = parse_manifest(manifest({"cpu": 2, "memory": "1G"}))
    new = parse_manifest(manifest({"cpu": "2", "memory": "1e9"}))
    assert old.warnings and not new.warnings
    assert old == new and old.to_dict() == new.to_dict()
    assert "warnings" not in old.to_dict()


cpu_values = st.one_of(
    st.integers(min_value=0, max_value=64),
    st.integers(min_value=0, max_value=64_000).map(lambda m: f"{m}m"),
    st.floats(min_value=0, max_value=64).map(lambda f: round(f, 3)),
    st.lists(st.integers(min_value=1, max_value=4000), max_size=8),
)
memory_values = st.one_of(
    st.integers(min_value=MiB, max_value=2**40),
    st.integers(min_value=0, max_value=10**6).map(lambda n: f"{n}Mi"),
    st.integers(min_value=0, max_value=10**6).map(lambda n: f"{n}M"),
    st.integers(min_value=0, max_value=4096).map(lambda n: f"{n}Gi"),
    st.integers(min_value=1, max_value=10**4).map(lambda n: f"{n}e6"),
)


@given(st.lists(st.tuples(cpu_values, memory_values), min_size=1, max_size=4))
def test_the_canonical_form_keeps_the_meaning_and_never_warns(asks: list[Any]) -> None:
    # What the orchestrator stores (to_dict) is what healing and re-solving read back:
    # it must mean exactly the same and never warn, or every placement pass would.
    parsed = parse_manifest(manifest(*({"cpu": c, "memory": m} for c, m in asks)))
    again = parse_manifest(parsed.to_dict())
    assert again == parsed
    assert again.warnings == ()
    assert parse_manifest(again.to_dict()) == again


def test_merge_warnings_keeps_first_seen_order() -> None:
    pairs = [("b", "two"), ("a", "one"), ("c", "two"), ("b", "two")]
    assert merge_warnings(pairs) == ("b, c: two.", "a: one.")


# --- device flags: sizes and --capacity memory ---------------------------------------------


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1048576", 1048576),
        ("256Mi", 256 * MiB),
        ("256MiB", 256 * MiB),
        ("64KiB", 64 * 1024),
        ("2Gi", 2 * 1024 * MiB),
        ("1e9", 10**9),
        ("0.5Ki", 512),
        (" 64Mi ", 64 * MiB),
        ("1.5", 2),  # whole bytes, rounded up as Kubernetes does
        ("0", 0),
    ],
)
def test_sizes_follow_the_quantity_grammar(text: str, size: int) -> None:
    assert parse_size(text, "--memory-limit") == size


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("lots", ["--memory-limit must be a size such as 256Mi or 256MiB", "'lots'"]),
        ("256mib", ["write 256Mi", "case-sensitive"]),
        ("1g", ["write 1Gi", "or 1G"]),
        ("64MB", ["write 64Mi", "or 64M"]),
        ("100b", ["must be a size"]),
        ("64m", ["m means milli", "write 64Mi"]),
        ("-1Mi", ["cannot be negative"]),
        ("9Ei", ["more than 8Ei"]),
    ],
)
def test_bad_sizes_are_refused_with_a_sentence(text: str, words: list[str]) -> None:
    with pytest.raises(ConfigurationError) as err:
        parse_size(text, "--memory-limit")
    message = err.value.message
    assert message.startswith("--memory-limit") and message.endswith("."), message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


def test_a_decimal_size_that_meant_mib_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="wasmfleet.service.setting_values"):
        assert parse_size("64M", "--test-limit") == 64 * 10**6
        assert parse_size("64M", "--test-limit") == 64 * 10**6
        assert parse_size("64Mi", "--test-limit") == 64 * MiB
        assert parse_capacity("memory=2048M", "--test-capacity").memory_mb == 1954
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "--test-limit 64M now means 64 x 10^6 bytes (61.0352 MiB), as in Kubernetes, not 64 "
        "MiB as before; write 64Mi to keep that",
        "--test-capacity memory 2048M now means 2048 x 10^6 bytes (1953.12 MiB), as in "
        "Kubernetes, not 2048 MiB as before; write 2048Mi to keep that",
    ]
