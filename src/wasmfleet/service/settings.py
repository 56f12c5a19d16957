"""One way to declare and load settings, for both services and the CLI client.

A setting is a field of a frozen dataclass declared with ``setting(...)``: its default, help,
kind (how text and TOML values become the field's value), flag, environment variables and
config-file key, all in one place. From those declarations ``load_settings`` builds the
object, ``cli/settings_command.py`` makes the typer options, and ``settings_doc.py`` the
table of docs/configuration.md. Every value is looked up in one order:

    command-line flag  >  environment variable  >  config file (--config FILE, TOML)  >  default

Names are derived from the field unless given: the flag is ``--`` + the field name with
``-`` for ``_`` and without a ``_s`` suffix (``heartbeat_interval_s`` -> ``--heartbeat-interval``);
the variable is the class's ``ENV_PREFIX`` + the flag's words in capitals
(``WASMFLEET_HEARTBEAT_INTERVAL``); the config key is the flag without ``--``
(``heartbeat-interval``; ``heartbeat_interval`` is accepted too). Unknown keys, values of the
wrong type and bad values are a ``ConfigurationError`` whose sentence names the flag, the
variable, or the key and its file. Only the standard library is imported here (``tomllib``
only when a file is read): this runs on the device path.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from wasmfleet.core.errors import ConfigurationError
from wasmfleet.service.setting_values import KINDS, Kind

METADATA_KEY = "wasmfleet.setting"
T = TypeVar("T")
Check = Callable[[Any], str | None]
"""A value check: None when the value is fine, else what it must be ("must be at least 1")."""


@dataclass(frozen=True, slots=True)
class Setting:
    """One declared setting, with every name it goes by filled in."""

    name: str
    """The dataclass field."""
    kind: Kind
    help: str
    flag: str
    off_flag: str | None
    """For booleans: the flag that turns it off (``--no-mdns``); None when there is none."""
    env: tuple[str, ...]
    """Environment variables, the first one preferred (later ones: wasmiot names)."""
    key: str
    """The key in a config file."""
    default: Any
    default_text: str
    """The default as a person writes it, or a description of a computed one."""
    default_is_value: bool
    """True when ``default_text`` is the value itself (``5000``), not a description."""
    choices: tuple[str, ...]
    check: Check | None
    repeatable: bool


@dataclass(frozen=True, slots=True)
class _Declared:
    help: str
    kind: str | None
    flag: str | None
    off_flag: str | None
    env: tuple[str, ...] | None
    also_env: tuple[str, ...]
    key: str | None
    default_text: str | None
    choices: tuple[str, ...]
    check: Check | None


def setting(
    default: Any = dataclasses.MISSING,
    *,
    help: str,
    kind: str | None = None,
    flag: str | None = None,
    off_flag: str | None = "",
    env: tuple[str, ...] | None = None,
    also_env: tuple[str, ...] = (),
    key: str | None = None,
    default_factory: Callable[[], Any] | None = None,
    default_text: str | None = None,
    choices: tuple[str, ...] = (),
    check: Check | None = None,
) -> Any:
    """A dataclass field that is a setting (see the module docstring for derived names).

    ``kind`` is one of ``setting_values.KINDS`` (default: from the field's type); ``env``
    replaces the derived variable, ``also_env`` adds names after it; ``off_flag`` (booleans)
    defaults to ``--no-<flag>``, None for none; ``default_text`` describes a default that is
    computed (None, or made by ``default_factory``).
    """
    declared = _Declared(
        help, kind, flag, off_flag, env, also_env, key, default_text, choices, check
    )
    metadata = {METADATA_KEY: declared}
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


# ----- value checks --------------------------------------------------------------------------


def between(low: float, high: float) -> Check:
    """Numbers from ``low`` to ``high``, both included."""
    return lambda v: None if low <= v <= high else f"must be between {low:g} and {high:g}"


def at_least(low: float) -> Check:
    """Numbers of ``low`` or more."""
    return lambda v: None if v >= low else f"must be at least {low:g}"


def above(low: float) -> Check:
    """Numbers greater than ``low``."""
    return lambda v: None if v > low else f"must be greater than {low:g}"


def url(*schemes: str) -> Check:
    """Text starting with one of ``scheme://`` (``sqlite`` also matches ``sqlite+driver``)."""
    shown = " or ".join(f"{s}://" for s in schemes)

    def check(value: Any) -> str | None:
        scheme = str(value).partition("://")[0].partition("+")[0].lower()
        return None if "://" in str(value) and scheme in schemes else f"must start with {shown}"

    return check


# ----- declarations --------------------------------------------------------------------------

_CACHE: dict[type, tuple[Setting, ...]] = {}
_TYPE_KINDS = {"str": "str", "int": "int", "float": "float", "bool": "bool", "Path": "path"}


def declared(cls: type) -> tuple[Setting, ...]:
    """Every setting of a settings dataclass, in field order."""
    if cls not in _CACHE:
        prefix = getattr(cls, "ENV_PREFIX", "WASMFLEET_")
        found = []
        for field in dataclasses.fields(cls):
            spec = field.metadata.get(METADATA_KEY)
            if isinstance(spec, _Declared):
                found.append(_resolve(field, spec, prefix))
        _CACHE[cls] = tuple(found)
    return _CACHE[cls]


def _resolve(field: dataclasses.Field[Any], spec: _Declared, prefix: str) -> Setting:
    kind_name = spec.kind or _kind_of(field)
    if kind_name not in KINDS:
        raise TypeError(f"setting {field.name}: unknown kind {kind_name!r}")
    kind = KINDS[kind_name]
    flag = spec.flag or "--" + field.name.removesuffix("_s").replace("_", "-")
    words = flag.removeprefix("--")
    env = spec.env if spec.env is not None else (prefix + words.upper().replace("-", "_"),)
    off_flag = None
    if kind.name == "bool":
        off_flag = f"--no-{words}" if spec.off_flag == "" else spec.off_flag
    if field.default is not dataclasses.MISSING:
        default = field.default
    elif field.default_factory is not dataclasses.MISSING:
        default = field.default_factory()
    else:
        raise TypeError(f"setting {field.name} needs a default")
    default_text = spec.default_text
    if default_text is None:
        if default is None or field.default is dataclasses.MISSING:
            raise TypeError(f"setting {field.name}: describe its computed default (default_text)")
        default_text = kind.show(default)
    return Setting(
        name=field.name,
        kind=kind,
        help=spec.help,
        flag=flag,
        off_flag=off_flag,
        env=env + spec.also_env,
        key=spec.key or words,
        default=default,
        default_text=default_text,
        default_is_value=spec.default_text is None,
        choices=spec.choices,
        check=spec.check,
        repeatable=kind.repeatable,
    )


def _kind_of(field: dataclasses.Field[Any]) -> str:
    text = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", "")
    base = text.replace(" | None", "").strip()
    if base not in _TYPE_KINDS:
        raise TypeError(f"setting {field.name}: give kind= for the type {text!r}")
    return _TYPE_KINDS[base]


def find(cls: type, name: str) -> Setting:
    """The declared setting of field ``name``."""
    for each in declared(cls):
        if each.name == name:
            return each
    raise KeyError(name)


def where_to_set(cls: type, name: str) -> str:
    """'--flag or VARIABLE' for a sentence that tells a user which setting to change."""
    found = find(cls, name)
    return f"{found.flag} or {found.env[0]}"


# ----- loading -------------------------------------------------------------------------------


def _shown(value: Any) -> str:
    """A value for an error sentence, with the password of a URL masked."""
    return (
        repr(re.sub(r"(://[^:/@\s]+):[^@/\s]*@", r"\1:***@", value))
        if isinstance(value, str)
        else repr(value)
    )


def check_value(item: Setting, value: Any, where: str) -> Any:
    """Apply the declared choices and check to a converted value; ConfigurationError if bad."""
    if item.choices:
        value = str(value).strip().lower()
        if value not in item.choices:
            listed = ", ".join(item.choices[:-1]) + f" or {item.choices[-1]}"
            raise ConfigurationError(f"{where} must be {listed}, got {_shown(value)}.")
    if item.check is not None and value is not None:
        problem = item.check(value)
        if problem:
            raise ConfigurationError(f"{where} {problem}, got {_shown(value)}.")
    return value


def check_declared(settings: object) -> None:
    """Check every declared setting's current value (for objects made in code)."""
    for item in declared(type(settings)):
        check_value(item, getattr(settings, item.name), item.key)


def read_config(path: Path | str) -> dict[str, Any]:
    """The top-level table of a TOML config file; ConfigurationError naming the file."""
    import tomllib

    path = Path(path).expanduser()
    try:
        with open(path, "rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        raise ConfigurationError(f"The config file {path} does not exist.") from None
    except IsADirectoryError:
        raise ConfigurationError(f"The config file {path} is a folder, not a file.") from None
    except OSError as err:
        raise ConfigurationError(f"Cannot read the config file {path}: {err.strerror}.") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigurationError(f"The config file {path} is not valid TOML: {err}.") from None
    except UnicodeDecodeError:
        raise ConfigurationError(f"The config file {path} is not UTF-8 text.") from None


def config_values(cls: type, table: Mapping[str, Any], path: Path | str) -> dict[str, Any]:
    """Config-file values by field name; unknown or repeated keys are refused."""
    by_key = {item.key: item for item in declared(cls)}
    out: dict[str, Any] = {}
    seen: dict[str, str] = {}
    for raw, value in table.items():
        key = raw.replace("_", "-")
        item = by_key.get(key)
        if item is None:
            near = difflib.get_close_matches(key.lower(), list(by_key), n=1)
            hint = f"; did you mean {near[0]!r}?" if near else "."
            what = "a table" if isinstance(value, dict) else "a key"
            raise ConfigurationError(
                f"{raw!r} in {path} is not {what} wasmfleet knows{hint} "
                "The keys are the command's flags without the leading dashes "
                "(see docs/configuration.md)."
            )
        if item.name in seen:
            raise ConfigurationError(f"{path} gives {key} twice ({seen[item.name]!r}, {raw!r}).")
        seen[item.name] = raw
        where = f"{key} in {path}"
        out[item.name] = check_value(item, item.kind.from_value(value, where), where)
    return out


def resolve(
    cls: type,
    *,
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    config: Mapping[str, Any] | None = None,
) -> dict[str, tuple[Any, str]]:
    """Each given setting's value and its source: flag > environment > config > (default).

    ``flags``: values by field name from the command line (None or [] = not given);
    ``config``: values already read with ``config_values``. Settings given nowhere are left
    out (the dataclass default applies).
    """
    env = os.environ if env is None else env
    values: dict[str, tuple[Any, str]] = {}
    for item in declared(cls):
        given = (flags or {}).get(item.name)
        if given is not None and given != [] and given != ():
            where = item.flag
            value = check_value(item, item.kind.from_value(given, where), where)
            values[item.name] = (value, "flag")
            continue
        name = next((n for n in item.env if env.get(n, "") != ""), None)
        if name is not None:
            value = check_value(item, item.kind.from_text(env[name], name), name)
            values[item.name] = (value, f"environment {name}")
        elif config is not None and item.name in config:
            values[item.name] = (config[item.name], "config")
    return values


def config_path(cls: type, given: Path | str | None, env: Mapping[str, str]) -> Path | None:
    """The config file to read: ``--config``, else the class's ``CONFIG_ENV`` variable."""
    if given:
        return Path(given).expanduser()
    variable = getattr(cls, "CONFIG_ENV", None)
    if variable and env.get(variable):
        return Path(env[variable]).expanduser()
    default = getattr(cls, "default_config", None)
    found = default() if callable(default) else None
    return found if isinstance(found, Path) and found.is_file() else None


def load_settings(
    cls: type[T],
    *,
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    config: Path | str | None = None,
) -> T:
    """Build ``cls`` from flags, the environment (default: ``os.environ``) and a config file
    (``config``, else ``cls.CONFIG_ENV``), then run its ``validate()`` if it has one."""
    env = os.environ if env is None else env
    path = config_path(cls, config, env)
    from_file = config_values(cls, read_config(path), path) if path is not None else None
    chosen = resolve(cls, flags=flags, env=env, config=from_file)
    settings = cls(**{name: value for name, (value, _) in chosen.items()})
    validate = getattr(settings, "validate", None)
    if callable(validate):
        validate()
    return settings
