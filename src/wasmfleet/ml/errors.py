"""Errors of ``wasmfleet ml build``; each message is a sentence a user can act on.

WasmfleetError
├── BadRequest
│   ├── NotAModel           the file does not hold a fitted scikit-learn model
│   └── InvalidCheckData    --check-data is unreadable or does not fit the model
├── Unprocessable
│   └── UnsupportedModel    a model of a type no generator handles here
├── ConfigurationError
│   ├── ToolchainMissing    no clang / wasm-ld / wasi-libc (names the Debian packages)
│   └── MissingDependency   scikit-learn, joblib, emlearn or m2cgen is not installed
└── CompileFailed           clang rejected the generated C (a bug: please report it)
"""

from __future__ import annotations

from wasmfleet.core.errors import (
    BadRequest,
    ConfigurationError,
    Unprocessable,
    WasmfleetError,
)


class NotAModel(BadRequest):
    """The file is not a pickle/joblib file of a fitted scikit-learn estimator."""

    code = "not_a_model"


class InvalidCheckData(BadRequest):
    """The check data cannot be read, or its shape does not fit the model."""

    code = "invalid_check_data"


class UnsupportedModel(Unprocessable):
    """No code generator handles this estimator type."""

    code = "unsupported_model"


class ToolchainMissing(ConfigurationError):
    """The wasm32-wasi C toolchain is not installed."""

    code = "toolchain_missing"


class MissingDependency(ConfigurationError):
    """A Python package of the ml extra is not installed."""

    code = "missing_dependency"


def missing(package: str) -> MissingDependency:
    """The error for a missing package of the ml extra, saying how to install it."""
    return MissingDependency(
        f"{package} is not installed; install wasmfleet's ml extra: pip install 'wasmfleet[ml]'."
    )


class CompileFailed(WasmfleetError):
    """clang rejected the generated C."""

    code = "compile_failed"
