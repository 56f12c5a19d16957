"""Reading supervisors' answers: error sentences, error codes, history entries, result URLs."""

from __future__ import annotations

from typing import Any

import httpx


def error_of(response: httpx.Response) -> str:
    """``<status>: <the supervisor's sentence>`` from any error answer, JSON or not."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return f"{response.status_code}: {error['message']}"
        if isinstance(error, str):
            return f"{response.status_code}: {error}"
        for key in ("message", "result"):
            if body.get(key):
                return f"{response.status_code}: {body[key]}"
    text = response.text.strip().splitlines()[0][:300] if response.text.strip() else ""
    return f"{response.status_code}: {text or response.reason_phrase}"


def code_of(response: httpx.Response) -> str | None:
    """The ``error.code`` of a JSON error answer, if any."""
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("code") if isinstance(error, dict) else None


def hop_never_ran(entry: dict[str, Any]) -> bool:
    """True when a failed hop certainly did not run the next step (so retrying is safe)."""
    status = entry.get("chain_status")
    if isinstance(status, str):
        return status in ("unreachable", "refused")
    message = str(entry.get("result"))
    return any(
        sign in message
        for sign in (
            "Connection refused",
            "All connection attempts failed",
            "failed (409)",
            "failed (503)",
        )
    )


def file_url(value: Any) -> str | None:
    """The URL of a step's output file, when its result is one."""
    if isinstance(value, str) and value.startswith("http") and "/modules/" in value:
        return value
    return None


def json_of(response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object (a non-object becomes ``{"result": ...}``; not JSON: {})."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {"result": body}


def result_url_in(value: Any) -> str | None:
    """A request-history URL inside a result, if it is one."""
    if isinstance(value, dict):
        value = value.get("resultUrl")
    if isinstance(value, str) and "/request-history/" in value and value.startswith("http"):
        return value
    return None
