"""Where an MQTT broker is: ``mqtt://[user[:password]@]host[:port]`` and its TLS options.

``mqtt://`` (also ``tcp://``) is plain MQTT on port 1883 by default; ``mqtts://`` (also
``ssl://``) is MQTT over TLS on 8883. Credentials may be in the URL (percent-encoded) or
given separately (flags win over the URL). TLS can name a CA bundle, a client certificate
and key, and ``insecure`` to skip host-name verification (test brokers with self-signed
certificates). Pure parsing: no sockets, no files opened.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from wasmfleet.core.errors import ConfigurationError

SCHEMES = {"mqtt": False, "tcp": False, "mqtts": True, "ssl": True}
"""URL scheme → TLS."""


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """An MQTT broker and how to authenticate to it."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure: bool = False

    @property
    def url(self) -> str:
        """The URL without the password (safe for logs and status pages)."""
        user = f"{self.username}@" if self.username else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{host}:{self.port}"


def parse_broker_url(
    text: str,
    *,
    username: str | None = None,
    password: str | None = None,
    ca_file: str | None = None,
    cert_file: str | None = None,
    key_file: str | None = None,
    insecure: bool = False,
    what: str = "--broker",
) -> BrokerAddress:
    """Parse a broker URL; ConfigurationError with a sentence when it cannot be used."""
    raw = text.strip() if isinstance(text, str) else ""
    if "://" not in raw:
        raw = f"mqtt://{raw}"
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as err:
        raise ConfigurationError(
            f"{what} {text!r} is not a broker URL ({err}); use mqtt://host:1883 or "
            "mqtts://host:8883."
        ) from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise ConfigurationError(
            f"{what} {text!r} has scheme {parts.scheme!r}; use mqtt:// (plain, port 1883) "
            "or mqtts:// (TLS, port 8883)."
        )
    if not parts.hostname:
        raise ConfigurationError(f"{what} {text!r} names no host; e.g. mqtt://127.0.0.1:1883.")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigurationError(
            f"{what} {text!r} has a path or query; a broker URL is only "
            "mqtt://[user[:password]@]host[:port]."
        )
    tls = SCHEMES[scheme]
    if not tls and (ca_file or cert_file or key_file):
        raise ConfigurationError(
            f"{what} {text!r} is plain MQTT, but TLS files were given; use mqtts://."
        )
    if (cert_file is None) != (key_file is None):
        raise ConfigurationError("A TLS client certificate needs both its cert and key file.")
    return BrokerAddress(
        host=parts.hostname,
        port=port or (8883 if tls else 1883),
        tls=tls,
        username=username if username is not None else _maybe(parts.username),
        password=password if password is not None else _maybe(parts.password),
        ca_file=ca_file,
        cert_file=cert_file,
        key_file=key_file,
        insecure=insecure,
    )


def _maybe(value: str | None) -> str | None:
    return unquote(value) if value else None
