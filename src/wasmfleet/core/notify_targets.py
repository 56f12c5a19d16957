"""Where notifications go: webhook URLs, e-mail addresses and the SMTP server (pure).

``parse_targets`` reads an install's ``notify`` document (``{"webhook": [...], "email":
[...]}``) into ``Targets`` and refuses anything else with a 400 sentence;
``webhook_problem`` and ``email_problem`` are the checks the orchestrator's settings share;
``parse_smtp_url`` reads ``smtp://``, ``smtps://`` and ``smtp+starttls://`` URLs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from wasmfleet.core.errors import ConfigurationError, InvalidDocument

EVENTS = ("app.started", "app.stopped", "app.failed", "device.dead", "rollout.rolled_back", "test")
"""Every event a notification can be about."""
MAX_TARGETS = 20
"""Webhooks (and, apart, e-mail addresses) one document may name."""
MAX_URL = 2048
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(rf"[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]{{1,64}}@{_LABEL}(?:\.{_LABEL})*")
SMTP_SCHEMES = {"smtp": ("plain", 25), "smtps": ("tls", 465), "smtp+starttls": ("starttls", 587)}
"""URL scheme -> (security, default port)."""


@dataclass(frozen=True, slots=True)
class Targets:
    """Webhook URLs and e-mail addresses one notification goes to."""

    webhooks: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.webhooks or self.emails)

    def merged(self, other: Targets | None) -> Targets:
        """These targets and ``other``'s, each once, in order."""
        if other is None:
            return self
        return Targets(
            tuple(dict.fromkeys(self.webhooks + other.webhooks)),
            tuple(dict.fromkeys(self.emails + other.emails)),
        )

    def to_dict(self) -> dict[str, list[str]]:
        """The document ``parse_targets`` reads."""
        return {"webhook": list(self.webhooks), "email": list(self.emails)}


def webhook_problem(url: str) -> str | None:
    """None when ``url`` is an http(s) URL with a host, else what it must be."""
    if not isinstance(url, str) or len(url) > MAX_URL or any(c.isspace() for c in url):
        return f"must be an http:// or https:// URL without spaces, at most {MAX_URL} characters"
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        return "must be an http:// or https:// URL (its host or port does not parse)"
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or not port_ok:
        return "must be an http:// or https:// URL with a host, e.g. https://hooks.example/fleet"
    return None


def email_problem(address: str) -> str | None:
    """None when ``address`` is a bare e-mail address (name@host), else what it must be."""
    if isinstance(address, str) and len(address) <= 254 and _EMAIL.fullmatch(address):
        return None
    return "must be an e-mail address such as ops@example.org (no name, no brackets)"


def _strings(doc: dict[str, object], key: str) -> tuple[str, ...]:
    value = doc.get(key, [])
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise InvalidDocument(f"notify.{key} must be a list of strings, got {value!r}.")
    if len(items) > MAX_TARGETS:
        raise InvalidDocument(f"notify.{key} names {len(items)} targets; at most {MAX_TARGETS}.")
    check = webhook_problem if key == "webhook" else email_problem
    for item in items:
        problem = check(item)
        if problem:
            raise InvalidDocument(f"notify.{key} {item!r} {problem}.")
    return tuple(dict.fromkeys(items))


def parse_targets(doc: object) -> Targets:
    """``{"webhook": [...], "email": [...]}`` (each a list or one string; None = none) as
    Targets; InvalidDocument (400) with a sentence for anything else."""
    if doc is None:
        return Targets()
    if not isinstance(doc, dict):
        raise InvalidDocument(
            'notify must be an object like {"webhook": ["https://hooks.example/fleet"], '
            f'"email": ["ops@example.org"]}}, got {doc!r}.'
        )
    unknown = sorted(str(key) for key in doc if key not in ("webhook", "email"))
    if unknown:
        raise InvalidDocument(
            f"notify has unknown key(s) {', '.join(unknown)}; it takes webhook and email."
        )
    return Targets(_strings(doc, "webhook"), _strings(doc, "email"))


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """An SMTP server to send mail through, read from ``--smtp-url``."""

    host: str
    port: int
    security: str
    """plain, tls (smtps://, TLS from the first byte) or starttls (smtp+starttls://)."""
    username: str | None = None
    password: str | None = None

    @property
    def shown(self) -> str:
        """The URL without its password, for logs and answers."""
        scheme = next(s for s, (security, _) in SMTP_SCHEMES.items() if security == self.security)
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}"


def _masked(text: str) -> str:
    """A URL with its password replaced by ***."""
    return re.sub(r"(://[^:/@\s]*):[^@/\s]*@", r"\1:***@", text)


def parse_smtp_url(text: str, where: str = "--smtp-url") -> SmtpServer:
    """``smtp://[user[:pass]@]host[:port]`` (or smtps://, smtp+starttls://) as an SmtpServer;
    ConfigurationError with a sentence when it does not parse."""
    example = "e.g. smtp+starttls://USER:PASSWORD@mail.example.org:587"
    shown = _masked(text)
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        raise ConfigurationError(
            f"{where} {shown!r} does not parse as a URL (its port must be a number; {example})."
        ) from None
    scheme = parts.scheme.lower()
    if scheme not in SMTP_SCHEMES:
        raise ConfigurationError(
            f"{where} must start with smtp://, smtps:// or smtp+starttls://, got {shown!r} "
            f"({example})."
        )
    if not parts.hostname or (parts.path not in ("", "/")) or parts.query or parts.fragment:
        raise ConfigurationError(
            f"{where} must be scheme://[user[:password]@]host[:port] with nothing after the "
            f"host and port, got {shown!r} ({example})."
        )
    if port == 0:
        raise ConfigurationError(f"{where} has port 0; give the SMTP server's port ({example}).")
    security, default_port = SMTP_SCHEMES[scheme]
    return SmtpServer(
        host=parts.hostname,
        port=port or default_port,
        security=security,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )
