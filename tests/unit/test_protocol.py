"""The wire contract in core/protocol.py: codes, the history entry, hop outcomes, answers."""

from __future__ import annotations

import inspect
import json
from typing import Any

import orjson
import pytest

from wasmfleet.core import errors
from wasmfleet.core.errors import Fenced, LeaseExpired, WasmfleetError
from wasmfleet.core.protocol import (
    EPOCH_HEADER,
    EPOCH_HEADER_RAW,
    REFUSALS,
    ErrorCode,
    HistoryEntry,
    HopStatus,
    Message,
    entry_ready,
    error_fields,
    is_refusal,
    new_entry,
    output_file_url,
    read_answer,
    read_entry,
    record_duration,
    record_hop,
    record_run,
    result_url_in,
)

WASMIOT_KEYS = [
    "request_id",
    "deployment_id",
    "module_name",
    "function_name",
    "method",
    "request_args",
    "request_files",
    "work_queued_at",
    "result",
    "success",
]
"""The keys of an original wasmiot supervisor's entry (docs/api.md), in its order."""
URL = "http://127.0.0.1:5001/request-history/d:m:f:1"


def wire(entry: HistoryEntry) -> dict[str, Any]:
    """An entry as the orchestrator receives it: through JSON."""
    return json.loads(orjson.dumps(entry))


def entry(**kw: Any) -> HistoryEntry:
    return new_entry("d:m:f:1", "d", "m", "f", "GET", "2026-01-01T00:00:00", **kw)


# -- codes ------------------------------------------------------------------------------


def test_every_error_class_sends_a_code_of_the_contract() -> None:
    classes = [
        c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, WasmfleetError)
    ]
    assert len(classes) >= 25
    for cls in classes:
        assert isinstance(cls.code, ErrorCode), cls
    assert len({c.code for c in classes}) == len(classes), "two error classes share a code"


def test_refusals_are_the_codes_and_statuses_the_errors_send() -> None:
    assert Fenced.code is ErrorCode.FENCED and LeaseExpired.code is ErrorCode.LEASE_EXPIRED
    assert dict(REFUSALS) == {Fenced.code: Fenced.status, LeaseExpired.code: LeaseExpired.status}
    body = json.loads(orjson.dumps(Fenced("stale").to_dict()))
    assert body["error"]["code"] == "fenced"
    assert is_refusal(Fenced.status, error_fields(body)[0])


@pytest.mark.parametrize(
    ("status", "code", "refused"),
    [
        (409, "fenced", True),
        (503, "lease_expired", True),
        (409, ErrorCode.FENCED, True),
        (503, "fenced", False),
        (409, "conflict", False),
        (500, "fenced", False),
        (409, None, False),
        (503, 3, False),
    ],
)
def test_is_refusal(status: int, code: object, refused: bool) -> None:
    assert is_refusal(status, code) is refused


def test_epoch_header_as_asgi_hands_it_over() -> None:
    assert EPOCH_HEADER == "X-Wasmfleet-Epoch"
    assert EPOCH_HEADER_RAW == b"x-wasmfleet-epoch"


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"error": {"status": 409, "code": "fenced", "message": "stale"}}, ("fenced", "stale")),
        ({"error": {"code": "x", "message": ""}}, ("x", None)),
        ({"error": "plain words"}, (None, "plain words")),
        ({"error": ""}, (None, None)),
        ({"result": "13"}, (None, None)),
        ([1, 2], (None, None)),
        (None, (None, None)),
    ],
)
def test_error_fields(body: object, fields: tuple[str | None, str | None]) -> None:
    assert error_fields(body) == fields


# -- the history entry -------------------------------------------------------------------


def test_required_keys_are_exactly_wasmiot_s() -> None:
    assert HistoryEntry.__required_keys__ == frozenset(WASMIOT_KEYS)
    fresh = entry(args={"n": "7"}, files={"in": "in"})
    assert list(fresh)[: len(WASMIOT_KEYS)] == WASMIOT_KEYS
    assert fresh["success"] is False and fresh["result"] is None
    assert fresh["request_args"] == {"n": "7"} and fresh["request_files"] == {"in": "in"}


