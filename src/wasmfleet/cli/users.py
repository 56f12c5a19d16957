"""``wasmfleet user``: the people and CI jobs that hold API tokens (admin only)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from wasmfleet.cli.client import DEFAULT_URL, Client, OrchestratorOpt, reported
from wasmfleet.cli.output import Output, OutputOpt, ago, print_json, show, table

app = typer.Typer(
    name="user",
    help="Add, list and disable the users that hold API tokens (admin only).",
    no_args_is_help=True,
)


def _users_table(users: list[dict[str, Any]]) -> Any:
    result = table("name", "role", "locations", "created", "disabled")
    for u in users:
        disabled = ago(u.get("disabled_at")) if u.get("disabled_at") else ""
        where = ", ".join(u.get("locations") or []) or "anywhere"
        result.add_row(u["name"], u["role"], where, ago(u.get("created_at")), disabled)
    return result


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="User name (letters, digits, . _ @ + -).")],
    role: Annotated[
        str,
        typer.Option(
            help="admin, developer, operator, viewer, configurer, ai-developer, app-developer "
            "or end-user."
        ),
    ] = "viewer",
    location: Annotated[
        list[str] | None,
        typer.Option(
            help="Where an end user may install apps (at or below; repeatable; default: anywhere)."
        ),
    ] = None,
    orchestrator: OrchestratorOpt = DEFAULT_URL,
    output: OutputOpt = Output.table,
) -> None:
    """Add a user; then `wasmfleet token create --user NAME` gives them a token."""
    body: dict[str, Any] = {"name": name, "role": role}
    if location:
        body["locations"] = location
    with reported(), Client(orchestrator) as api:
        user = api.post("/api/v1/users", json=body)
    if output is Output.json:
        print_json(user)
    else:
        typer.echo(f"user {user['name']} added with the role {user['role']}")


@app.command("ls")
def ls(orchestrator: OrchestratorOpt = DEFAULT_URL, output: OutputOpt = Output.table) -> None:
    """List users."""
    with reported(), Client(orchestrator) as api:
        users = api.get("/api/v1/users")
    if output is Output.json:
        print_json(users)
    else:
        show(_users_table(users))


@app.command("disable")
def disable(
    name: Annotated[str, typer.Argument(help="User name.")],
    orchestrator: OrchestratorOpt = DEFAULT_URL,
    output: OutputOpt = Output.table,
) -> None:
    """Disable a user: every token of theirs is refused from now on."""
    with reported(), Client(orchestrator) as api:
        user = api.post(f"/api/v1/users/{name}/disable")
    if output is Output.json:
        print_json(user)
    else:
        typer.echo(f"user {user['name']} disabled; their tokens are refused")
