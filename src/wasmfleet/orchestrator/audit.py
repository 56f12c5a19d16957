"""The audit log: one ASGI middleware records every change made through the API.

A request is recorded when its route is marked ``audited`` in core/rbac.py and the caller
passed the token and role checks (``auth.Authenticator.check`` left the rule and the identity
in ``scope["state"]``); refused requests (401/403) store nothing. The entry names the actor,
the route and its target, and the status of the answer (500 when the handler raised).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wasmfleet.core import rbac
from wasmfleet.orchestrator.auth import IDENTITY, RULE, Identity
from wasmfleet.orchestrator.store import AuditRecord, Store

log = logging.getLogger(__name__)

MAX_BODY_PEEK = 64 * 1024
"""Answers up to this size are read for the id or name of what a POST created."""
READS = frozenset({"GET", "HEAD", "OPTIONS"})


class AuditMiddleware:
    """Records audited requests with their outcome after the answer is sent."""

    def __init__(self, app: ASGIApp, store: Store) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; afterwards append an audit entry if it was a change."""
        if scope["type"] != "http" or scope.get("method") in READS:
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        status = 500
        peek: list[bytes] = []
        size = 0

        async def sending(message: Message) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body" and size <= MAX_BODY_PEEK:
                chunk = bytes(message.get("body", b""))
                size += len(chunk)
                peek.append(chunk)
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            rule, identity = state.get(RULE), state.get(IDENTITY)
            if isinstance(rule, rbac.Rule) and rule.audited and isinstance(identity, Identity):
                body = b"".join(peek) if size <= MAX_BODY_PEEK else b""
                entry = AuditRecord(
                    actor=identity.actor,
                    token_id=identity.token_id,
                    role=str(identity.role) if identity.role else None,
                    method=str(scope["method"]),
                    route=rule.path,
                    path=str(scope.get("path", "")),
                    target=target_of(scope.get("path_params") or {}, body, status),
                    status=status,
                )
                try:
                    await asyncio.to_thread(self.store.add_audit, entry)
                except Exception as err:  # the change happened; losing its record is logged
                    log.error("could not record an audit entry: %s", err, extra={"entry": entry})


def target_of(path_params: dict[str, Any], body: bytes, status: int) -> str | None:
    """What a change was about: its path parameters, else what a 2xx answer names (its
    ``name``, ``name@version``, ``deployment``, ``device``, ``path`` or ``id``; never a token's
    secret)."""
    if path_params:
        return ",".join(str(v) for v in path_params.values())
    if not 200 <= status < 300 or not body:
        return None
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(answer, str):
        return answer[:200]
    if not isinstance(answer, dict):
        return None
    name, version, ident = answer.get("name"), answer.get("version"), answer.get("id")
    if isinstance(name, str) and isinstance(version, int):
        return f"{name}@{version}"
    if isinstance(name, str):
        return name
    for key in ("deployment", "device", "path"):  # an update or rollout; a device; a location
        if isinstance(answer.get(key), str):
            return str(answer[key])
    return str(ident) if isinstance(ident, str) else None
