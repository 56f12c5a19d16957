"""Reading supervisors' HTTP answers: error sentences, error codes, call answers.

What the answers mean (keys, codes, hop outcomes) is ``core/protocol.py``; this module only
gets the JSON out of an ``httpx.Response``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx

from wasmfleet.core.protocol import Answer, error_fields, read_answer


def error_of(response: httpx.Response) -> str:
    """``<status>: <the supervisor's sentence>`` from any error answer, JSON or not."""
    body = _json(response)
    if isinstance(body, dict):
        _, message = error_fields(body)
        if message:
            return f"{response.status_code}: {message}"
        for key in ("message", "result"):
            if body.get(key):
                return f"{response.status_code}: {body[key]}"
    text = response.text.strip().splitlines()[0][:300] if response.text.strip() else ""
    return f"{response.status_code}: {text or response.reason_phrase}"


def code_of(response: httpx.Response) -> str | None:
    """The ``error.code`` of a JSON error answer, if any."""
    code, _ = error_fields(_json(response))
    return code


def answer_of(response: httpx.Response) -> Answer:
    """A call's answer: success, result, result URL, and a sentence when it failed."""
    answer = read_answer(response.status_code, json_of(response))
    return answer if answer.ok else replace(answer, error=error_of(response))


def json_of(response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object (a non-object becomes ``{"result": ...}``; not JSON: {})."""
    body = _json(response)
    if body is None:
        return {}
    return body if isinstance(body, dict) else {"result": body}


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
