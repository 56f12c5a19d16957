"""A loopback harness for the preview's browser tests (until the dashboard shell serves them).

``HarnessServer`` serves the dashboard's static files at ``/ui/static/`` (as the orchestrator
will), a harness page at ``/harness/`` that mounts the preview, the executions page and the
waterfall with a small stand-in for the shell's ``api.js``, and forwards every other path to
a real orchestrator, so the page talks to one origin on 127.0.0.1 like the real dashboard.
"""

from __future__ import annotations

import mimetypes
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "src" / "wasmfleet" / "dashboard" / "static"
HARNESS = Path(__file__).resolve().parent / "harness"
TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".wasm": "application/wasm",
}
FORWARDED = ("authorization", "content-type", "accept")


def _file(root: Path, rel: str) -> Path | None:
    path = (root / rel).resolve()
    return path if path.is_file() and root.resolve() in path.parents else None


class HarnessServer:
    """Static files + the harness page + a forwarding proxy to ``upstream``, on 127.0.0.1."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.client = httpx.Client(base_url=upstream, timeout=60.0)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, media: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", media)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def _static(self) -> bool:
                path = self.path.split("?")[0]
                for prefix, root in (("/ui/static/", STATIC), ("/harness/", HARNESS)):
                    if path.startswith(prefix):
                        found = _file(root, path[len(prefix) :])
                        if found is None:
                            self._send(404, b"not found", "text/plain")
                        else:
                            media = TYPES.get(found.suffix) or mimetypes.guess_type(found.name)[0]
                            self._send(200, found.read_bytes(), media or "application/octet-stream")
                        return True
                return False

            def _forward(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() in FORWARDED}
                answer = server.client.request(
                    self.command, self.path, content=body, headers=headers
                )
                media = answer.headers.get("content-type", "application/octet-stream")
                self._send(answer.status_code, answer.content, media)

            def do_GET(self) -> None:
                if not self._static():
                    self._forward()

            def do_POST(self) -> None:
                self._forward()

            def do_PUT(self) -> None:
                self._forward()

            def do_DELETE(self) -> None:
                self._forward()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Base URL of the harness."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> HarnessServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.client.close()
