"""The wire contract between supervisors and the orchestrator, written once.

Both services import the names below instead of spelling the contract as string literals:

- ``EPOCH_HEADER``: the fencing epoch a caller sends (``X-Wasmfleet-Epoch: <n>``).
- ``ErrorCode``: the ``code`` of the shared JSON error shape ``{"error": {"status", "code",
  "message"}}``; ``core/errors.py`` takes its codes from here, so the code a supervisor sends
  and the code the orchestrator checks are the same object. ``is_refusal`` says when an
  answer is a refusal of a call that certainly did not run (fenced, lease expired).
- ``CallAnswer``: what ``GET|POST /{deployment}/modules/{module}/{function}`` answers.
- ``HistoryEntry``: a ``GET /request-history/{id}`` entry. The wasmiot keys are required
  (the original supervisor writes them and its clients rely on them, docs/api.md); the
  keys wasmfleet adds are ``NotRequired`` (an original wasmiot supervisor never writes them).
- ``HopStatus``: how a supervisor's hop to the next step of a pipeline went (the entry's
  ``chain_status``), so whether the next step certainly did not run is decided from a
  value, never by parsing message text. ``read_entry`` is how the orchestrator reads an
  entry from either kind of supervisor.

The JSON key names are exactly those on the wire; nothing here changes the format.
"""

# No ``from __future__ import annotations``: HistoryEntry's required keys must be right at
# run time too (``HistoryEntry.__required_keys__`` are the wasmiot keys).
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NotRequired, TypedDict

from wasmfleet.core.tracing import TraceContext

EPOCH_HEADER = "X-Wasmfleet-Epoch"
"""The caller's epoch of a deployment; a stale copy (or an older caller) refuses the call."""
EPOCH_HEADER_RAW = EPOCH_HEADER.lower().encode("latin-1")
"""The same header as ASGI servers hand it over (lower case, bytes)."""
REQUEST_HISTORY_PATH = "/request-history/"
"""Where a supervisor keeps the entries its call answers point to (``resultUrl``)."""
MQTT_METHOD = "MQTT"
"""The ``method`` of an entry of a call triggered by an MQTT message."""
MODULES_PATH = "/modules/"
"""The path segment of function and output-file URLs: ``/{deployment}/modules/{module}/...``."""


class ErrorCode(StrEnum):
    """Every ``error.code`` wasmfleet's services send (see core/errors.py for their meaning)."""

    ERROR = "error"
    INTERNAL = "internal"
    BAD_REQUEST = "bad_request"
    INVALID_DOCUMENT = "invalid_document"
    INVALID_ARGUMENT = "invalid_argument"
    INVALID_MOUNT = "invalid_mount"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    HTTP_ERROR = "http_error"
    CONFLICT = "conflict"
    FENCED = "fenced"
    UNAVAILABLE = "unavailable"
    LEASE_EXPIRED = "lease_expired"
    NOT_LEADER = "not_leader"
    UNPROCESSABLE = "unprocessable"
    FETCH_FAILED = "fetch_failed"
    CHECKSUM_MISMATCH = "checksum_mismatch"
    SIGNATURE_INVALID = "signature_invalid"
    INVALID_WASM = "invalid_wasm"
    MISSING_IMPORTS = "missing_imports"
    UNPLACEABLE = "unplaceable"
    EXECUTION_FAILED = "execution_failed"
    REJECTED = "rejected"
    TRAP = "trap"
    TIMEOUT = "timeout"
    MEMORY_LIMIT = "memory_limit"
    CHAIN_FAILED = "chain_failed"
    DEPLOY_FAILED = "deploy_failed"
    CONFIGURATION = "configuration"
    BUILD_FAILED = "build_failed"
    ILLEGAL_TRANSITION = "illegal_transition"
    NOT_READY = "not_ready"
    INVALID_REQUEST = "invalid_request"
    MESSAGE_CYCLE = "message_cycle"
    # the module checker's findings (core/module_check.py, docs/module-check.md)
    NOT_WASM = "not_wasm"
    UNKNOWN_IMPORT = "unknown_import"
    IMPORT_SIGNATURE = "import_signature"
    NOT_OFFERED = "not_offered"
    NO_REACTOR = "no_reactor"
    UNDESCRIBED_EXPORT = "undescribed_export"
    MISSING_EXPORT = "missing_export"
    PARAM_COUNT = "param_count"
    PARAM_TYPE = "param_type"
    RESULT_TYPE = "result_type"
    POINTER_RESULT = "pointer_result"


REFUSALS: Mapping[ErrorCode, int] = {ErrorCode.FENCED: 409, ErrorCode.LEASE_EXPIRED: 503}
"""Refusals of a call that certainly did not run (a stale copy, a stateful step without a
lease), with the status they are sent with: the work may be retried where it moved."""
CALLER_ERRORS = frozenset({400, 413, 415})
"""Statuses of a call refused for the caller's input (retrying the same call cannot help)."""


