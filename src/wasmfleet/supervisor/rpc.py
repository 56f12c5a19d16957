"""``communication.rpcCall``: a guest calling another module of its deployment over HTTP.

The target is found in the caller's deployment: a module deployed on this supervisor is
called through the local HTTP API, a module elsewhere through a ``to`` endpoint that names
it. The guest's data goes as the multipart part ``data``; the answer (the ``result`` of a
JSON answer, or the raw body) is written back into the guest's buffer by the host function.
"""

from __future__ import annotations

import httpx
import orjson

from wasmfleet.runtime.host.guest import GuestContext
from wasmfleet.supervisor.deployments import DeploymentManager


class RpcError(RuntimeError):
    """The rpcCall target is unknown or failed."""


class HttpRpcTransport:
    """Resolves rpcCall targets and performs them with a synchronous HTTP client."""

    def __init__(self, manager: DeploymentManager, local_url: str) -> None:
        self.manager = manager
        self.local_url = local_url.rstrip("/")
        self.client = httpx.Client()

    def target_url(self, ctx: GuestContext, module: str, function: str) -> str:
        """The URL of ``module.function`` as seen from the caller's deployment."""
        dep = self.manager.deployments.get(ctx.deployment)
        if dep is None:
            raise RpcError(f"deployment {ctx.deployment!r} is gone")
        if module == ctx.module:
            raise RpcError(
                "rpcCall into the calling module itself would deadlock; call it directly"
            )
        if (module, function) in dep.functions:
            return f"{self.local_url}/{ctx.deployment}/modules/{module}/{function}"
        suffix = f"/modules/{module}/{function}"
        for fn in dep.spec.functions:
            if fn.to is not None and fn.to.url.rstrip("/").endswith(suffix):
                return fn.to.url
        raise RpcError(f"deployment {ctx.deployment!r} has no endpoint for {module}.{function}")

    def __call__(
        self, ctx: GuestContext, module: str, function: str, data: bytes, timeout: float
    ) -> bytes:
        """POST ``data`` to the target and return its answer as bytes."""
        url = self.target_url(ctx, module, function)
        files = {"data": ("data", data, "application/octet-stream")} if data else None
        response = self.client.post(url, files=files, timeout=max(0.1, timeout))
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
