"""A trigger on this device: the route from a topic filter to a function, and how a message
goes in (see streams.py for the rest).

The payload goes in as the function's one execution mount (``mount``, no parameters), as
bytes through ``alloc`` (``bytes``, runtime/bytes_abi.py), as its one number parameter
(``scalar``) or not at all (``none``); any other function cannot be triggered.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field

from wasmfleet.core.errors import Unprocessable
from wasmfleet.core.models import FunctionSpec, Trigger
from wasmfleet.runtime.bytes_abi import takes_bytes
from wasmfleet.runtime.engine import FuncSignature

RETAINED_MEMORY = 1024
"""Retained messages remembered per trigger, so that a re-subscription does not rerun them."""
_SCALARS = {"i32", "i64", "f32", "f64"}


@dataclass(slots=True)
class TriggerRoute:
    """A deployed function that runs for messages matching its trigger."""

    deployment: str
    module: str
    function: str
    trigger: Trigger
    input: str
    """How the payload goes in: ``mount``, ``bytes``, ``scalar`` or ``none``."""
    mount: str | None = None
    retained: OrderedDict[str, bytes] = field(default_factory=OrderedDict)
    """Topic -> digest of the last retained payload handled."""
    received: int = 0
    handled: int = 0
    failed: int = 0

    @property
    def key(self) -> str:
        """``deployment/module/function``."""
        return f"{self.deployment}/{self.module}/{self.function}"

    def seen_retained(self, topic: str, payload: bytes) -> bool:
        """True when this retained message was handled already (then: skip it)."""
        digest = hashlib.sha256(payload).digest()
        if self.retained.get(topic) == digest:
            return True
        self.retained[topic] = digest
        self.retained.move_to_end(topic)
        while len(self.retained) > RETAINED_MEMORY:
            self.retained.popitem(last=False)
        return False


def trigger_input(fn: FunctionSpec, functions: dict[str, FuncSignature]) -> tuple[str, str | None]:
    """(input kind, mount name) for a triggered function; Unprocessable when none fits."""
    mounts = fn.mounts_at("execution")
    sig = functions[fn.name]
    where = f"{fn.module}.{fn.name}"
    if len(mounts) == 1 and not sig.params:
        return "mount", mounts[0].name
    if mounts:
        raise Unprocessable(
            f"{where} {sig} has a trigger and {len(mounts)} execution mount(s); a message fills "
            "one mount, so give the function exactly one and no parameters."
        )
    if takes_bytes(functions, fn.name):
        return "bytes", None
    if not sig.params:
        return "none", None
    if len(sig.params) == 1 and sig.params[0] in _SCALARS:
        return "scalar", None
    raise Unprocessable(
        f"{where} {sig} cannot take a message: a triggered function takes one execution "
        "mount, (i32 ptr, i32 len) with an exported alloc(i32) -> i32, one number, or nothing."
    )
