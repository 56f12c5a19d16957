"""Optional export of traces to an OpenTelemetry collector over OTLP/HTTP (protobuf).

Off by default: nothing here is imported unless ``--otlp-endpoint`` is set, and then the
protobuf classes come from the ``otel`` extra (``pip install 'wasmfleet[otel]'``:
opentelemetry-sdk and opentelemetry-exporter-otlp-proto-http, which brings
opentelemetry-proto). Spans are the waterfall's (orchestrator/traces.py): the orchestrator
exports each execution's spans once it is recorded, in the background, at most
``MAX_PENDING`` exports in flight (more are dropped and counted), each bounded by a timeout; a
collector that is down costs a warning, never an execution.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from wasmfleet.core.errors import ConfigurationError

log = logging.getLogger("wasmfleet.otlp")
MAX_PENDING = 16
TIMEOUT_S = 5.0
_SPAN_KIND_SERVER = 2
_STATUS_OK, _STATUS_ERROR = 1, 2


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL for an endpoint (``/v1/traces`` added when missing)."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith("/v1/traces") else endpoint + "/v1/traces"


def _load_proto() -> tuple[Any, Any, Any, Any, Any]:
    try:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )
        from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
        from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
    except ImportError as err:
        raise ConfigurationError(
            "--otlp-endpoint needs the OpenTelemetry protobuf classes: install the extra with "
            "pip install 'wasmfleet[otel]' (or unset --otlp-endpoint)."
        ) from err
    return ExportTraceServiceRequest, KeyValue, AnyValue, Span, Status


def encode(trace: Mapping[str, Any], service_name: str) -> bytes:
    """An ``ExportTraceServiceRequest`` (serialized) with the spans of one trace view."""
    request_cls, key_value, any_value, span_cls, status_cls = _load_proto()

    def attr(key: str, value: Any) -> Any:
        return key_value(key=key, value=any_value(string_value=str(value)))

    request = request_cls()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(attr("service.name", service_name))
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "wasmfleet"
    origin = float(trace.get("started_at_ms") or 0.0)
    trace_id = bytes.fromhex(str(trace["trace_id"]))
    for item in trace.get("spans") or []:
        if not item.get("span_id") or item.get("start_ms") is None:
            continue  # a step whose supervisor wrote no span: nothing to place
        start_ns = int((origin + float(item["start_ms"])) * 1e6)
        span = span_cls(
            trace_id=trace_id,
            span_id=bytes.fromhex(item["span_id"]),
            name=str(item.get("name")),
            kind=_SPAN_KIND_SERVER,
            start_time_unix_nano=start_ns,
            end_time_unix_nano=start_ns + int(float(item.get("duration_ms") or 0) * 1e6),
        )
        if item.get("parent_span_id"):
            span.parent_span_id = bytes.fromhex(item["parent_span_id"])
        span.attributes.append(attr("wasmfleet.kind", item.get("kind")))
        span.attributes.append(attr("wasmfleet.execution", trace.get("execution")))
        span.attributes.append(attr("wasmfleet.deployment", trace.get("deployment")))
        if item.get("device"):
            span.attributes.append(attr("wasmfleet.device", item["device"]))
        if item.get("self_ms") is not None:
            span.attributes.append(attr("wasmfleet.self_ms", item["self_ms"]))
        span.status.CopyFrom(
            status_cls(code=_STATUS_OK)
            if item.get("success")
            else status_cls(code=_STATUS_ERROR, message=str(item.get("error") or ""))
        )
        scope_spans.spans.append(span)
    data: bytes = request.SerializeToString()
    return data


class OtlpExporter:
    """Sends trace views to a collector in the background (bounded, never raises)."""

    def __init__(self, endpoint: str, service_name: str, client: httpx.AsyncClient) -> None:
        _load_proto()  # refuse to start without the extra, rather than fail per trace
        self.url = traces_url(endpoint)
        self.service_name = service_name
        self.client = client
        self.exported = 0
        self.failed = 0
        self.dropped = 0
        self._pending: set[asyncio.Task[None]] = set()

    def submit(self, trace: Mapping[str, Any]) -> None:
        """Export ``trace`` soon (event loop); dropped when ``MAX_PENDING`` are in flight."""
        if not trace.get("trace_id"):
            return
        if len(self._pending) >= MAX_PENDING:
            self.dropped += 1
            return
        task = asyncio.ensure_future(self._send(encode(trace, self.service_name)))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _send(self, body: bytes) -> None:
        try:
            response = await self.client.post(
                self.url,
                content=body,
                headers={"content-type": "application/x-protobuf"},
                timeout=TIMEOUT_S,
            )
        except httpx.HTTPError as err:
            self.failed += 1
            log.warning("OTLP export failed", extra={"url": self.url, "error": str(err)})
            return
        if response.status_code >= 300:
            self.failed += 1
            log.warning(
                "OTLP collector refused a trace",
                extra={"url": self.url, "status": response.status_code},
            )
            return
        self.exported += 1

    async def drain(self, timeout: float = TIMEOUT_S) -> None:
        """Wait (bounded) for the exports in flight."""
        pending: Sequence[asyncio.Task[None]] = list(self._pending)
        if pending:
            await asyncio.wait(pending, timeout=timeout)
