"""MQTT topic names and topic filters: validation and matching (MQTT 3.1.1 §4.7, 5.0 §4.7).

A *topic name* is where a message is published: UTF-8, 1 to 65535 bytes, no wildcard
characters, no NUL. A *topic filter* is what a subscription matches: levels separated by
``/``, where ``+`` matches exactly one whole level and ``#`` — only as the last level —
matches any number of levels, including none (``a/#`` matches ``a`` too). Topics that
start with ``$`` (broker internals such as ``$SYS/...``) are not matched by a filter whose
first level is a wildcard. Shared subscriptions (``$share/group/filter``) are accepted and
match like their filter part.

Every problem is an ``InvalidDocument`` with a sentence naming the offending level, so a
manifest with a bad ``trigger`` is refused at deploy time with a 400.
"""

from __future__ import annotations

from wasmfleet.core.errors import InvalidDocument

MAX_TOPIC_BYTES = 65535


def check_topic(topic: object, where: str = "topic") -> str:
    """A valid topic name to publish to, or InvalidDocument saying why not."""
    text = _text(topic, where)
    if "+" in text or "#" in text:
        raise InvalidDocument(
            f"{where} {text!r} contains a wildcard (+ or #); wildcards are for subscriptions "
            "(trigger topics), a message is published to one concrete topic."
        )
    return text


def check_filter(topic_filter: object, where: str = "topic filter") -> str:
    """A valid topic filter to subscribe to, or InvalidDocument saying why not."""
    text = _text(topic_filter, where)
    levels = _filter_levels(text)
    for i, level in enumerate(levels):
        if level == "#":
            if i != len(levels) - 1:
                raise InvalidDocument(
                    f"{where} {text!r}: '#' must be the last level (e.g. 'site/#'), "
                    f"but level {i + 1} of {len(levels)} is '#'."
                )
        elif "#" in level:
            raise InvalidDocument(
                f"{where} {text!r}: '#' must be a whole level (e.g. 'site/#'), not part of "
                f"{level!r}."
            )
        elif "+" in level and level != "+":
            raise InvalidDocument(
                f"{where} {text!r}: '+' must be a whole level (e.g. 'site/+/temperature'), "
                f"not part of {level!r}."
            )
    return text


def matches(topic_filter: str, topic: str) -> bool:
    """True when ``topic`` (a name) matches ``topic_filter`` (assumed valid)."""
    levels = _filter_levels(topic_filter)
    names = topic.split("/")
    if topic.startswith("$") and levels and levels[0] in ("+", "#"):
        return False
    for i, level in enumerate(levels):
        if level == "#":
            return True
        if i >= len(names):
            return False
        if level != "+" and level != names[i]:
            return False
    return len(names) == len(levels)


def _filter_levels(text: str) -> list[str]:
    """The levels a filter matches with; a shared subscription's group prefix removed."""
    if text.startswith("$share/"):
        parts = text.split("/", 2)
        if len(parts) < 3 or not parts[1] or not parts[2] or "+" in parts[1] or "#" in parts[1]:
            raise InvalidDocument(
                f"Shared subscription {text!r} must look like $share/<group>/<filter>."
            )
        text = parts[2]
    return text.split("/")


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidDocument(f"{where} must be a non-empty string, got {value!r}.")
    if "\x00" in value:
        raise InvalidDocument(f"{where} {value!r} contains a NUL character.")
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > MAX_TOPIC_BYTES:
        raise InvalidDocument(f"{where} is {size} bytes long; MQTT allows {MAX_TOPIC_BYTES}.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidDocument(f"{where} {value!r} is not valid UTF-8.") from None
    return value
