"""wasmiot's bracket form fields (``fibo[mounts][0][name]=x``) as nested JSON-like data."""

from __future__ import annotations

import re
from typing import Any

from wasmfleet.core.errors import InvalidDocument

_BRACKET_KEY = re.compile(r"([^\[\]]+)((?:\[[^\[\]]+\])*)")
_SEGMENT = re.compile(r"\[([^\[\]]+)\]")


def parse_bracket_fields(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Nest bracket keys (``fibo[mounts][0][name]``) into objects; numbered groups become lists."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        match = _BRACKET_KEY.fullmatch(key)
        if match is None:
            raise InvalidDocument(
                f"Form field {key!r} is malformed: use name[key][key]... with non-empty keys, "
                "e.g. fibo[param0] or fibo[mounts][0][name]."
            )
        path = [match.group(1), *_SEGMENT.findall(match.group(2))]
        node = root
        for depth, segment in enumerate(path[:-1]):
            child = node.setdefault(segment, {})
            if not isinstance(child, dict):
                raise InvalidDocument(
                    f"Form field {key!r} clashes with field {_bracket(path[: depth + 1])!r}, "
                    "which holds a value, not a group."
                )
            node = child
        last = path[-1]
        if isinstance(node.get(last), dict):
            raise InvalidDocument(
                f"Form field {key!r} holds a value but is also used as a group "
                f"({key}[...]); send one or the other."
            )
        if last in node and node[last] != value:
            raise InvalidDocument(
                f"Form field {key!r} is given twice ({node[last]!r} and {value!r}); send it once."
            )
        node[last] = value
    return {k: _lists(v) for k, v in root.items()}


def _bracket(path: list[str]) -> str:
    return path[0] + "".join(f"[{p}]" for p in path[1:])


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    items = {k: _lists(v) for k, v in node.items()}
    if items and all(k.isascii() and k.isdigit() and len(k) <= 9 for k in items):
        return [items[k] for k in sorted(items, key=int)]
    return items
