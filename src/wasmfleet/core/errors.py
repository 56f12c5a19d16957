"""The one exception tree of wasmfleet.

The type of an exception tells the caller what to do; its message is a sentence a
person can act on. HTTP layers turn any ``WasmfleetError`` into the shared JSON
error shape using ``status`` and ``code``; nothing else is ever shown to a user.

    WasmfleetError
    ├── BadRequest (400)               the caller sent something we cannot use
    │   ├── InvalidDocument            malformed JSON, missing or mistyped fields
    │   ├── InvalidArgument            a function argument is missing or of the wrong type
    │   ├── InvalidMount               undeclared, missing or unsafe mount / file name
    │   ├── PayloadTooLarge (413)      an upload or download over the size limit
    │   └── UnsupportedMediaType (415) a request body of a type the route cannot read
    ├── NotFound (404)                 unknown deployment, module, function, file or request
    ├── Conflict (409)                 clashes with what is stored (duplicate name, module in use)
    │   └── Fenced                     a stale copy of a moved deployment refuses to serve
    ├── Unavailable (503)              cannot serve right now; retrying later can succeed
    │   └── LeaseExpired               a stateful step lost contact with its orchestrator
    ├── Unprocessable (422)            well-formed, but cannot be deployed here
    │   ├── FetchFailed                a module URL is unreachable or answered an error
    │   ├── ChecksumMismatch           a download does not match the given sha256
    │   ├── InvalidWasm                the bytes are not a valid WebAssembly module
    │   ├── MissingImports             the module needs host functions this device lacks
    │   ├── PlacementFailed            no device can host a step; ``reasons`` names each device
    │   └── MessageCycle               steps or bridges would pass messages round forever
    ├── ExecutionFailed (500)          the module itself failed during a call
    │   ├── WasmTrap                   the guest trapped (unreachable, out of bounds, ...)
    │   ├── CallTimeout                the call ran past its wall-clock limit
    │   └── MemoryLimitExceeded        the guest hit its linear-memory cap
    ├── ChainFailed (502)              the next hop of a pipeline failed or was unreachable
    └── ConfigurationError             bad settings at start-up (no HTTP status; exit code 2)
"""

from __future__ import annotations


class WasmfleetError(Exception):
    """Root of every error wasmfleet raises on purpose."""

    status: int = 500
    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def to_dict(self) -> dict[str, object]:
        """The JSON error shape shared by every HTTP API of wasmfleet."""
        return {"error": {"status": self.status, "code": self.code, "message": self.message}}


class BadRequest(WasmfleetError):
    """The request cannot be used as sent; the message says what to change."""

    status = 400
    code = "bad_request"


class InvalidDocument(BadRequest):
    """A JSON document is malformed or misses a required field."""

    code = "invalid_document"


class InvalidArgument(BadRequest):
    """A function argument is missing, unknown or of the wrong type."""

    code = "invalid_argument"


class InvalidMount(BadRequest):
    """A mount or file name is undeclared, missing or not a plain file name."""

    code = "invalid_mount"


class PayloadTooLarge(BadRequest):
    """An upload or a download is larger than the configured limit."""

    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(BadRequest):
    """The request body's content type is not one this route reads."""

    status = 415
    code = "unsupported_media_type"


class NotFound(WasmfleetError):
    """The named deployment, module, function, file or request does not exist."""

    status = 404
    code = "not_found"


class Conflict(WasmfleetError):
    """The request clashes with stored state: a duplicate name, or a module still in use."""

    status = 409
    code = "conflict"


class Fenced(Conflict):
    """This copy of a deployment is older than an epoch the device was told about."""

    code = "fenced"


class Unavailable(WasmfleetError):
    """The service cannot serve this now; the same request may succeed later."""

    status = 503
    code = "unavailable"


class LeaseExpired(Unavailable):
    """A stateful step refuses calls: its device lost contact with the orchestrator."""

    code = "lease_expired"


class Unprocessable(WasmfleetError):
    """The request is well-formed but cannot be carried out on this device."""

    status = 422
    code = "unprocessable"


class FetchFailed(Unprocessable):
    """A URL named in a deployment could not be downloaded."""

    code = "fetch_failed"


class ChecksumMismatch(Unprocessable):
    """A download does not match the sha256 the deployment gave for it."""

    code = "checksum_mismatch"


class InvalidWasm(Unprocessable):
    """The bytes are not a WebAssembly module this runtime accepts."""

    code = "invalid_wasm"


class MissingImports(Unprocessable):
    """The module imports host functions this device does not offer."""

    code = "missing_imports"

    def __init__(self, message: str, missing: list[str]) -> None:
        super().__init__(message)
        self.missing = missing

    def to_dict(self) -> dict[str, object]:
        """The shared error shape plus the list of missing imports."""
        body = super().to_dict()
        error = body["error"]
        assert isinstance(error, dict)
        error["missing"] = list(self.missing)
        return body


class PlacementFailed(Unprocessable):
    """A manifest step fits on no device; ``reasons`` says, per device, why not."""

    code = "unplaceable"

    def __init__(self, message: str, reasons: dict[str, str], step: str | None = None) -> None:
        super().__init__(message)
        self.reasons = reasons
        self.step = step

    def to_dict(self) -> dict[str, object]:
        """The shared error shape plus the per-device reasons."""
        body = super().to_dict()
        error = body["error"]
        assert isinstance(error, dict)
        error["reasons"] = dict(self.reasons)
        if self.step is not None:
            error["step"] = self.step
        return body


class MessageCycle(Unprocessable):
    """Steps (or bridges) pass messages round a loop; the message names the loop."""

    code = "message_cycle"


class ExecutionFailed(WasmfleetError):
    """The Wasm function failed while running; other deployments are unaffected."""

    status = 500
    code = "execution_failed"


class WasmTrap(ExecutionFailed):
    """The guest trapped."""

    code = "trap"


class CallTimeout(ExecutionFailed):
    """The call ran past its wall-clock limit and was interrupted."""

    code = "timeout"


class MemoryLimitExceeded(ExecutionFailed):
    """The guest tried to grow its linear memory past the cap."""

    code = "memory_limit"


class ChainFailed(WasmfleetError):
    """The next hop of a pipeline failed, answered an error or was unreachable."""

    status = 502
    code = "chain_failed"


class ConfigurationError(WasmfleetError):
    """A setting is invalid; raised at start-up, before anything is served."""

    code = "configuration"
