"""What a command needs beyond a device install, and the sentence when it is missing.

``pip install wasmfleet`` installs a device: the supervisor and the CLI client. The control
plane, the embedded broker and the ML build pipeline are extras (pyproject.toml). A command
whose extra is missing says how to get it instead of ending in a traceback: ``absent`` checks
before it runs (``importlib.util.find_spec``, nothing imported), ``missing`` turns a later
``ModuleNotFoundError`` of one of the extra's packages into the same sentence, and
``stand_in`` is what the help lists (and runs) when the command cannot even be imported.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import typer

PACKAGES: dict[str, tuple[str, ...]] = {
    "orchestrator": (
        "sqlalchemy",
        "fastapi",
        "pydantic",
        "psycopg",
        "numpy",
        "amqtt",
    ),
    "broker": ("amqtt",),
    "ml": ("numpy", "sklearn", "emlearn", "m2cgen", "joblib"),
}
"""Extra -> the top-level packages it installs that wasmfleet imports."""
NEEDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "orchestrator": ("orchestrator", ("sqlalchemy", "fastapi", "numpy")),
    "up": ("orchestrator", ("sqlalchemy", "fastapi", "numpy", "amqtt")),
    "broker": ("broker", ("amqtt",)),
    "ml": ("ml", ("numpy",)),
}
"""Command -> its extra and the packages it cannot start without (others run anywhere)."""
STAND_IN_SETTINGS = {"allow_extra_args": True, "ignore_unknown_options": True}
"""A stand-in takes any arguments, so that every use of the command gets the sentence."""


def sentence(command: str, packages: list[str]) -> str:
    """What to say when ``command`` lacks ``packages``."""
    extra = NEEDS[command][0]
    return (
        f"`wasmfleet {command}` needs {', '.join(packages)}, not installed here (`pip install "
        f"wasmfleet` installs a device: the supervisor and the CLI client). "
        f"Install it with: pip install 'wasmfleet[{extra}]'"
    )


def _installed(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def absent(command: str) -> str | None:
    """The sentence when ``command`` cannot start on this install, else None."""
    if command not in NEEDS:
        return None
    lacking = [p for p in NEEDS[command][1] if not _installed(p)]
    return sentence(command, lacking) if lacking else None


def missing(command: str, err: ImportError) -> str | None:
    """The sentence for ``command`` failing to import a package of its extra, else None."""
    package = (err.name or "").split(".")[0]
    if command not in NEEDS or package not in PACKAGES[NEEDS[command][0]]:
        return None
    return sentence(command, [package])


def stand_in(command: str, said: str) -> Any:
    """A command that only says ``said`` and exits with status 2."""

    def needs_extra(ctx: typer.Context) -> None:
        typer.secho(f"error: {said}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)

    # typer renders help as rich markup, where [ml] would be a style tag
    needs_extra.__doc__ = f"Not installed here: pip install 'wasmfleet\\[{NEEDS[command][0]}]'."
    return needs_extra
