"""What a supervisor's error answer says, as one line for a person."""

from __future__ import annotations

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