def is_refusal(status: int, code: object) -> bool:
    """True when an answer refused a call that therefore certainly did not run."""
    return isinstance(code, str) and code in REFUSALS and REFUSALS[ErrorCode(code)] == status


def error_fields(body: object) -> tuple[str | None, str | None]:
    """``(code, message)`` of the shared JSON error shape (``error`` may also be a plain string)."""
    if not isinstance(body, Mapping):
        return None, None
    error = body.get("error")
    if isinstance(error, Mapping):
        code, message = error.get("code"), error.get("message")
        return (
            code if isinstance(code, str) else None,
            str(message) if message else None,
        )
    return None, (error if isinstance(error, str) and error else None)


class CallAnswer(TypedDict):
    """The body of a call's answer; an error answer adds the shared ``error`` object.

    An original wasmiot supervisor answers ``resultUrl`` only; wasmfleet adds the value
    (``result``, one round trip less) and ``success``."""

    result: NotRequired[Any]
    resultUrl: str
    success: NotRequired[bool]


@dataclass(frozen=True, slots=True)
class Answer:
    """A call answer as the caller reads it: did it succeed, its result, where its entry is."""

    ok: bool
    result: Any
    result_url: str | None
    error: str = ""
    """A sentence for a failed answer (``<status>: <message>``); empty when it succeeded."""


def read_answer(status: int, body: Mapping[str, Any], error: str = "") -> Answer:
    """Read a call answer: failed when its status is >= 400 or it says ``success: false``."""
    url = body.get("resultUrl")
    return Answer(
        ok=status < 400 and body.get("success") is not False,
        result=body.get("result"),
        result_url=url if isinstance(url, str) and url else None,
        error=error,
    )


class HopStatus(StrEnum):
    """How the hop to the next step went (a history entry's ``chain_status``)."""

    OK = "ok"
    """The next step ran and answered; its result is the entry's ``result``."""
    UNREACHABLE = "unreachable"
    """The connection to the next step could not be made: it certainly did not run."""
    REFUSED = "refused"
    """The next step refused as fenced or without lease: it certainly did not run."""
    BROKEN = "broken"
    """The connection broke after the request was sent: it may have run."""
    TIMEOUT = "timeout"
    """The next step did not answer in time: it may have run."""
    FAILED = "failed"
    """The next step answered an error: it ran (or refused its input) and failed."""
    UNKNOWN = "unknown"
    """Never written: an entry without (or with an unknown) ``chain_status``, e.g. from an
    original wasmiot supervisor. Whether the next step ran cannot be known."""

    @property
    def never_ran(self) -> bool:
        """True when the next step certainly did not run, so sending it again is safe."""
        return self in _NEVER_RAN


_NEVER_RAN = frozenset({HopStatus.UNREACHABLE, HopStatus.REFUSED})


class Message(TypedDict):
    """The MQTT message a triggered call handled (an entry's ``message``)."""

    message_id: str
    topic: str
    qos: int
    retain: bool
    bytes: int


class HistoryEntry(TypedDict):
    """One ``GET /request-history/{id}`` entry, as a wasmfleet supervisor writes it.

    Required are the keys of the original wasmiot supervisor, which its clients (the
    wasmiot orchestrator and GUI, scripts) rely on: ``result`` is the pipeline's final
    result and ``success`` whether the call (with its chain) succeeded. The others are
    wasmfleet's; the orchestrator reads an entry through ``read_entry``, which copes with
    their absence.
    """

    request_id: str
    """``<deployment>:<module>:<function>:<n>``; the end of the call answer's ``resultUrl``."""
    deployment_id: str
    module_name: str
    function_name: str
    method: str
    """``GET``, ``POST`` or ``MQTT_METHOD`` (a triggered call)."""
    request_args: dict[str, Any]
    request_files: dict[str, str]
    work_queued_at: str
    """Local ISO time the call was taken."""
    result: Any
    success: bool
    step_result: NotRequired[Any]
    """This function's own result (``result`` is the next hop's when it chained)."""
    step_ms: NotRequired[float | None]
    """This function's own run time."""
    duration_ms: NotRequired[float]
    """The whole call, the chain included."""
    chained_to: NotRequired[str]
    """The next step's URL, when the function has a ``to``."""
    chain_status: NotRequired[HopStatus]
    next_result_url: NotRequired[str]
    """The next step's entry (its ``resultUrl``), when it answered one."""
    message: NotRequired[Message]
    published_to: NotRequired[str]
    dead_letter_topic: NotRequired[str]
    trace_id: NotRequired[str]
    """The W3C trace this call belongs to (core/tracing.py)."""
    span_id: NotRequired[str]
    """This call's own span."""
    parent_span_id: NotRequired[str]
    """The caller's span (from its ``traceparent``); absent when this call started the trace."""
    started_at_ms: NotRequired[float]
    """Unix epoch milliseconds when the function started (this device's clock)."""


