"""Setting values: sizes, durations, labels, capacity, models, and the kinds built on them.

Each parser raises ConfigurationError with a sentence naming where the value came from (a
flag, a variable, or a key in a config file). A ``Kind`` turns text (flags, the environment)
and TOML values (config files) into a setting's value; ``service/settings.py`` picks the kind
of each declared setting from ``KINDS``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
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


def parse_labels(items: list[str] | str, what: str = "A label") -> dict[str, str]:
    """Parse ``key=value`` items (a list, or one comma-separated string) into a dict."""
    if isinstance(items, str):
        items = [part for part in items.split(",") if part.strip()]
    labels: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise ConfigurationError(
                f"{what} must look like key=value (e.g. zone=lab), got {item!r}."
            )
        labels[key] = value
    return labels


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d|w)?\s*$", re.IGNORECASE)
_SECONDS = {"": 1, "ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str, what: str) -> float:
    """Parse '7d', '12h', '30m', '45s', '250ms' or a bare number of seconds into seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ConfigurationError(
            f"{what} must be a duration such as 45s, 30m, 12h or 7d (a bare number is "
            f"seconds), got {text!r}."
        )
    number, unit = match.groups()
    return float(number) * _SECONDS[(unit or "").lower()]


def show_duration(seconds: float) -> str:
    """Seconds as the largest whole unit: 604800 -> '7d', 90 -> '90s'."""
    for unit in ("d", "h", "m"):
        if seconds and seconds % _SECONDS[unit] == 0:
            return f"{seconds / _SECONDS[unit]:g}{unit}"
    return f"{seconds:g}s"


def show_size(size: int) -> str:
    """Bytes as the largest whole binary unit: 67108864 -> '64MiB'."""
    for unit, factor in (("GiB", 1024 * MiB), ("MiB", MiB), ("KiB", 1024)):
        if size and size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


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


def parse_bool(text: str, what: str) -> bool:
    """'1', 'true', 'yes', 'on' (or their opposites) as a boolean."""
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigurationError(f"{what} must be true or false, got {text!r}.")


def _number(cast: Callable[[str], Any], what_kind: str) -> Callable[[str, str], Any]:
    def parse(text: str, what: str) -> Any:
        try:
            return cast(text.strip())
        except ValueError:
            raise ConfigurationError(f"{what} must be {what_kind}, got {text!r}.") from None

    return parse


def _pairs(value: dict[Any, Any], what: str) -> list[str]:
    """A TOML table of scalars as ``key=value`` items."""
    items = []
    for key, item in value.items():
        if isinstance(item, dict | list):
            raise ConfigurationError(f"{what}.{key} must be a single value, not a table or list.")
        text = str(item).lower() if isinstance(item, bool) else str(item)
        items.append(f"{key}={text}")
    return items


def _items(value: Any, what: str) -> list[str] | str:
    """A string, a list of strings or a table of scalars as what the item parsers take."""
    if isinstance(value, dict):
        return _pairs(value, what)
    if isinstance(value, list | tuple):
        if not all(isinstance(item, str) for item in value):
            raise ConfigurationError(f"{what} must be a list of key=value strings.")
        return list(value)
    return str(value)


def _described(value: Any) -> str:
    names = {bool: "true/false", int: "a number", float: "a number", str: "text"}
    names.update({list: "a list", dict: "a table"})
    return f"{names.get(type(value), type(value).__name__)} ({value!r})"


@dataclass(frozen=True, slots=True)
class Kind:
    """How text and TOML values of one kind of setting become its value."""

    name: str
    expects: str
    """What a value must be, for a sentence: 'a whole number'."""
    parse: Callable[[str, str], Any]
    """(text, where) -> value; text comes from flags, the environment, TOML strings."""
    native: tuple[type, ...] = ()
    """Non-text values taken as they are (through ``coerce``), e.g. TOML integers."""
    coerce: Callable[[Any, str], Any] = field(default=lambda value, where: value)
    show: Callable[[Any], str] = field(default=str)
    """A value as a person writes it (docs, --help)."""
    text_ok: bool = True
    """Whether a TOML string is parsed as text (False: a quoted number is the wrong type)."""
    repeatable: bool = False
    """The flag may be given several times (a list of items)."""

    def from_text(self, text: str, where: str) -> Any:
        """The value of a flag's or a variable's text."""
        return self.parse(text, where)

    def from_value(self, value: Any, where: str) -> Any:
        """The value of a TOML value or of a flag already typed by the CLI."""
        if isinstance(value, str) and self.text_ok:
            return self.parse(value, where)
        sneaky_bool = isinstance(value, bool) and bool not in self.native  # True is an int
        if isinstance(value, self.native) and not sneaky_bool:
            return self.coerce(value, where)
        raise ConfigurationError(f"{where} must be {self.expects}, got {_described(value)}.")


