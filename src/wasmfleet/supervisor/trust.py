"""A joined device trusts only its orchestrator (docs/security.md, "Devices").

``join`` trades a join token for the device's credential at ``POST /api/v1/devices/join``
and keeps it in ``credentials.json`` of the data dir (mode 0600), used after restarts too.
``OrchestratorBearer`` sends the credential on requests to the orchestrator only (never to
other devices). ``DeviceGuard`` wraps the whole app: with a credential, control routes
(deploy, delete, register) need the orchestrator's control bearer; function calls follow
``--calls`` (open, token: the orchestrator's bearer or a hop token of the fleet, loopback).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from wasmfleet.core import device_keys
from wasmfleet.core.errors import ConfigurationError, Forbidden, Unauthenticated, WasmfleetError
from wasmfleet.service.exposure import is_loopback
from wasmfleet.service.http import JSONResponse
from wasmfleet.service.http_clients import tls_context
from wasmfleet.supervisor.settings import SupervisorSettings

log = logging.getLogger(__name__)

CREDENTIALS_FILE = "credentials.json"
CALL_PATH = re.compile(r"^/([^/]+)/modules/[^/]+/[^/]+/?$")
CONTROL = {("POST", "/deploy"), ("POST", "//deploy"), ("POST", "/register")}


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a device received when it joined."""

    device: str
    token: str
    hop_key: str
    orchestrator_url: str

    @property
    def control_bearer(self) -> str:
        """The bearer the orchestrator sends to this device."""
        return device_keys.control_bearer(device_keys.token_hash(self.token))


def credentials_path(settings: SupervisorSettings) -> Path:
    """Where a device keeps its credential."""
    return settings.resolved_data_dir / CREDENTIALS_FILE


def load_credentials(settings: SupervisorSettings) -> Credentials | None:
    """The stored credential, or None when this device has not joined."""
    path = credentials_path(settings)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Credentials(
            str(data["device"]), str(data["token"]), str(data["hop_key"]),
            str(data["orchestrator_url"]),
        )  # fmt: skip
    except (ValueError, KeyError, TypeError) as err:
        raise ConfigurationError(
            f"The credential file {path} is damaged ({err}); delete it and join again with a "
            "new join token."
        ) from None


def join_token(settings: SupervisorSettings) -> str:
    """The join token from WASMFLEET_JOIN_TOKEN or --join-token-file."""
    if settings.join_token:
        return settings.join_token.strip()
    if settings.join_token_file is not None:
        return settings.join_token_file.read_text(encoding="utf-8").strip()
    raise ConfigurationError(
        "--join needs a join token: put it in WASMFLEET_JOIN_TOKEN or a file named by "
        "--join-token-file (an admin makes one with `wasmfleet token create --device`)."
    )


def join(settings: SupervisorSettings) -> Credentials:
    """Join the orchestrator at ``--join`` and store the credential (0600)."""
    assert settings.join_url is not None
    url = settings.join_url.rstrip("/")
    token = join_token(settings)
    try:
        response = httpx.post(
            url + "/api/v1/devices/join",
            json={"name": settings.name},
            headers={"authorization": f"Bearer {token}"},
            verify=tls_context(settings.ca_file),
            timeout=10.0,
        )
    except httpx.HTTPError as err:
        raise ConfigurationError(f"Could not reach {url} to join: {err}.") from None
    if response.status_code != 201:
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text[:200]
        raise ConfigurationError(f"{url} refused the join ({response.status_code}): {message}")
    body: dict[str, Any] = response.json()
    made = Credentials(body["device"], body["token"], body["hop_key"], url)
    path = credentials_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(
            {"device": made.device, "token": made.token, "hop_key": made.hop_key,
             "orchestrator_url": made.orchestrator_url},
            out,
        )  # fmt: skip
    log.info("joined the orchestrator", extra={"url": url, "device": made.device})
    return made


def _origin(url: str | httpx.URL) -> tuple[str, str, int]:
    parts = urlsplit(str(url))
    return parts.scheme, (parts.hostname or "").lower(), parts.port or 0


class OrchestratorBearer(httpx.Auth):
    """Sends the device's credential to its orchestrator, and to nobody else."""

    def __init__(self, credentials: Credentials | None) -> None:
        self.credentials = credentials
        self.origins = set()
        if credentials is not None:
            self.origins.add(_origin(credentials.orchestrator_url))

    def follow(self, url: str) -> None:
        """Also send the credential to ``url`` (the orchestrator named by POST /register)."""
        self.origins.add(_origin(url))

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add ``Authorization: Bearer <credential>`` on requests to the orchestrator."""
        creds = self.credentials
        if (
            creds is not None
            and "authorization" not in request.headers
            and _origin(request.url) in self.origins
        ):
            request.headers["authorization"] = f"Bearer {creds.token}"
        yield request


def hop_header(credentials: Credentials | None, deployment: str) -> dict[str, str]:
    """The Authorization header a joined device sends to the next hop of ``deployment``."""
    if credentials is None:
        return {}
    return {"authorization": f"Bearer {device_keys.hop_token(credentials.hop_key, deployment)}"}


class DeviceGuard:
    """ASGI wrapper: control routes need the orchestrator; calls follow ``--calls``."""

    def __init__(self, app: ASGIApp, credentials: Credentials | None, calls: str) -> None:
        self.app = app
        self.credentials = credentials
        self.calls = calls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            try:
                self._check(scope)
            except WasmfleetError as err:
                await JSONResponse(err.to_dict(), status_code=err.status)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _check(self, scope: Scope) -> None:
        method, path = scope["method"], scope["path"]
        headers = dict(scope.get("headers") or [])
        bearer = device_keys.bearer_of(headers.get(b"authorization", b"").decode("latin-1"))
        creds = self.credentials
        control = (method, path) in CONTROL or (method == "DELETE" and path.startswith("/deploy/"))
        if control and creds is not None:
            if bearer is None:
                raise Unauthenticated(
                    f"{method} {path} changes this device: it needs the control bearer of its "
                    "orchestrator (this device joined one and accepts control only from it)."
                )
            if not device_keys.same_secret(bearer, creds.control_bearer):
                raise Forbidden(
                    f"{method} {path} is accepted only from this device's orchestrator "
                    f"({creds.orchestrator_url}); the bearer sent is not its."
                )
            return
        found = CALL_PATH.match(path) if method in ("GET", "POST") else None
        if found is None or self.calls == "open":
            return
        if self.calls == "loopback":
            client = scope.get("client")
            if not client or not is_loopback(client[0]):
                raise Forbidden(
                    "Functions on this device answer only calls from itself (--calls loopback)."
                )
            return
        assert creds is not None  # settings refuse --calls token without a credential
        if bearer is not None and (
            device_keys.same_secret(bearer, creds.control_bearer)
            or device_keys.same_secret(bearer, device_keys.hop_token(creds.hop_key, found[1]))
        ):
            return
        raise Unauthenticated(
            "Functions on this device need a token of its fleet (--calls token): run them "
            "through the orchestrator (POST /execute/... or /api/v1/deployments/.../execute)."
        )
