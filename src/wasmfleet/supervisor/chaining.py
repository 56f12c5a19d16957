"""Sending a result on to the next function of a pipeline (the ``to`` instruction).

A scalar result goes as the first query parameter of the next endpoint (named as that
endpoint declares it), an output file as a multipart part named after the mount. The
next hop runs its own chain before answering, so its ``result`` is the pipeline's final
result; its failure is reported to the caller as ``ChainFailed`` naming the hop.

A hop of a deployment at epoch > 0 carries ``X-Wasmfleet-Epoch: <installed epoch>``, so a
stale copy downstream refuses it (and an older caller is refused by a newer copy). Every hop
carries ``traceparent`` with the calling function's span as parent (core/tracing.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from wasmfleet.core.errors import ChainFailed
from wasmfleet.core.protocol import EPOCH_HEADER, HopStatus, error_fields, is_refusal, read_answer
from wasmfleet.core.tracing import TRACEPARENT, TraceContext
from wasmfleet.core.tracing import header as trace_header
from wasmfleet.supervisor.deployment import BoundFunction
from wasmfleet.supervisor.trust import Credentials, hop_header


@dataclass(slots=True)
class HopResult:
    """What the next hop answered."""

    url: str
    result: Any = None
    result_url: str | None = None
    error: ChainFailed | None = None
    status: HopStatus = HopStatus.OK
    """Written to the entry's ``chain_status``: from it the orchestrator tells whether the
    next step certainly did not run (``HopStatus.never_ran``), so it may retry it elsewhere."""


class Chainer:
    """Forwards results to the next hop with one shared HTTP client."""

    def __init__(
        self, client: httpx.AsyncClient, timeout_s: float, credentials: Credentials | None = None
    ) -> None:
        self.client = client
        self.timeout_s = timeout_s
        self.credentials = credentials
        """A joined device signs each hop with the fleet's hop key (supervisor/trust.py)."""

    async def forward(
        self,
        bound: BoundFunction,
        result: Any,
        value: Any,
        output: str | None,
        span: TraceContext | None = None,
    ) -> HopResult:
        """Call ``bound.spec.to`` with this function's result."""
        target = bound.spec.to
        assert target is not None
        params: dict[str, str] = {}
        files: dict[str, tuple[str, bytes, str]] = {}
        if output is not None:
            data = (bound.runtime.workdir / output).read_bytes()
            part = target.file_mounts[0] if target.file_mounts else output
            files[part] = (
                output,
                data,
                bound.spec.response_media_type or "application/octet-stream",
            )
        elif result is not None:
            name = target.params[0].name if target.params else "param0"
            params[name] = result if isinstance(result, str) else str(value)
        method = target.method if target.method in ("GET", "POST", "PUT") else "POST"
        if files and method == "GET":
            method = "POST"
        headers = {EPOCH_HEADER: str(bound.epoch)} if bound.epoch > 0 else {}
        if span is not None:
            headers[TRACEPARENT] = trace_header(span)
        hop_deployment = _deployment_of(target.url)
        if hop_deployment is not None:
            headers.update(hop_header(self.credentials, hop_deployment))
        try:
            response = await self.client.request(
                method,
                target.url,
                params=params,
                files=files or None,
                headers=headers,
                timeout=self.timeout_s,
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as err:
            return HopResult(
                target.url,
                error=ChainFailed(
                    f"Could not reach the next hop {target.url}: {str(err) or type(err).__name__}."
                ),
                status=HopStatus.UNREACHABLE,
            )
        except httpx.TimeoutException:
            return HopResult(
                target.url,
                error=ChainFailed(
                    f"The next hop {target.url} did not answer within {self.timeout_s:g} s "
                    "(it may have run)."
                ),
                status=HopStatus.TIMEOUT,
            )
        except httpx.HTTPError as err:
            return HopResult(
                target.url,
                error=ChainFailed(
                    f"The connection to the next hop {target.url} broke during the call "
                    f"({str(err) or type(err).__name__}); it may have run."
                ),
                status=HopStatus.BROKEN,
            )
        return _interpret(target.url, response)


def _deployment_of(url: str) -> str | None:
    parts = urlsplit(url).path.split("/")
    return parts[1] if len(parts) > 2 and parts[2] == "modules" else None


def _interpret(url: str, response: httpx.Response) -> HopResult:
    try:
        body = orjson.loads(response.content) if response.content else {}
    except orjson.JSONDecodeError:
        body = {}
    if not isinstance(body, dict):
        body = {"result": body}
    answer = read_answer(response.status_code, body)
    if answer.ok:
        return HopResult(url, result=answer.result, result_url=answer.result_url)
    code, message = error_fields(body)
    detail = message or answer.result or response.reason_phrase
    refused = is_refusal(response.status_code, code)
    return HopResult(
        url,
        result_url=answer.result_url,
        error=ChainFailed(f"The next hop {url} failed ({response.status_code}): {detail}"),
        status=HopStatus.REFUSED if refused else HopStatus.FAILED,
    )
