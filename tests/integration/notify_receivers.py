"""Real receivers for notification tests: an HTTP webhook receiver and an SMTP server
(aiosmtpd), both on 127.0.0.1 with a free port, in background threads."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from tests.support import free_port, wait_until


@dataclass(frozen=True)
class Hook:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """An HTTP server recording every POST; answers the next status of ``statuses`` (the
    last one repeats), 204 by default."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.hooks: list[Hook] = []
        self.statuses = list(statuses or [204])
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(size)
                with receiver._lock:
                    receiver.hooks.append(Hook(self.path, dict(self.headers.items()), body))
                    status = (
                        receiver.statuses.pop(0)
                        if len(receiver.statuses) > 1
                        else (receiver.statuses[0])
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def events(self, event: str) -> list[Hook]:
        """The hooks about ``event``."""
        return [h for h in list(self.hooks) if h.json.get("event") == event]

    def wait(self, event: str, timeout: float = 20.0) -> Hook:
        """The first hook about ``event``, waiting for it (bounded)."""
        assert wait_until(lambda: self.events(event), timeout=timeout), (
            f"no {event} webhook within {timeout} s; got {[h.body for h in self.hooks]}"
        )
        return self.events(event)[0]

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Handler:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.box.refuse:
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        self.box.mails.append((list(envelope.rcpt_tos), message_from_bytes(content)))
        return "250 OK"


class Mailbox:
    """A real SMTP server (aiosmtpd) keeping every message it accepts."""

    def __init__(
        self,
        *,
        login: tuple[str, str] | None = None,
        starttls: ssl.SSLContext | None = None,
        smtps: ssl.SSLContext | None = None,
        refuse: tuple[str, ...] = (),
    ) -> None:
        self.mails: list[tuple[list[str], Message]] = []
        self.refuse = refuse
        self.port = free_port()
        kwargs: dict[str, Any] = {}
        if login is not None:
            kwargs["authenticator"] = _authenticator(*login)
            kwargs["auth_require_tls"] = starttls is not None
        if starttls is not None:
            kwargs["tls_context"] = starttls
            kwargs["require_starttls"] = True
        if smtps is not None:
            kwargs["ssl_context"] = smtps
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port, **kwargs)

    def to(self, address: str) -> list[Message]:
        """The messages delivered to ``address``."""
        return [m for rcpts, m in list(self.mails) if address in rcpts]

    def wait(self, address: str, timeout: float = 20.0) -> Message:
        """The first message to ``address``, waiting for it (bounded)."""
        assert wait_until(lambda: self.to(address), timeout=timeout), f"no mail to {address}"
        return self.to(address)[0]

    def __enter__(self) -> Mailbox:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def _authenticator(user: str, password: str) -> Callable[..., AuthResult]:
    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            user.encode(),
            password.encode(),
        )
        return AuthResult(success=ok, handled=False)

    return check
