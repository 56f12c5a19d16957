"""``wasmfleet token``: create, list and revoke API tokens.

The secret is printed once, by ``create``; save it in a file (``--save PATH``, mode 0600)
or in WASMFLEET_TOKEN. Tokens are never read from the command line (they would show in
``ps``): the CLI reads WASMFLEET_TOKEN, ``--token-file`` or ~/.config/wasmfleet/token.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from wasmfleet.cli.client import DEFAULT_URL, Client, OrchestratorOpt, fail, reported
from wasmfleet.cli.output import Output, OutputOpt, ago, print_json, show, table

app = typer.Typer(
    name="token",
    help="Create, list and revoke API tokens (the secret is shown once).",
    no_args_is_help=True,
)


def _when(value: str | None, never: str = "") -> str:
    return ago(value) if value else never


def _tokens_table(tokens: list[dict[str, Any]]) -> Any:
    result = table("id", "name", "user", "role", "created", "expires", "revoked", "last used")
    for t in tokens:
        result.add_row(
            t["id"],
            t["name"],
            t["user"],
            t["role"],
            _when(t.get("created_at")),
            t.get("expires_at") or "never",
            _when(t.get("revoked_at")),
            _when(t.get("last_used_at"), "never"),
        )
    return result


def _save(path: Path, token: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        fail(f"{path} exists already; choose another file (the token was not saved).")
    except OSError as err:
        fail(f"Cannot write {path}: {err.strerror or err} (the token was not saved).")
    with os.fdopen(fd, "w") as out:
        out.write(token + "\n")


@app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="What the token is for.")] = "token",
    role: Annotated[
        str | None,
        typer.Option(help="admin, developer, operator or viewer (default: the user's role)."),
    ] = None,
    expires: Annotated[
        str | None, typer.Option(help="Lifetime such as 30d, 12h (default: never expires).")
    ] = None,
    user: Annotated[str | None, typer.Option(help="Whose token (admins; default: yours).")] = None,
    device: Annotated[
        bool,
        typer.Option(
            "--device",
            help="A single-use join token for a supervisor (admins): `wasmfleet supervisor "
            "--join URL` with it in WASMFLEET_JOIN_TOKEN or --join-token-file; with --name, "
            "only the device of that name may use it.",
        ),
    ] = False,
    save: Annotated[
        Path | None, typer.Option(help="Write the token to this new file (mode 0600).")
    ] = None,
    orchestrator: OrchestratorOpt = DEFAULT_URL,
    output: OutputOpt = Output.table,
) -> None:
    """Create a token; its secret is printed once (or saved with --save)."""
    if device:
        if role is not None or user is not None:
            fail("--device makes a join token: leave out --role and --user.", 2)
        role = "device-join"
        name = "join" if name == "token" else f"join@{name}"
    body: dict[str, Any] = {"name": name}
    for key, value in (("role", role), ("expires_in", expires), ("user", user)):
        if value is not None:
            body[key] = value
    with reported(), Client(orchestrator) as api:
        made = api.post("/api/v1/tokens", json=body)
    if save is not None:
        _save(save, made["token"])
        made = {**made, "token": f"(saved in {save})"}
    if output is Output.json:
        print_json(made)
        return
    typer.echo(
        f"token {made['name']} ({made['id']}) for {made['user']}, role {made['role']}, "
        f"expires {made.get('expires_at') or 'never'}"
    )
    if save is None:
        typer.echo("The secret, shown only now:")
    typer.echo(made["token"])


@app.command("ls")
def ls(
    user: Annotated[str | None, typer.Option(help="Only this user's tokens (admins).")] = None,
    orchestrator: OrchestratorOpt = DEFAULT_URL,
    output: OutputOpt = Output.table,
) -> None:
    """List tokens (yours; an admin sees everyone's). Secrets are never shown."""
    with reported(), Client(orchestrator) as api:
        tokens = api.get("/api/v1/tokens", params={"user": user} if user else None)
    if output is Output.json:
        print_json(tokens)
    else:
        show(_tokens_table(tokens))


@app.command("revoke")
def revoke(
    token_id: Annotated[str, typer.Argument(help="Token id (see `wasmfleet token ls`).")],
    orchestrator: OrchestratorOpt = DEFAULT_URL,
    output: OutputOpt = Output.table,
) -> None:
    """Revoke a token: it is refused from now on."""
    with reported(), Client(orchestrator) as api:
        token = api.delete(f"/api/v1/tokens/{token_id}")
    if output is Output.json:
        print_json(token)
    else:
        typer.echo(f"token {token['name']} ({token['id']}) of {token['user']} revoked")
