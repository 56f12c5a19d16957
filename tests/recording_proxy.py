"""A recording reverse proxy on loopback: what a service receives and answers, as JSON.

Used by tests/wasmiot_record.py to record the original wasmiot supervisor (and ours) on the
wire. Bodies are kept as the fixtures keep them: JSON parsed, multipart bodies as their part
names, file names, media types and sizes, text cut at ``TEXT_KEPT`` characters.
"""

from __future__ import annotations

import email.parser
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

RECORDED_PATHS = ("/deploy", "/modules/", "/request-history", "/module_results/")
"""Only exchanges on these paths are kept (not health checks or descriptions)."""
TEXT_KEPT = 400
"""Characters kept of a text body (the rest of an HTML error page is its debugger)."""


class Recorder:
    """Everything the proxies saw, in order, with the scenario it belongs to."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.exchanges: list[dict[str, Any]] = []
        self.scenario = ""

    def add(self, exchange: dict[str, Any]) -> None:
        """Keep one request and its answer (only the calls the contract is about)."""
        if not any(part in exchange["request"]["path"] for part in RECORDED_PATHS):
            return
        with self.lock:
            self.exchanges.append({"scenario": self.scenario, **exchange})

    def take(self, scenario: str) -> list[dict[str, Any]]:
        """The exchanges of ``scenario``, removed from the record."""
        with self.lock:
            mine = [e for e in self.exchanges if e["scenario"] == scenario]
            self.exchanges = [e for e in self.exchanges if e["scenario"] != scenario]
        for exchange in mine:
            del exchange["scenario"]
        return mine


def _body(content_type: str, data: bytes) -> Any:
    """A body as the fixtures keep it: JSON parsed, multipart summarised, text, or a size."""
    kind = content_type.split(";")[0].strip().lower()
    if not data:
        return None
    if kind == "application/json":
        try:
            return json.loads(data)
        except ValueError:
            pass
    if kind == "multipart/form-data":
        message = email.parser.BytesParser().parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + data
        )
        return {
            "multipart": [
                {
                    "name": part.get_param("name", header="content-disposition"),
                    "filename": part.get_filename(),
                    "content_type": part.get_content_type(),
                    "bytes": len(part.get_payload(decode=True) or b""),
                }
                for part in message.walk()
                if not part.is_multipart()
            ]
        }
    if kind.startswith("text/") or kind in ("application/xml", ""):
        text = data.decode("utf-8", "replace")
        if len(text) > TEXT_KEPT:  # Flask's error page: its <title> names the exception
            return {"text": text[:TEXT_KEPT], "chars": len(text)}
        return {"text": text}
    return {"bytes": len(data), "content_type": kind}


class RecordingProxy:
    """A reverse proxy on 127.0.0.1 in front of one device that records its traffic."""

    def __init__(self, device: str, target: str, recorder: Recorder) -> None:
        self.device = device
        self.target = target.rstrip("/")
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                data = self.rfile.read(length) if length else b""
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("content-length", "connection", "transfer-encoding")
                }
                with httpx.Client(timeout=60.0) as client:
                    answer = client.request(
                        self.command, proxy.target + self.path, content=data, headers=headers
                    )
                split = urlsplit(self.path)
                ctype = self.headers.get("content-type", "")
                recorder.add(
                    {
                        "device": proxy.device,
                        "request": {
                            "method": self.command,
                            "path": split.path,
                            "query": parse_qsl(split.query, keep_blank_values=True),
                            "content_type": ctype.split(";")[0] or None,
                            "user_agent": self.headers.get("user-agent", ""),
                            "body": _body(ctype, data),
                        },
                        "response": {
                            "status": answer.status_code,
                            "content_type": answer.headers.get("content-type", "").split(";")[0],
                            "body": _body(answer.headers.get("content-type", ""), answer.content),
                        },
                    }
                )
                self.send_response(answer.status_code)
                for key, value in answer.headers.items():
                    if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_PUT = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        """The proxy's base URL (the device's address as the fleet knows it)."""
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()
