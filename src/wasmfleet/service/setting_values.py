"""Parsing setting values from flags and the environment: sizes, labels, capacity, models.

Each parser raises ConfigurationError with a sentence naming the setting; ``settings.py``
uses them for both flags and ``WASMFLEET_*`` variables (``convert_setting``).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wasmfleet.core.errors import ConfigurationError
from wasmfleet.core.quantities import MAX_BYTES, parse_quantity, size_advice
from wasmfleet.runtime.limits import MiB

log = logging.getLogger(__name__)
_CHANGED = {"k": ("KiB", 3), "M": ("MiB", 6), "G": ("GiB", 9), "T": ("TiB", 12)}
"""Suffixes that meant binary units here before sizes followed Kubernetes (64M was 64 MiB)."""
_warned: set[str] = set()


def parse_size(text: str, what: str) -> int:
    """Bytes from a Kubernetes quantity: '256Mi' or '256MiB' (2^20 bytes each), '64M'
    (10^6 bytes each), '1e9', '1048576'; a size that meant binary units before warns once."""
    spelled = text.strip()
    quantity = parse_quantity(spelled)
    if quantity is None:
        raise ConfigurationError(
            f"{what} must be a size such as 256Mi or 256MiB (2^20 bytes each), 256M (10^6 "
            f"bytes each) or 1048576 (bytes), got {text!r}{size_advice(text)}."
        )
    if quantity.numerator < 0:
        raise ConfigurationError(f"{what} cannot be negative, got {text!r}; write e.g. 64Mi.")
    if quantity.suffix == "m" and quantity.numerator:
        raise ConfigurationError(
            f"{what} {text!r}: m means milli (a thousandth of a byte) in Kubernetes "
            f"quantities; write {spelled[:-1]}Mi (or {spelled[:-1]}M for 10^6 bytes each)."
        )
    size = quantity.ceil()
    if size > MAX_BYTES:
        raise ConfigurationError(f"{what} {text!r} is more than 8Ei bytes.")
    once = f"{what}={spelled}"
    if quantity.suffix in _CHANGED and quantity.numerator and once not in _warned:
        _warned.add(once)
        binary, power = _CHANGED[quantity.suffix]
        log.warning(
            "%s %s now means %s x 10^%d bytes (%.6g MiB), as in Kubernetes, not %s %s as "
            "before; write %s%s to keep that",
            what, spelled, spelled[:-1], power, size / MiB, spelled[:-1], binary,
            spelled[:-1], binary[:2],
        )  # fmt: skip
    return size


def parse_labels(items: list[str] | str) -> dict[str, str]:
    """Parse ``key=value`` items (a list, or one comma-separated string) into a dict."""
    if isinstance(items, str):
        items = [part for part in items.split(",") if part.strip()]
    labels: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise ConfigurationError(
                f"A label must look like key=value (e.g. zone=lab), got {item!r}."
            )
        labels[key] = value
    return labels


NN_MODEL_SUFFIXES = {".onnx": "onnx", ".tflite": "tflite"}
"""Model file suffix -> WASI-NN backend (see runtime/nn)."""
_NN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


def parse_nn_models(items: list[str] | str, what: str = "--nn-model") -> dict[str, Path]:
    """Parse ``NAME=PATH`` items (a list, or one comma-separated string) into checked
    WASI-NN model files."""
    if isinstance(items, str):
        items = [part for part in items.split(",") if part.strip()]
    models: dict[str, Path] = {}
    for item in items:
        name, sep, path = (piece.strip() for piece in item.partition("="))
        if not sep or not name or not path:
            raise ConfigurationError(
                f"{what} must look like NAME=PATH (e.g. face=/models/face.tflite), got {item!r}."
            )
        if name in models:
            raise ConfigurationError(f"{what} names the model {name!r} twice.")
        models[name] = Path(path).expanduser()
        check_nn_model(name, models[name], what)
    return models


def check_nn_model(name: str, path: Path, what: str = "--nn-model") -> None:
    """Refuse a model name or file the supervisor cannot offer, with a sentence."""
    if not _NN_NAME.fullmatch(name):
        raise ConfigurationError(
            f"{what} {name}: a model name is 1-63 letters, digits, '.', '_' or '-'."
        )
    if path.suffix.lower() not in NN_MODEL_SUFFIXES:
        raise ConfigurationError(
            f"{what} {name}={path}: the file must end in .onnx (ONNX Runtime) or .tflite "
            "(LiteRT), which is how its backend is chosen."
        )
    if not path.is_file():
        raise ConfigurationError(f"{what} {name}={path}: there is no such file.")


_CAPACITY_KEYS = ("cores", "millicores", "memory", "accelerator")
_CAPACITY_RANGES = {"cores": (1, 4096), "millicores": (1, 1_000_000), "accelerator": (0, 100)}


@dataclass(frozen=True, slots=True)
class CapacitySpec:
    """Declared capacity (``--capacity``); None means "what this machine has"."""

    cores: int | None = None
    """Logical cores offered; None = the machine's logical CPU count."""
    millicores: int = 1000
    """Capacity of each core in millicores (1000 = one whole core)."""
    memory_mb: int | None = None
    """Memory offered in MiB; None = the machine's physical memory."""
    accelerator_pct: int = 0
    """Share of an ML accelerator offered, 0..100."""


def parse_capacity(text: str, what: str = "capacity") -> CapacitySpec:
    """Parse 'cores=2,millicores=1000,memory=2048Mi,accelerator=100' (every key optional;
    memory is a size as ``parse_size`` reads it, offered in whole MiB rounded up)."""
    values: dict[str, int] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        key, sep, value = (piece.strip() for piece in item.partition("="))
        key = key.lower()
        if not sep or not value or key not in _CAPACITY_KEYS:
            raise ConfigurationError(
                f"{what} must be comma-separated key=value items with the keys "
                f"{', '.join(_CAPACITY_KEYS)} (e.g. cores=2,memory=2048Mi), got {item!r}."
            )
        if key in values:
            raise ConfigurationError(f"{what} gives {key} twice ({text!r}).")
        if key == "memory":
            size = parse_size(value, f"{what} memory")
            if size < MiB:
                raise ConfigurationError(
                    f"{what} memory must be at least 1Mi, got {value!r} "
                    "(a bare number is bytes; write e.g. 2048Mi)."
                )
            # Whole MiB rounded up, as a manifest's memory is: a step asking exactly what a
            # device declares (2G and 2G) fits it.
            values[key] = -(-size // MiB)
            continue
        low, high = _CAPACITY_RANGES[key]
        if key == "accelerator":
            value = value.removesuffix("%").strip()
        if not (value.isascii() and value.isdigit()) or not low <= int(value) <= high:
            raise ConfigurationError(
                f"{what} {key} must be a whole number from {low} to {high}, got {value!r}."
            )
        values[key] = int(value)
    return CapacitySpec(
        cores=values.get("cores"),
        millicores=values.get("millicores", 1000),
        memory_mb=values.get("memory"),
        accelerator_pct=values.get("accelerator", 0),
    )


def _bool(text: str, what: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigurationError(f"{what} must be true or false, got {text!r}.")


def convert_setting(kind: str, text: str, name: str) -> Any:
    """Convert an environment value of a setting kind (int, float, bool, size, labels,
    capacity, nn_models, str)."""
    try:
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, got {text!r}.") from None
    if kind == "bool":
        return _bool(text, name)
    if kind == "size":
        return parse_size(text, name)
    if kind == "labels":
        return parse_labels(text)
    if kind == "capacity":
        return parse_capacity(text, name)
    if kind == "nn_models":
        return parse_nn_models(text, name)
    return text
