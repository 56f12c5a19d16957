"""How the CLI reports the orchestrator's refusals and unreachable endpoints: ``ApiError``
(the sentence, and the server's status, code and body), ``fail`` (``error: ...`` in red, exit
code), ``reported`` (an ApiError in a block becomes ``fail``), and the sentences for error
answers of any shape and for TLS failures. ``cli/client.py`` raises them; every command uses
them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, NoReturn

import httpx
import typer


class ApiError(Exception):
    """The orchestrator could not be reached or refused a request; ``message`` says why."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.body = body

    @property
    def error(self) -> dict[str, Any]:
        """The ``error`` object of the server's answer ({} when there was none)."""
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return dict(self.body["error"])
        return {}


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: <message>`` in red on stderr and exit with ``code``."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@contextlib.contextmanager
def reported() -> Iterator[None]:
    """Turn an ApiError raised inside the block into ``fail`` (exit 1, no traceback)."""
    try:
        yield
    except ApiError as err:
        fail(err.message)


def tls_problem(url: str, err: Exception) -> str | None:
    """A sentence for a connection that failed in TLS (None when it did not)."""
    text = str(err)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        reason = text.split("certificate verify failed:", 1)[-1].split("(_ssl", 1)[0].strip()
        return (
            f"The orchestrator at {url} presented a certificate this client does not trust "
            f"({reason or 'certificate verify failed'}); pass the CA that signed it with "
            "--ca-file FILE or WASMFLEET_CA_FILE."
        )
    if "WRONG_VERSION_NUMBER" in text or "record layer failure" in text:
        plain = url.replace("https://", "http://", 1)
        return (
            f"The orchestrator at {url} does not speak HTTPS; use {plain}, or start it with "
            "--tls-cert and --tls-key."
        )
    return None


def error_message(response: httpx.Response) -> tuple[str, str | None, Any]:
    """(sentence, code, parsed body) of an error answer, whatever its shape."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        message = str(error.get("message") or f"HTTP {response.status_code}")
        return message, error.get("code"), body
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        return body["detail"], None, body
    text = response.text.strip().splitlines()[0][:200] if response.text.strip() else ""
    where = f"{response.request.method} {response.request.url.path}"
    reason = response.reason_phrase or "error"
    return (
        f"{where} answered {response.status_code} {reason}" + (f": {text}" if text else "."),
        None,
        body,
    )
