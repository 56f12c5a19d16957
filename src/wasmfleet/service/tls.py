"""TLS for both services: checking a certificate, its key and a CA file at start, and the
options uvicorn serves HTTPS with.

A service given ``--tls-cert`` and ``--tls-key`` serves HTTPS; its clients (a supervisor
calling the orchestrator, the orchestrator calling supervisors) verify the other side against
``--ca-file`` when given, else the system's CAs (``http_clients.tls_context``). Every file is
checked when the settings are read, so a wrong path, an unreadable file, a file that is not
PEM, an encrypted key or a key of another certificate stops the service at start with one
sentence (``ConfigurationError``), never a traceback or a prompt for a password. Only the
standard library is imported here: this runs on the device path.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from wasmfleet.core.errors import ConfigurationError

CERT_MARK = "-----BEGIN CERTIFICATE-----"
KEY_MARK = "PRIVATE KEY-----"


def _read(path: Path, what: str, where: str) -> str:
    """The text of a PEM file; ConfigurationError naming the file, the setting and the fault."""
    try:
        return path.expanduser().read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        raise ConfigurationError(f"The {what} {path} ({where}) does not exist.") from None
    except IsADirectoryError:
        raise ConfigurationError(f"The {what} {path} ({where}) is a folder, not a file.") from None
    except PermissionError:
        raise ConfigurationError(
            f"The {what} {path} ({where}) cannot be read: permission denied."
        ) from None
    except OSError as err:
        raise ConfigurationError(
            f"The {what} {path} ({where}) cannot be read: {err.strerror or err}."
        ) from None


def _no_password() -> bytes:
    """Answer OpenSSL's password question so that it never prompts on the terminal."""
    return b""


def check_server_files(
    cert: Path | None, key: Path | None, cert_where: str, key_where: str
) -> None:
    """Refuse a certificate without a key (or the reverse), a missing, unreadable or non-PEM
    file, an encrypted key, or a key that does not belong to the certificate."""
    if cert is None and key is None:
        return
    if cert is None or key is None:
        given, lacking = (cert_where, key_where) if key is None else (key_where, cert_where)
        raise ConfigurationError(
            f"{given.split(' or ')[0]} was given without {lacking.split(' or ')[0]}: HTTPS needs "
            "both the certificate and its private key."
        )
    if CERT_MARK not in _read(cert, "TLS certificate", cert_where):
        raise ConfigurationError(
            f"The TLS certificate {cert} ({cert_where}) is not a PEM certificate "
            f"(no '{CERT_MARK}' line)."
        )
    key_text = _read(key, "TLS key", key_where)
    if KEY_MARK not in key_text:
        raise ConfigurationError(
            f"The TLS key {key} ({key_where}) is not a PEM private key "
            "(no '-----BEGIN ... PRIVATE KEY-----' line)."
        )
    if "ENCRYPTED" in key_text:
        raise ConfigurationError(
            f"The TLS key {key} ({key_where}) is encrypted with a password; give an "
            "unencrypted key (e.g. openssl pkey -in KEY -out PLAIN) readable only by the service."
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(str(cert.expanduser()), str(key.expanduser()), _no_password)
    except ssl.SSLError as err:
        if "KEY_VALUES_MISMATCH" in str(err) or getattr(err, "reason", "") == (
            "KEY_VALUES_MISMATCH"
        ):
            raise ConfigurationError(
                f"The TLS key {key} does not belong to the certificate {cert}; give the key "
                f"made with that certificate ({key_where})."
            ) from None
        raise ConfigurationError(
            f"The TLS certificate {cert} and key {key} cannot be used: "
            f"{getattr(err, 'reason', None) or err}."
        ) from None


def check_ca_file(ca_file: Path | None, where: str) -> None:
    """Refuse a CA file that is missing, unreadable or holds no PEM certificate."""
    if ca_file is None:
        return
    if CERT_MARK not in _read(ca_file, "CA file", where):
        raise ConfigurationError(
            f"The CA file {ca_file} ({where}) holds no PEM certificate (no '{CERT_MARK}' line)."
        )
    try:
        ssl.create_default_context(cafile=str(ca_file.expanduser()))
    except ssl.SSLError as err:
        raise ConfigurationError(
            f"The CA file {ca_file} ({where}) cannot be used: "
            f"{getattr(err, 'reason', None) or err}."
        ) from None


def uvicorn_ssl(cert: Path | None, key: Path | None) -> dict[str, Any]:
    """The keyword arguments of ``uvicorn.Config`` that turn HTTPS on ({} for plain HTTP)."""
    if cert is None or key is None:
        return {}
    return {"ssl_certfile": str(cert.expanduser()), "ssl_keyfile": str(key.expanduser())}


def scheme(tls: bool) -> str:
    """``https`` when a service serves TLS, else ``http``."""
    return "https" if tls else "http"
