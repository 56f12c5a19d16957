"""``wasmfleet login``, ``logout`` and ``context ls|use|rm``: orchestrators by name, like kubectl.

``login URL`` checks a token with ``GET /api/v1/whoami`` before anything is written; only a
token the orchestrator accepts is kept (in ``tokens/NAME.token``, mode 0600, unless it came
from ``--token-file``, which is then named instead) and its context becomes the current one.
A token is never a value on the command line (``ps`` would show it): it comes from
``--token-file FILE``, WASMFLEET_TOKEN, standard input, or a prompt that does not echo.
"""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from wasmfleet.cli import context_file
from wasmfleet.cli.client import error_message, fail, tls_problem
from wasmfleet.cli.context_file import Context, Contexts, check_name, name_for, owned_token
from wasmfleet.core.errors import ConfigurationError
from wasmfleet.service.http_clients import tls_context
from wasmfleet.service.tls import check_ca_file

app = typer.Typer(help="Named orchestrators (URL, CA, token file); one is current.")
MAX_TOKEN = 256


def _contexts() -> Contexts:
    try:
        return Contexts.load()
    except ConfigurationError as err:
        fail(err.message, 2)


def read_token(token_file: Path | None, prompt: bool) -> str:
    """The token to log in with: ``--token-file``, else WASMFLEET_TOKEN (unless ``prompt``),
    else standard input when it is not a terminal, else a prompt that does not echo."""
    if token_file is not None:
        try:
            text = token_file.expanduser().read_text(encoding="utf-8")
        except OSError as err:
            fail(f"Cannot read the token file {token_file}: {err.strerror or err}.", 2)
    elif not prompt and os.environ.get("WASMFLEET_TOKEN", "").strip():
        text = os.environ["WASMFLEET_TOKEN"]
    elif not sys.stdin.isatty():
        text = sys.stdin.readline(MAX_TOKEN + 2)
    else:
        text = getpass.getpass("API token (not echoed): ")
    token = text.strip()
    if not token:
        fail(
            "No token was given: pass --token-file FILE, set WASMFLEET_TOKEN, or type or "
            "pipe it in (it is never a value on the command line).",
            2,
        )
    if len(token) > MAX_TOKEN or any(c.isspace() for c in token):
        fail("The token must be one word (wf_...); check that the file holds only the token.", 2)
    return token


def whoami(url: str, token: str, ca_file: Path | None, timeout: float = 15.0) -> dict[str, Any]:
    """``GET URL/api/v1/whoami`` with ``token``: the answer, or exit 1 with the server's
    sentence (a refused token, an unreachable or untrusted orchestrator)."""
    verify: Any = True if ca_file is None else tls_context(ca_file)
    headers = {"authorization": f"Bearer {token}"}
    try:
        with httpx.Client(timeout=timeout, verify=verify) as http:
            response = http.get(url + "/api/v1/whoami", headers=headers)
    except httpx.ConnectError as err:
        fail(tls_problem(url, err) or f"Cannot reach the orchestrator at {url}.")
    except httpx.HTTPError as err:
        fail(f"Talking to the orchestrator at {url} failed: {str(err) or type(err).__name__}.")
    if not response.is_success:
        message = error_message(response)[0]
        fail(f"The orchestrator at {url} refused the token, nothing was saved: {message}")
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or "user" not in body:
        fail(f"{url} answered /api/v1/whoami with something else than a wasmfleet orchestrator.")
    return body


