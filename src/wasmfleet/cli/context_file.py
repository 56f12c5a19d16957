"""The CLI's contexts, like kubectl's: named orchestrators (URL, CA file, token file), one current.

They live in one file the CLI writes, ``$XDG_CONFIG_HOME/wasmfleet/contexts.toml`` (mode
0600; ``WASMFLEET_CONTEXTS_FILE`` names another), beside the ``client.toml`` people write::

    current-context = "lab"

    [contexts.lab]
    orchestrator = "https://lab.example:3000"
    ca-file = "/home/me/.config/wasmfleet/lab-ca.pem"
    token-file = "/home/me/.config/wasmfleet/tokens/lab.token"

A context never holds a token: ``token-file`` names a file (``wasmfleet login`` writes the
tokens it is given to ``tokens/NAME.token``, mode 0600). Which context applies: ``wasmfleet
--context NAME``, else ``WASMFLEET_CONTEXT``, else ``current-context``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wasmfleet.core.errors import ConfigurationError
from wasmfleet.service.settings import read_config

ENV_FILE = "WASMFLEET_CONTEXTS_FILE"
ENV_CONTEXT = "WASMFLEET_CONTEXT"
KEYS = ("orchestrator", "ca-file", "token-file")
"""The keys a context may hold (each a key of the client's settings)."""
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/wasmfleet`` (``~/.config/wasmfleet`` by default)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "wasmfleet"


def contexts_path() -> Path:
    """The contexts file: ``WASMFLEET_CONTEXTS_FILE``, else ``contexts.toml`` in config_dir."""
    given = os.environ.get(ENV_FILE, "").strip()
    return Path(given).expanduser() if given else config_dir() / "contexts.toml"


def tokens_dir() -> Path:
    """Where ``wasmfleet login`` keeps the tokens it was given (one 0600 file each)."""
    return contexts_path().parent / "tokens"


def check_name(name: str) -> str:
    """A context name, or ConfigurationError saying what one may be."""
    if not NAME.match(name):
        raise ConfigurationError(
            f"{name!r} is not a context name: use 1 to 63 letters, digits, '.', '-' or '_', "
            "starting with a letter or digit."
        )
    return name


def name_for(url: str) -> str:
    """A context name made from an orchestrator URL (``127.0.0.1-3000``)."""
    host = url.split("://", 1)[-1].split("/", 1)[0]
    made = re.sub(r"[^A-Za-z0-9._-]+", "-", host.replace(":", "-")).strip("-.")
    return made[:63] or "default"


def same_url(a: str, b: str) -> bool:
    """True when two orchestrator URLs name the same base (trailing slashes, case of host)."""
    return a.strip().rstrip("/").lower() == b.strip().rstrip("/").lower()


@dataclass(slots=True)
class Context:
    """One named orchestrator: its URL, and optionally a CA file and a token file."""

    name: str
    orchestrator: str
    ca_file: Path | None = None
    token_file: Path | None = None

    def table(self) -> dict[str, str]:
        """The context as the keys of the file (and of the client's settings)."""
        out = {"orchestrator": self.orchestrator}
        if self.ca_file is not None:
            out["ca-file"] = str(self.ca_file)
        if self.token_file is not None:
            out["token-file"] = str(self.token_file)
        return out


@dataclass(slots=True)
class Contexts:
    """The whole contexts file."""

    path: Path
    current: str | None = None
    items: dict[str, Context] = field(default_factory=dict)

    @classmethod
    def load(cls) -> Contexts:
        """The contexts file (empty when it does not exist); ConfigurationError if unusable."""
        path = contexts_path()
        if not path.exists():
            return cls(path)
        table = read_config(path)
        found = cls(path)
        current = table.get("current-context")
        if current is not None and not isinstance(current, str):
            raise ConfigurationError(f"current-context in {path} must be a context name.")
        found.current = current or None
        unknown = set(table) - {"current-context", "contexts"}
        if unknown:
            raise ConfigurationError(
                f"{sorted(unknown)[0]!r} in {path} is not a key of the contexts file (it "
                "holds current-context and [contexts.NAME] tables; wasmfleet login writes it)."
            )
        raw = table.get("contexts", {})
        if not isinstance(raw, dict):
            raise ConfigurationError(f"contexts in {path} must be tables [contexts.NAME].")
        for name, values in raw.items():
            found.items[name] = _context(path, name, values)
        return found

    def get(self, name: str) -> Context:
        """The context ``name``, or ConfigurationError listing the ones there are."""
        if name not in self.items:
            known = ", ".join(sorted(self.items)) or "none yet: wasmfleet login URL"
            raise ConfigurationError(f"There is no context {name!r} in {self.path} ({known}).")
        return self.items[name]

    def save(self) -> None:
        """Write the file (mode 0600, replaced atomically)."""
        lines = []
        if self.current:
            lines += [f"current-context = {_quoted(self.current)}", ""]
        for name in sorted(self.items):
            lines.append(f"[contexts.{_quoted(name)}]")
            lines += [f"{k} = {_quoted(v)}" for k, v in self.items[name].table().items()]
            lines.append("")
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write("# written by `wasmfleet login` and `wasmfleet context`\n")
            out.write("\n".join(lines))
        os.replace(temporary, self.path)


def _quoted(text: str) -> str:
    """A TOML basic string (JSON's string escapes are TOML's)."""
    return json.dumps(text, ensure_ascii=False)


def _context(path: Path, name: str, values: Any) -> Context:
    where = f"context {name!r} in {path}"
    if not isinstance(values, dict):
        raise ConfigurationError(f"{where} must be a table of {', '.join(KEYS)}.")
    unknown = set(values) - set(KEYS)
    if unknown:
        raise ConfigurationError(
            f"{sorted(unknown)[0]!r} of {where} is not a context key ({', '.join(KEYS)})."
        )
    url = values.get("orchestrator")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ConfigurationError(f"{where} needs orchestrator = an http:// or https:// URL.")
    paths = {k: values.get(k) for k in ("ca-file", "token-file")}
    for key, value in paths.items():
        if value is not None and not isinstance(value, str):
            raise ConfigurationError(f"{key} of {where} must be a file name.")
    ca, token = paths["ca-file"], paths["token-file"]
    return Context(
        name,
        url,
        Path(ca).expanduser() if ca else None,
        Path(token).expanduser() if token else None,
    )


def write_token(name: str, token: str) -> Path:
    """Keep ``token`` for context ``name`` in ``tokens/NAME.token`` (mode 0600); its path."""
    folder = tokens_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"{check_name(name)}.token"
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(token + "\n")
    os.replace(temporary, path)
    return path


def owned_token(context: Context) -> Path | None:
    """The context's token file when ``wasmfleet login`` wrote it (safe to delete), else None."""
    path = context.token_file
    if path is None:
        return None
    try:
        return path if path.resolve().parent == tokens_dir().resolve() else None
    except OSError:
        return None


def selected(flag: str | None = None) -> Context | None:
    """The context that applies: ``flag`` (``--context``), else WASMFLEET_CONTEXT, else the
    file's current context; None when there is none. ConfigurationError for an unknown name."""
    contexts = Contexts.load()
    name = flag or os.environ.get(ENV_CONTEXT, "").strip() or contexts.current
    if not name:
        return None
    return contexts.get(name)
