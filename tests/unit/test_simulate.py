"""The simulated sensors' pure parts: rates, seeded readings, pacing, summaries, payload lines."""

from __future__ import annotations

import itertools
import json
import statistics

import pytest

from wasmfleet.core.errors import ConfigurationError
from wasmfleet.messaging.simulate import (
    Pacer,
    PublishSummary,
    TemperatureReadings,
    TemperatureSource,
    describe_payload,
    format_rate,
    parse_rate,
)


@pytest.mark.parametrize(
    ("text", "per_second"),
    [
        ("5/s", 5.0),
        ("5", 5.0),
        (" 0.5 / s ", 0.5),
        (".25/sec", 0.25),
        ("120/min", 2.0),
        ("30/m", 0.5),
        ("36/h", 0.01),
        ("1000/S", 1000.0),
    ],
)
def test_rates_people_write(text: str, per_second: float) -> None:
    assert parse_rate(text) == pytest.approx(per_second)


@pytest.mark.parametrize("text", ["fast", "", "5/d", "-1/s", "5/s/s", "1e3", "/s"])
def test_a_bad_rate_is_a_sentence_with_examples(text: str) -> None:
    with pytest.raises(ConfigurationError, match=r"--rate .* is not a rate; .* e\.g\. 5/s"):
        parse_rate(text)


@pytest.mark.parametrize("text", ["0/s", "0", "200000/s"])
def test_a_rate_out_of_range_says_the_range(text: str) -> None:
    with pytest.raises(ConfigurationError, match="out of range"):
        parse_rate(text)


def test_format_rate() -> None:
    assert (format_rate(12.0), format_rate(0.5), format_rate(1 / 3)) == (
        "12/s",
        "0.5/s",
        "0.333333/s",
    )


def _values(seed: int | None, n: int, **kw: float) -> list[float]:
    readings = TemperatureReadings("lab", seed=seed, **kw)  # type: ignore[arg-type]
    return [readings.next_celsius() for _ in range(n)]


def test_the_same_seed_gives_the_same_readings_and_another_seed_others() -> None:
    assert _values(7, 500) == _values(7, 500)
    assert _values(7, 500) != _values(8, 500)


def test_a_reading_is_the_published_json_shape() -> None:
    readings = TemperatureReadings("lab-1", seed=1)
    first, second = readings.reading(1_700_000_000.12345), readings.reading(1_700_000_000.5)
    assert set(first) == {"sensor", "seq", "ts", "celsius"}
    assert (first["sensor"], first["seq"], second["seq"]) == ("lab-1", 1, 2)
    assert first["ts"] == 1_700_000_000.123
    assert isinstance(first["celsius"], float) and round(first["celsius"], 2) == first["celsius"]
    source = TemperatureSource(TemperatureReadings("lab-1", seed=1))
    assert json.loads(source.payload(1_700_000_000.12345)) == first


def test_readings_drift_slowly_around_the_base_with_small_noise() -> None:
    values = _values(3, 20_000, interval=1.0, spike_probability=0.0, base=21.0)
    assert all(15.0 < v < 27.0 for v in values)  # the drift is mean-reverting: it stays near
    assert abs(statistics.fmean(values) - 21.0) < 1.5
    steps = [abs(b - a) for a, b in itertools.pairwise(values)]
    assert max(steps) < 1.0  # no jumps without spikes: noise and drift are small per reading
    hourly = [statistics.fmean(values[i : i + 3600]) for i in range(0, 18_000, 3600)]
    assert max(hourly) - min(hourly) > 0.05  # ... but it does wander over hours


def test_spikes_are_rare_big_and_counted() -> None:
    readings = TemperatureReadings("lab", seed=11, spike_probability=0.02)
    values = [readings.next_celsius() for _ in range(5000)]
    assert 50 <= readings.spikes <= 150  # 2 % of 5000 = 100
    smooth = _values(11, 5000, spike_probability=0.0)
    big = [v for v in values if abs(v - statistics.median(smooth)) > 2.5]
    assert len(big) >= readings.spikes * 0.8


def test_pacing_follows_an_absolute_schedule_without_drift() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds + 0.003  # every sleep overshoots by 3 ms, every publish takes 2 ms

    pacer = Pacer(10.0, clock=lambda: now[0], sleep=sleep)
    for i in range(100):
        assert pacer.wait(i)
        now[0] += 0.002
    # message 99 was due at 100 + 9.9 s: the overshoots did not add up
    assert now[0] == pytest.approx(100.0 + 9.9 + 0.005, abs=1e-6)
    assert len(slept) == 99  # message 0 was due at once


def test_pacing_does_not_burst_after_a_stall_and_stops_at_the_deadline() -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    pacer = Pacer(2.0, clock=lambda: now[0], sleep=sleep)
    assert pacer.wait(0) and pacer.wait(1) and now[0] == pytest.approx(0.5)
    now[0] = 30.0  # stalled for half a minute: the schedule restarts from now
    assert pacer.wait(2) and now[0] == pytest.approx(30.0)
    assert pacer.wait(3) and now[0] == pytest.approx(30.5)
    assert not pacer.wait(4, until=30.9)  # due at 31.0, after the deadline: no sleep
    assert now[0] == pytest.approx(30.5)


def test_the_summary_line_says_sent_acked_and_rates() -> None:
    summary = PublishSummary(topic="site/lab/t", qos=1, rate_asked=5.0, sent=11, acked=11)
    summary.elapsed = 2.0
    assert summary.rate == pytest.approx(5.0)
    line = summary.line()
    assert line.startswith("sent 11, acked 11 to site/lab/t (qos 1) in 2.00 s")
    assert "5.00 msg/s achieved, 5/s asked" in line
    qos0 = PublishSummary(topic="t", qos=0, rate_asked=1.0, sent=1, acked=1, interrupted=True)
    assert "acked n/a" in qos0.line() and qos0.line().endswith("(interrupted)")
    assert qos0.rate == 0.0


def test_payloads_are_shown_on_one_line() -> None:
    assert describe_payload(b'{"fan": "on"}') == '{"fan": "on"}'
    assert describe_payload(b"line one\nline two") == "line one\\nline two"
    assert describe_payload(b"\xff\xd8\xff\xe0" + bytes(100)) == "<104 bytes, image/jpeg>"
    assert describe_payload(b"\x00\x01\x02") == "<3 bytes, binary>"
    assert describe_payload(b"\x80abc") == "<4 bytes, binary>"
    long = describe_payload(b"x" * 1000, limit=300)
    assert long.startswith("x" * 300) and long.endswith("(+700 chars)")