def call_answer(entry: HistoryEntry, base_url: str, success: bool) -> CallAnswer:
    """The answer to a call recorded in ``entry`` by the supervisor at ``base_url``."""
    return {
        "result": entry["result"],
        "resultUrl": f"{base_url}{REQUEST_HISTORY_PATH}{entry['request_id']}",
        "success": success,
    }


def new_entry(
    request_id: str,
    deployment: str,
    module: str,
    function: str,
    method: str,
    queued_at: str,
    args: dict[str, Any] | None = None,
    files: dict[str, str] | None = None,
    result: Any = None,
    message: Message | None = None,
) -> HistoryEntry:
    """A fresh entry of a call that has not succeeded (yet); it keeps ``args`` and ``files``."""
    entry: HistoryEntry = {  # a literal: this runs on every call
        "request_id": request_id,
        "deployment_id": deployment,
        "module_name": module,
        "function_name": function,
        "method": method,
        "request_args": args if args is not None else {},
        "request_files": files if files is not None else {},
        "work_queued_at": queued_at,
        "result": result,
        "success": False,
        "step_result": result,
        "step_ms": None,
    }
    if message is not None:
        entry["message"] = message
    return entry


def record_span(
    entry: HistoryEntry, span: TraceContext, parent: TraceContext | None, started_at_ms: float
) -> None:
    """Write the call's place in its trace and when it started (Unix epoch ms)."""
    entry["trace_id"] = span.trace_id
    entry["span_id"] = span.span_id
    if parent is not None:
        entry["parent_span_id"] = parent.span_id
    entry["started_at_ms"] = round(started_at_ms, 3)


def record_run(entry: HistoryEntry, result: Any, success: bool, step_ms: float) -> None:
    """Write what the function itself did (before any hop)."""
    entry["success"] = success
    entry["step_ms"] = step_ms
    entry["result"] = entry["step_result"] = result


def record_hop(
    entry: HistoryEntry,
    url: str,
    status: HopStatus,
    result: Any,
    next_result_url: str | None = None,
) -> None:
    """Write how the hop to ``url`` went; a failed hop fails the call (``result``: why)."""
    entry["chained_to"] = url
    entry["chain_status"] = status
    entry["result"] = result
    if status is not HopStatus.OK:
        entry["success"] = False
    elif next_result_url:
        entry["next_result_url"] = next_result_url


def record_duration(entry: HistoryEntry, duration_ms: float) -> None:
    """Write how long the whole call took, its chain included."""
    entry["duration_ms"] = duration_ms


@dataclass(frozen=True, slots=True)
class EntryView:
    """An entry as the orchestrator reads it, from a wasmfleet or an original wasmiot supervisor."""

    success: bool
    result: Any
    """The pipeline's result from here on (or the failure's sentence)."""
    own_result: Any
    """This step's own result (``result`` when the supervisor does not say)."""
    duration_ms: float | None
    next_url: str | None
    """The next step's entry: ``next_result_url``, or a result URL inside ``result`` (wasmiot)."""
    chained: bool
    """True when the supervisor sent the result on (it writes ``chained_to``)."""
    hop: HopStatus


def read_entry(raw: Mapping[str, Any]) -> EntryView:
    """Read an entry from the wire; missing wasmfleet keys get their wasmiot meaning."""
    result = raw.get("result")
    status = raw.get("chain_status")
    duration = raw.get("step_ms", raw.get("duration_ms"))
    return EntryView(
        success=bool(raw.get("success", True)),
        result=result,
        own_result=raw.get("step_result", result),
        duration_ms=duration if isinstance(duration, int | float) else None,
        next_url=_url_or_none(raw.get("next_result_url")) or result_url_in(result),
        chained="chained_to" in raw,
        hop=HopStatus(status) if status in _HOP_VALUES else HopStatus.UNKNOWN,
    )


_HOP_VALUES = frozenset(s.value for s in HopStatus if s is not HopStatus.UNKNOWN)


def entry_ready(raw: object) -> bool:
    """True when a fetched entry is one whose call has finished (it has a result or a verdict)."""
    return isinstance(raw, Mapping) and (
        raw.get("result") is not None or raw.get("success") is not None
    )


def result_url_in(value: Any) -> str | None:
    """A request-history URL inside a result (a wasmiot supervisor's chained result), if any."""
    if isinstance(value, Mapping):
        value = value.get("resultUrl")
    if isinstance(value, str) and REQUEST_HISTORY_PATH in value and value.startswith("http"):
        return value
    return None


def output_file_url(value: Any) -> str | None:
    """The URL of a step's output file, when its result is one."""
    if isinstance(value, str) and value.startswith("http") and MODULES_PATH in value:
        return value
    return None


def _url_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