def login(
    url: Annotated[str, typer.Argument(help="The orchestrator, http(s)://HOST:PORT.")],
    name: Annotated[
        str | None, typer.Option(help="Name of the context (default: from the URL's host).")
    ] = None,
    token_file: Annotated[
        Path | None, typer.Option(metavar="FILE", help="Read the token from FILE (kept there).")
    ] = None,
    token: Annotated[
        bool,
        typer.Option(
            "--token",
            help="Read the token from standard input or a prompt that does not echo, even "
            "when WASMFLEET_TOKEN is set. Takes no value: a token is never put on the "
            "command line, where ps shows it.",
        ),
    ] = False,
    ca_file: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="CA bundle to verify an https:// orchestrator with."),
    ] = None,
) -> None:
    """Check a token against an orchestrator, keep it as a context and make it current.

    The token comes from --token-file FILE, else WASMFLEET_TOKEN, else standard input
    (echo ... | wasmfleet login URL) or a prompt. It is checked with GET /api/v1/whoami:
    a refused token saves nothing.
    """
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        fail(f"{url!r} is not an orchestrator URL; give one like http://127.0.0.1:3000.", 2)
    try:
        context_name = check_name(name or name_for(url))
        ca = ca_file.expanduser().resolve() if ca_file is not None else None
        check_ca_file(ca, "--ca-file")
    except ConfigurationError as err:
        fail(err.message, 2)
    contexts = _contexts()
    secret = read_token(token_file, token)
    who = whoami(url, secret, ca)
    if token_file is not None:
        kept = token_file.expanduser().resolve()
    else:
        kept = context_file.write_token(context_name, secret)
    old = contexts.items.get(context_name)
    stale = owned_token(old) if old is not None else None
    if stale is not None and stale != kept:
        stale.unlink(missing_ok=True)
    contexts.items[context_name] = Context(context_name, url, ca, kept)
    contexts.current = context_name
    contexts.save()
    if who.get("auth") == "off":
        typer.secho(
            f"warning: {url} runs with --auth off: the token was not checked, every "
            "caller is anonymous there.",
            fg="yellow",
            err=True,
        )
    else:
        typer.echo(f"Logged in to {url} as {who.get('user')} (role {who.get('role')}).")
    typer.echo(f"Context {context_name!r} is current (token file {kept}).")


def logout(
    name: Annotated[
        str | None, typer.Argument(help="The context (default: the current one).")
    ] = None,
) -> None:
    """Forget a context's token (the file login wrote is deleted); the context stays."""
    contexts = _contexts()
    chosen = name or contexts.current
    if not chosen:
        fail("No context is current; name one (wasmfleet context ls).", 2)
    try:
        context = contexts.get(chosen)
    except ConfigurationError as err:
        fail(err.message, 2)
    owned = owned_token(context)
    if owned is not None:
        owned.unlink(missing_ok=True)
    context.token_file = None
    contexts.save()
    typer.echo(f"Logged out of {context.orchestrator} (context {chosen!r} has no token now).")


@app.command("ls")
def list_contexts() -> None:
    """Every context; * marks the current one."""
    contexts = _contexts()
    if not contexts.items:
        typer.echo(f"No contexts yet in {contexts.path}: wasmfleet login URL.")
        return
    rows = [("", "NAME", "ORCHESTRATOR", "TOKEN FILE", "CA FILE")]
    for each in sorted(contexts.items.values(), key=lambda c: c.name):
        rows.append(
            (
                "*" if each.name == contexts.current else "",
                each.name,
                each.orchestrator,
                str(each.token_file or "-"),
                str(each.ca_file or "-"),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@app.command("use")
def use(name: Annotated[str, typer.Argument(help="The context to make current.")]) -> None:
    """Make a context the current one."""
    contexts = _contexts()
    try:
        context = contexts.get(name)
    except ConfigurationError as err:
        fail(err.message, 2)
    contexts.current = name
    contexts.save()
    typer.echo(f"Context {name!r} is current ({context.orchestrator}).")


@app.command("rm")
def remove(name: Annotated[str, typer.Argument(help="The context to remove.")]) -> None:
    """Remove a context (and the token file login wrote for it)."""
    contexts = _contexts()
    try:
        context = contexts.get(name)
    except ConfigurationError as err:
        fail(err.message, 2)
    owned = owned_token(context)
    if owned is not None:
        owned.unlink(missing_ok=True)
    del contexts.items[name]
    if contexts.current == name:
        contexts.current = None
    contexts.save()
    typer.echo(
        f"Context {name!r} removed"
        + (" (no context is current now)." if contexts.current is None else ".")
    )
