"""Reading supervisors' HTTP answers: error sentences, error codes, call answers.

What the answers mean (keys, codes, hop outcomes) is ``core/protocol.py``; this module only
gets the JSON out of an answer (``Answered``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Protocol

from wasmfleet.core.protocol import Answer, error_fields, read_answer


class Answered(Protocol):
    """What is read of an answer: an ``httpx.Response`` or a ``step_http.StepAnswer``."""

    @property
    def status_code(self) -> int:
        """The HTTP status."""

    @property
    def text(self) -> str:
        """The body as text."""

    @property
    def reason_phrase(self) -> str:
        """The status's reason phrase."""

    def json(self, **kwargs: Any) -> Any:
        """The body parsed as JSON; ValueError when it is not JSON."""


def error_of(response: Answered) -> str:
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


def code_of(response: Answered) -> str | None:
    """The ``error.code`` of a JSON error answer, if any."""
    code, _ = error_fields(_json(response))
    return code


def answer_of(response: Answered) -> Answer:
    """A call's answer: success, result, result URL, and a sentence when it failed."""
    answer = read_answer(response.status_code, json_of(response))
    return answer if answer.ok else replace(answer, error=error_of(response))


def json_of(response: Answered) -> dict[str, Any]:
    """The answer's JSON object (a non-object becomes ``{"result": ...}``; not JSON: {})."""
    body = _json(response)
    if body is None:
        return {}
    return body if isinstance(body, dict) else {"result": body}


def _json(response: Answered) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
