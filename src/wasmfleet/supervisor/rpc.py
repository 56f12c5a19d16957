"""``communication.rpcCall``: a guest calling another module of its deployment over HTTP.

The target is found in the caller's deployment: a module deployed on this supervisor is
called through the local HTTP API, a module elsewhere through a ``to`` endpoint that names
it. The guest's buffer is sent as the target's first execution mount when it has one (a
plain GET otherwise); the answer (the ``result`` of a JSON answer, or the raw body) is
written back into the same buffer by the host function.
"""

from __future__ import annotations

import ssl

import httpx
import orjson

from wasmfleet.runtime.host.guest import GuestContext
from wasmfleet.service.http_clients import tls_context
from wasmfleet.supervisor.deployments import DeploymentManager


class RpcError(RuntimeError):
    """The rpcCall target is unknown or failed."""


class HttpRpcTransport:
    """Resolves rpcCall targets and performs them with a synchronous HTTP client."""

    def __init__(
        self, manager: DeploymentManager, local_url: str, verify: ssl.SSLContext | None = None
    ) -> None:
        self.manager = manager
        self.local_url = local_url.rstrip("/")
        self.client = httpx.Client(verify=verify or tls_context())

    def target(self, ctx: GuestContext, module: str, function: str) -> tuple[str, str | None]:
        """(URL, multipart part name for the data or None) of ``module.function``."""
        dep = self.manager.deployments.get(ctx.deployment)
        if dep is None:
            raise RpcError(f"deployment {ctx.deployment!r} is gone")
        if module == ctx.module:
            raise RpcError(
                "rpcCall into the calling module itself would deadlock; call it directly"
            )
        bound = dep.functions.get((module, function))
        if bound is not None:
            part = min(bound.execution_mounts) if bound.execution_mounts else None
            return f"{self.local_url}/{ctx.deployment}/modules/{module}/{function}", part
        suffix = f"/modules/{module}/{function}"
        for fn in dep.spec.functions:
            if fn.to is not None and fn.to.url.rstrip("/").endswith(suffix):
                return fn.to.url, fn.to.file_mounts[0] if fn.to.file_mounts else None
        raise RpcError(f"deployment {ctx.deployment!r} has no endpoint for {module}.{function}")

    def __call__(
        self, ctx: GuestContext, module: str, function: str, data: bytes, timeout: float
    ) -> bytes:
        """POST ``data`` to the target and return its answer as bytes."""
        url, part = self.target(ctx, module, function)
        timeout = max(0.1, timeout)
        if part is None:
            response = self.client.get(url, timeout=timeout)
        else:
            files = {part: (part, data, "application/octet-stream")}
            response = self.client.post(url, files=files, timeout=timeout)
        if response.status_code >= 400:
            raise RpcError(f"{url} answered {response.status_code}")
        if response.headers.get("content-type", "").startswith("application/json"):
            body = orjson.loads(response.content)
            if isinstance(body, dict) and "result" in body:
                result = body["result"]
                return result.encode() if isinstance(result, str) else orjson.dumps(result)
        return response.content

    def close(self) -> None:
        """Close the HTTP client."""
        self.client.close()
