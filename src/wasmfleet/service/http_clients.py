"""httpx for long-running services: imported without its command-line client, and one TLS
context shared by every client.

httpx imports its command-line client (``httpx._main``: click, rich, pygments — ~70 modules,
a few MB of RSS) whenever those packages are installed, and they are: typer, our CLI,
requires rich, and uvicorn requires click. A service never runs that client, so
``import_httpx`` imports httpx with them hidden: httpx then defines its stub ``main`` (what
it does when they are not installed), and they stay importable for anyone who wants them
afterwards (typer's help, for one).

Every httpx client loads the CA bundle into a TLS context of its own when it is made, even if
it only ever speaks plain HTTP: ~0.8 MB and ~20 ms each, and a supervisor makes four at
start. ``tls_context`` is the one they share (httpx's own recommendation for many clients).
"""

from __future__ import annotations

import functools
import importlib
import ssl
import sys
from pathlib import Path
from types import ModuleType

CLI_ONLY = ("click", "rich", "pygments")
"""What ``httpx._main`` imports and a service never uses."""


def import_httpx() -> ModuleType:
    """httpx, imported without its command-line client's dependencies (when not yet loaded)."""
    if "httpx" in sys.modules:
        return sys.modules["httpx"]
    hidden = [name for name in CLI_ONLY if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # "import name" raises ImportError
    try:
        return importlib.import_module("httpx")
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


@functools.cache
def tls_context(ca_file: Path | str | None = None) -> ssl.SSLContext:
    """The TLS context every httpx client of this process uses (``verify=tls_context(ca)``):
    with ``ca_file`` (a service's ``--ca-file``), only the CAs of that file are trusted;
    without, the system's or certifi's CAs as httpx chooses them, SSL_CERT_FILE/SSL_CERT_DIR
    honoured."""
    if ca_file is not None:
        return ssl.create_default_context(cafile=str(Path(ca_file).expanduser()))
    httpx = import_httpx()
    context: ssl.SSLContext = httpx.create_ssl_context(trust_env=True)
    return context