def _whole_bytes(value: int, where: str) -> int:
    if value < 0:
        raise ConfigurationError(f"{where} must be a size of 0 or more bytes, got {value}.")
    return value


def _seconds(value: float, where: str) -> float:
    if value < 0:
        raise ConfigurationError(f"{where} must be a duration of 0 or more, got {value}.")
    return float(value)


def parse_paths(items: list[str] | tuple[Any, ...] | str, what: str) -> tuple[Path, ...]:
    """Paths from a list, or from one comma-separated string (an environment variable)."""
    if isinstance(items, str):
        items = [part for part in items.split(",") if part.strip()]
    paths = []
    for item in items:
        if not isinstance(item, str | Path) or not str(item).strip():
            raise ConfigurationError(f"{what} must be a list of file paths, got {item!r}.")
        paths.append(Path(str(item).strip()).expanduser())
    return tuple(paths)


def parse_strings(items: list[str] | tuple[Any, ...] | str, what: str) -> tuple[str, ...]:
    """Texts from a list, or from one comma-separated string (an environment variable)."""
    if isinstance(items, str):
        items = [part for part in items.split(",") if part.strip()]
    texts = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ConfigurationError(f"{what} must be a list of non-empty texts, got {item!r}.")
        texts.append(item.strip())
    return tuple(dict.fromkeys(texts))


def _show_pairs(value: Any) -> str:
    return ",".join(f"{k}={v}" for k, v in value.items()) if value else "none"


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("str", "text", lambda text, where: text),
        Kind("int", "a whole number", _number(int, "a whole number"), (int,), text_ok=False),
        Kind(
            "float", "a number", _number(float, "a number"), (int, float),
            coerce=lambda value, where: float(value), show=lambda v: f"{v:g}", text_ok=False,
        ),
        Kind(
            "bool", "true or false", parse_bool, (bool,),
            show=lambda v: "true" if v else "false", text_ok=False,
        ),
        Kind(
            "path", "a path", lambda text, where: Path(text).expanduser(), (Path,),
            coerce=lambda value, where: Path(value).expanduser(),
        ),
        Kind(
            "size", "a size such as 64MiB or a number of bytes", parse_size, (int,),
            coerce=_whole_bytes, show=show_size,
        ),
        Kind(
            "duration", "a duration such as 30m or 7d, or a number of seconds", parse_duration,
            (int, float), coerce=_seconds, show=show_duration,
        ),
        Kind(
            "labels", "key=value labels (a table, a list or 'k=v,k=v')",
            lambda text, where: parse_labels(text, where), (dict, list, tuple),
            coerce=lambda value, where: (
                {str(k): str(v) for k, v in value.items()}
                if isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
                else parse_labels(_items(value, where), where)
            ),
            show=_show_pairs, repeatable=True,
        ),
        Kind(
            "paths", "file paths (a list, or 'a.pub,b.pub')",
            lambda text, where: parse_paths(text, where), (list, tuple),
            coerce=lambda value, where: parse_paths(value, where),
            show=lambda v: ",".join(str(p) for p in v) or "none", repeatable=True,
        ),
        Kind(
            "strings", "texts (a list, or 'a,b')",
            lambda text, where: parse_strings(text, where), (list, tuple),
            coerce=lambda value, where: parse_strings(value, where),
            show=lambda v: ",".join(v) or "none", repeatable=True,
        ),
        Kind(
            "capacity", "capacity such as cores=2,memory=2048MiB (text or a table)",
            parse_capacity, (dict, CapacitySpec),
            coerce=lambda value, where: (
                value if isinstance(value, CapacitySpec)
                else parse_capacity(",".join(_pairs(value, where)), where)
            ),
            show=lambda v: "this machine's CPUs and memory",
        ),
        Kind(
            "nn_models", "NAME=PATH models (a table, a list or 'a=x.onnx,b=y.tflite')",
            parse_nn_models, (dict, list, tuple),
            coerce=lambda value, where: parse_nn_models(_items(value, where), where),
            show=_show_pairs, repeatable=True,
        ),
    )
}  # fmt: skip
"""Every kind a setting can be, by name."""
