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
    │   ├── LeaseExpired               a stateful step lost contact with its orchestrator
    │   └── NotLeader                  leader-only work's write after its leadership ended
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
    ├── IllegalTransition (500)        a state machine was asked for a move its table lacks (a bug)
    └── ConfigurationError             bad settings at start-up (no HTTP status; exit code 2)

Every ``code`` is a ``core.protocol.ErrorCode``: the value a service sends is the value its
peer compares with.
"""

from __future__ import annotations

from wasmfleet.core.protocol import ErrorCode


class WasmfleetError(Exception):
    """Root of every error wasmfleet raises on purpose."""

    status: int = 500
    code: str = ErrorCode.ERROR

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.warnings: tuple[str, ...] = ()
        """Sentences about the request that did not stop it (a manifest spelling read a new
        way), shown beside the error as ``warnings``."""

    def to_dict(self) -> dict[str, object]:
        """The JSON error shape shared by every HTTP API of wasmfleet."""
        error: dict[str, object] = {
            "status": self.status,
            "code": self.code,
            "message": self.message,
        }
        if self.warnings:
            error["warnings"] = list(self.warnings)
        return {"error": error}


class BadRequest(WasmfleetError):
    """The request cannot be used as sent; the message says what to change."""

    status = 400
    code: str = ErrorCode.BAD_REQUEST


class InvalidDocument(BadRequest):
    """A JSON document is malformed or misses a required field."""

    code: str = ErrorCode.INVALID_DOCUMENT


class InvalidArgument(BadRequest):
    """A function argument is missing, unknown or of the wrong type."""

    code: str = ErrorCode.INVALID_ARGUMENT


class InvalidMount(BadRequest):
    """A mount or file name is undeclared, missing or not a plain file name."""

    code: str = ErrorCode.INVALID_MOUNT


class PayloadTooLarge(BadRequest):
    """An upload or a download is larger than the configured limit."""

    status = 413
    code: str = ErrorCode.PAYLOAD_TOO_LARGE


class UnsupportedMediaType(BadRequest):
    """The request body's content type is not one this route reads."""

    status = 415
    code: str = ErrorCode.UNSUPPORTED_MEDIA_TYPE


class Unauthenticated(WasmfleetError):
    """No credential, or one that is malformed, unknown, expired or revoked (401)."""

    status = 401
    code: str = ErrorCode.UNAUTHENTICATED


class Forbidden(WasmfleetError):
    """A valid credential without the right for this route; the message names the role (403)."""

    status = 403
    code: str = ErrorCode.FORBIDDEN


class NotFound(WasmfleetError):
    """The named deployment, module, function, file or request does not exist."""

    status = 404
    code: str = ErrorCode.NOT_FOUND


class Conflict(WasmfleetError):
    """The request clashes with stored state: a duplicate name, or a module still in use."""

    status = 409
    code: str = ErrorCode.CONFLICT


class Fenced(Conflict):
    """This copy of a deployment is older than an epoch the device was told about."""

    code: str = ErrorCode.FENCED


class Unavailable(WasmfleetError):
    """The service cannot serve this now; the same request may succeed later."""

    status = 503
    code: str = ErrorCode.UNAVAILABLE


class LeaseExpired(Unavailable):
    """A stateful step refuses calls: its device lost contact with the orchestrator."""

    code: str = ErrorCode.LEASE_EXPIRED


class NotLeader(Unavailable):
    """A write made by leader-only work was refused: another orchestrator leads now."""

    code: str = ErrorCode.NOT_LEADER


class Unprocessable(WasmfleetError):
    """The request is well-formed but cannot be carried out on this device."""

    status = 422
    code: str = ErrorCode.UNPROCESSABLE


class FetchFailed(Unprocessable):
    """A URL named in a deployment could not be downloaded."""

    code: str = ErrorCode.FETCH_FAILED


class ChecksumMismatch(Unprocessable):
    """A download does not match the sha256 the deployment gave for it."""

    code: str = ErrorCode.CHECKSUM_MISMATCH


class SignatureInvalid(Unprocessable):
    """A module is unsigned where a signature is required, or its signature does not verify."""

    code: str = ErrorCode.SIGNATURE_INVALID


class InvalidWasm(Unprocessable):
    """The bytes are not a WebAssembly module this runtime accepts."""

    code: str = ErrorCode.INVALID_WASM


class MissingImports(Unprocessable):
    """The module imports host functions this device does not offer."""

    code: str = ErrorCode.MISSING_IMPORTS

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

    code: str = ErrorCode.UNPLACEABLE

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

    code = ErrorCode.MESSAGE_CYCLE


class ExecutionFailed(WasmfleetError):
    """The Wasm function failed while running; other deployments are unaffected."""

    status = 500
    code: str = ErrorCode.EXECUTION_FAILED


class InputRejected(ExecutionFailed):
    """A bytes-ABI function refused its input (a negative result): the caller's to fix, so a
    4xx over HTTP; a triggering message goes to the dead-letter topic."""

    status = 422
    code: str = ErrorCode.REJECTED


class WasmTrap(ExecutionFailed):
    """The guest trapped."""

    code: str = ErrorCode.TRAP


class CallTimeout(ExecutionFailed):
    """The call ran past its wall-clock limit and was interrupted."""

    code: str = ErrorCode.TIMEOUT


class MemoryLimitExceeded(ExecutionFailed):
    """The guest tried to grow its linear memory past the cap."""

    code: str = ErrorCode.MEMORY_LIMIT


class ChainFailed(WasmfleetError):
    """The next hop of a pipeline failed, answered an error or was unreachable."""

    status = 502
    code: str = ErrorCode.CHAIN_FAILED


class IllegalTransition(WasmfleetError):
    """A lifecycle was asked for a move its transitions table does not allow: a bug, not input."""

    code: str = ErrorCode.ILLEGAL_TRANSITION


class ConfigurationError(WasmfleetError):
    """A setting is invalid; raised at start-up, before anything is served."""

    code: str = ErrorCode.CONFIGURATION


class BuildFailed(WasmfleetError):
    """A module's source did not compile (``wasmfleet build``): the compiler's own output
    and a hint in one sentence."""

    status: int = 422
    code: str = ErrorCode.BUILD_FAILED