def test_a_call_with_a_hop_as_a_supervisor_writes_it() -> None:
    written = entry()
    record_run(written, "13", True, 0.5)
    record_hop(written, "http://b/d/modules/m/g", HopStatus.OK, "21", URL)
    record_duration(written, 2.0)
    got = wire(written)
    assert got["result"] == "21" and got["step_result"] == "13" and got["success"] is True
    assert got["chain_status"] == "ok" and got["next_result_url"] == URL
    assert list(got)[: len(WASMIOT_KEYS)] == WASMIOT_KEYS
    view = read_entry(got)
    assert (view.success, view.result, view.own_result) == (True, "21", "13")
    assert (view.next_url, view.chained, view.hop, view.duration_ms) == (
        URL,
        True,
        HopStatus.OK,
        0.5,
    )


@pytest.mark.parametrize(
    "status", [s for s in HopStatus if s not in (HopStatus.OK, HopStatus.UNKNOWN)]
)
def test_a_failed_hop_fails_the_call_and_keeps_its_status(status: HopStatus) -> None:
    written = entry()
    record_run(written, "13", True, 0.5)
    record_hop(written, "http://b/x", status, "The next hop http://b/x failed", URL)
    got = wire(written)
    assert got["success"] is False and "next_result_url" not in got
    assert got["result"] == "The next hop http://b/x failed" and got["step_result"] == "13"
    view = read_entry(got)
    assert view.hop is status and view.next_url is None and view.chained


def test_only_unreachable_and_refused_hops_certainly_did_not_run() -> None:
    assert {s for s in HopStatus if s.never_ran} == {HopStatus.UNREACHABLE, HopStatus.REFUSED}


def test_a_wasmiot_entry_is_read_with_wasmiot_meanings() -> None:
    raw = {key: None for key in WASMIOT_KEYS} | {"success": False, "result": "failed (409)"}
    view = read_entry(raw)
    assert view.hop is HopStatus.UNKNOWN and not view.hop.never_ran  # no text is parsed
    assert not view.chained and view.own_result == "failed (409)" and view.duration_ms is None
    chained = read_entry({"success": True, "result": {"resultUrl": URL}})
    assert chained.next_url == URL and chained.success
    assert read_entry({"result": "1"}).success  # a wasmiot entry without verdict ran


def test_an_unknown_chain_status_is_not_safe_to_retry() -> None:
    view = read_entry({"success": False, "chained_to": "http://b", "chain_status": "gone"})
    assert view.hop is HopStatus.UNKNOWN and not view.hop.never_ran


def test_a_triggered_call_entry() -> None:
    message = Message(message_id="a-1", topic="t/1", qos=1, retain=False, bytes=4)
    written = entry(result="hot.hot rejected its input", message=message)
    got = wire(written)
    assert got["message"] == dict(message)
    assert got["step_result"] == got["result"] and got["success"] is False
    assert list(got)[-1] == "message"


def test_entry_ready() -> None:
    assert not entry_ready({"result": None, "success": None})
    assert entry_ready({"result": None, "success": False})
    assert entry_ready({"result": "1"})
    assert not entry_ready([1])


# -- call answers ------------------------------------------------------------------------


def test_read_answer() -> None:
    ok = read_answer(200, {"result": "13", "resultUrl": URL, "success": True})
    assert (ok.ok, ok.result, ok.result_url, ok.error) == (True, "13", URL, "")
    assert not read_answer(200, {"result": "x", "success": False}).ok
    failed = read_answer(502, {"result": "x", "resultUrl": ""}, "502: no")
    assert (failed.ok, failed.result_url, failed.error) == (False, None, "502: no")
    assert read_answer(200, {}).ok  # a wasmiot answer without success


def test_urls_inside_results() -> None:
    assert result_url_in(URL) == URL and result_url_in({"resultUrl": URL}) == URL
    assert result_url_in("http://b/other") is None and result_url_in(13) is None
    out = "http://b:5000/d/modules/cam/take/image.jpeg"
    assert output_file_url(out) == out
    assert output_file_url("13") is None and output_file_url(URL) is None
