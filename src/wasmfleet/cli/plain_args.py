"""Read a typer command's options without typer's parser, for the device's long-running path.

typer builds a pydantic ``TypeAdapter`` for every option of the command it runs: for
``wasmfleet supervisor``'s ~35 options that imports pydantic and keeps ~10 MB in a process
that lives for months on a small device. ``plain_options`` reads the same options from the
same function signature (``typer.Option`` metadata: declarations, bool and repeatable
options) for the plain cases only — ``--flag VALUE``, ``--flag=VALUE``, ``--on``/``--off``
switches, repeated list options, str/int/float/Path values — and answers None for anything
else (``--help``, an unknown or incomplete option, a value that does not look like its type,
options with callbacks or environment variables...). The caller then hands the command line
to typer, so help and every error look exactly as before.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from typer.models import OptionInfo

_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_SCALARS: dict[type, Callable[[str], Any] | None] = {
    str: str,
    int: lambda text: int(text) if _INT.fullmatch(text) else None,
    float: lambda text: float(text) if _FLOAT.fullmatch(text) else None,
    Path: Path,
}


class _Option:
    """One option: the parameter it fills, how a value converts, and whether it repeats."""

    __slots__ = ("convert", "name", "repeat", "switch")

    def __init__(
        self,
        name: str,
        convert: Callable[[str], Any] | None,
        repeat: bool,
        switch: bool | None,
    ) -> None:
        self.name = name
        self.convert = convert
        self.repeat = repeat
        self.switch = switch
        """For a bool flag: the value it sets; None for an option that takes a value."""


def _plain_type(annotation: Any) -> Any:
    """``X`` for ``X | None`` and ``Optional[X]``; the annotation otherwise."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _plain_info(info: OptionInfo) -> bool:
    """Whether typer does nothing with an option's value but convert it to its type."""
    given = ("envvar", "callback", "parser", "click_type", "is_eager", "count", "prompt",
             "default_factory", "exists", "resolve_path", "writable", "allow_dash")  # fmt: skip
    if any(getattr(info, name, None) for name in given):
        return False
    if getattr(info, "min", None) is not None or getattr(info, "max", None) is not None:
        return False
    return all(getattr(info, name, True) for name in ("file_okay", "dir_okay", "readable"))


def _options(function: Callable[..., Any]) -> dict[str, _Option] | None:
    """Every spelling of every option of ``function``, or None if one is not plain."""
    found: dict[str, _Option] = {}
    for name, param in inspect.signature(function, eval_str=True).parameters.items():
        if typing.get_origin(param.annotation) is not Annotated:
            return None
        base, *extras = typing.get_args(param.annotation)
        info = next((x for x in extras if isinstance(x, OptionInfo)), None)
        if info is None or param.default is inspect.Parameter.empty:
            return None
        if not _plain_info(info):
            return None
        base = _plain_type(base)
        repeat = typing.get_origin(base) is list
        if repeat:
            (base,) = typing.get_args(base) or (str,)
        decls = list(info.param_decls or ())
        if base is bool and not repeat:
            default = f"--{name.replace('_', '-')}/--no-{name.replace('_', '-')}"
            for decl in decls or [default]:
                on, _, off = decl.partition("/")
                found[on.strip()] = _Option(name, None, False, True)
                if off.strip():
                    found[off.strip()] = _Option(name, None, False, False)
            continue
        convert = _SCALARS.get(base)
        if convert is None:
            return None
        for decl in decls or [f"--{name.replace('_', '-')}"]:
            found[decl] = _Option(name, convert, repeat, None)
    return found


def plain_options(function: Callable[..., Any], argv: list[str]) -> dict[str, Any] | None:
    """The keyword arguments typer would pass ``function`` for ``argv``, or None when the
    command line needs typer (help, errors, anything but plain options)."""
    options = _options(function)
    if options is None:
        return None
    values: dict[str, Any] = {}
    tokens = iter(argv)
    for token in tokens:
        if not token.startswith("--") or token == "--":
            return None
        flag, equals, text = token.partition("=")
        option = options.get(flag)
        if option is None:
            return None
        if option.switch is not None:
            if equals:
                return None  # "--mdns=1": typer says a flag takes no value
            values[option.name] = option.switch
            continue
        if not equals:
            text = next(tokens, None)  # type: ignore[assignment]
            if text is None or text.startswith("-"):
                return None  # missing, or a value typer may read differently
        assert option.convert is not None
        value = option.convert(text)
        if value is None:
            return None
        if option.repeat:
            values.setdefault(option.name, []).append(value)
        else:
            values[option.name] = value
    return values
