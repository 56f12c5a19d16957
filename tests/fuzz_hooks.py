"""schemathesis hooks of the fuzz runs (tests/fuzz_support.py loads them with SCHEMATHESIS_HOOKS).

- ``error_shape`` (a check): every 4xx answer is ``{"error": {"status", "code", "message"}}``
  (service/http.py) with the answer's status and a sentence; schemathesis' own
  ``not_a_server_error`` finds the 5xx.
- ``before_call``: sends ``Authorization: Bearer $WASMFLEET_TOKEN`` when that variable is set
  (a token never goes on a command line), and keeps the services on loopback: every URL or IP
  address in a generated body (a device to register, an orchestrator to report to, a module
  to download) is pointed at 127.0.0.1 port 9, where nothing listens.
"""

from __future__ import annotations

import ipaddress
import os
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import schemathesis

TOKEN_VARIABLE = "WASMFLEET_TOKEN"
NOWHERE = "127.0.0.1:9"
_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://")


@schemathesis.hook
def before_call(ctx: Any, case: Any, kwargs: Any) -> None:
    """Add the bearer token (when set) and keep every address in the body on loopback."""
    token = os.environ.get(TOKEN_VARIABLE)
    if token:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
    if case.body is not None:
        case.body = on_loopback(case.body)


def on_loopback(value: Any) -> Any:
    """``value`` with every URL and IP address (in strings, lists, objects) moved to loopback."""
    if isinstance(value, dict):
        return {k: on_loopback(v) for k, v in value.items()}
    if isinstance(value, list):
        return [on_loopback(v) for v in value]
    if isinstance(value, str):
        return _loopback_text(value)
    return value


def _loopback_text(text: str) -> str:
    if _URL.search(text):
        if _URL.match(text.strip()):
            try:
                parts = urlsplit(text.strip())
                if not _is_loopback(parts.hostname or ""):
                    return urlunsplit(parts._replace(netloc=NOWHERE))
                return text
            except ValueError:
                pass
        return _URL.sub("nowhere-", text)  # a URL inside other text: no longer a URL
    try:
        ipaddress.ip_address(text.strip())
    except ValueError:
        return text
    return text if _is_loopback(text.strip()) else "127.0.0.1"


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@schemathesis.check
def error_shape(ctx: Any, response: Any, case: Any) -> bool | None:
    """A 4xx carries the shared error shape with the same status and a non-empty message."""
    status = response.status_code
    if not 400 <= status < 500:
        return None
    try:
        body = response.json()
    except Exception:
        raise AssertionError(f"A {status} answer is not JSON: {response.text[:200]!r}") from None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        raise AssertionError(f"A {status} answer has no 'error' object: {response.text[:200]!r}")
    if error.get("status") != status:
        raise AssertionError(f"A {status} answer says status {error.get('status')!r}")
    if not isinstance(error.get("code"), str) or not error["code"]:
        raise AssertionError(f"A {status} answer has no error code: {error!r}")
    message = error.get("message")
    if not isinstance(message, str) or not message.strip():
        raise AssertionError(f"A {status} answer has no message: {error!r}")
    return None
