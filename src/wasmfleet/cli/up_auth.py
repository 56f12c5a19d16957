"""``wasmfleet up`` with auth on: the first admin's token, and the CLI context "up".

``up`` makes the token itself (DIR/admin.token, mode 0600) before the orchestrator starts, so
its own calls and the orchestrator (``--admin-token-file``, which reads an existing file) agree
from the first request; a data directory kept from an earlier run keeps its token. Once the
fleet runs, the context ``up`` (URL, token file, CA file with ``--tls``) becomes current, so the
printed commands work as they are; nothing is restored on exit, the output says how to switch.

The supervisors join the orchestrator as a fleet's devices do (docs/security.md, "Devices"):
``join_tokens`` makes a single-use join token per device with the admin token, written to
DIR/join/NAME.token (0600) for ``--join URL --join-token-file``; each device then holds its
own credential and takes control requests only from this orchestrator.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from wasmfleet.cli import client
from wasmfleet.cli.context_file import ENV_CONTEXT, Context, Contexts
from wasmfleet.cli.output import note
from wasmfleet.core.errors import ConfigurationError

CONTEXT = "up"
TOKEN_FILE = "admin.token"
JOIN_LIFETIME = "1h"
"""A join token that is not used within this time (a device that never started) expires."""


def join_tokens(orchestrator: str, root: Path, names: list[str]) -> dict[str, Path]:
    """A single-use join token for each device name, each in its own 0600 file."""
    folder = root / "join"
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    with client.Client(orchestrator, timeout=30) as api:
        for name in names:
            made = api.post(
                "/api/v1/tokens",
                json={"name": f"join@{name}", "role": "device-join", "expires_in": JOIN_LIFETIME},
            )
            path = folder / f"{name}.token"
            path.unlink(missing_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(str(made["token"]) + "\n")
            files[name] = path
    return files


def admin_token(root: Path) -> Path:
    """DIR/admin.token: kept when it exists, else a fresh ``wf_`` token (mode 0600)."""
    path = root / TOKEN_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write("wf_" + secrets.token_urlsafe(32) + "\n")
    return path


def use_here(token_file: Path) -> None:
    """This process's client calls send the admin token (WASMFLEET_TOKEN would win: dropped)."""
    client.global_flags["token_file"] = str(token_file)
    if os.environ.pop("WASMFLEET_TOKEN", None) is not None:
        note(
            "WASMFLEET_TOKEN is set in this shell: it wins over the context 'up' for the "
            "commands below; unset WASMFLEET_TOKEN to use them as printed",
            "yellow",
        )


def write_context(url: str, token_file: Path, ca_file: Path | None) -> None:
    """Make the context ``up`` (this fleet) current; say which it replaces and how to go back."""
    try:
        contexts = Contexts.load()
    except ConfigurationError as err:
        note(f"the CLI context was not written: {err.message}", "yellow")
        return
    previous = contexts.current
    contexts.items[CONTEXT] = Context(CONTEXT, url, ca_file, token_file)
    contexts.current = CONTEXT
    contexts.save()
    back = (
        f"wasmfleet context use {previous}"
        if previous and previous != CONTEXT
        else "wasmfleet context ls / use NAME"
    )
    note(
        f"auth is on: the CLI's current context is now '{CONTEXT}' ({url}, admin token in "
        f"{token_file}); switch back with `{back}`"
    )
    if os.environ.get(ENV_CONTEXT, "").strip() not in ("", CONTEXT):
        note(
            f"{ENV_CONTEXT} is set in this shell and wins over the current context; unset it "
            "to use the commands below as printed",
            "yellow",
        )
