"""Bounds of the integers a request may carry: nothing larger than a database integer gets in.

SQLite and PostgreSQL store integers in 64 signed bits; Python's ``int`` is unbounded, so an
id, a version, an epoch or a limit taken from a request must be checked at the edge, or the
driver fails deep inside a query (SQLite: ``OverflowError``, a 500). ``whole_number`` reads
one from JSON or text and answers ``BadRequest`` with a sentence naming the range.
"""

from __future__ import annotations

from typing import Any

from wasmfleet.core.errors import BadRequest

MAX_DB_INT = 2**63 - 1
"""The largest integer SQLite and PostgreSQL (BIGINT) store."""

MAX_DIGITS = 19
"""Digits of ``MAX_DB_INT``: longer digit strings are refused before ``int()`` reads them."""


def whole_number(value: Any, name: str, *, low: int = 0, high: int = MAX_DB_INT) -> int:
    """``value`` (an int or a string of ASCII digits) as an int in ``[low, high]``.

    Booleans, floats, other digits (``'²'``) and out-of-range numbers raise BadRequest."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text.startswith("-") else text
        if digits and digits.isascii() and digits.isdigit() and len(digits) <= MAX_DIGITS:
            number = int(text)
    if number is None or not low <= number <= high:
        raise BadRequest(f"{name} must be a whole number from {low} to {high}, got {value!r}.")
    return number


def is_db_int(value: Any) -> bool:
    """True for an int (not a bool) that fits a signed 64-bit database column."""
    if not isinstance(value, int) or isinstance(value, bool):
        return False
    return -MAX_DB_INT - 1 <= value <= MAX_DB_INT
