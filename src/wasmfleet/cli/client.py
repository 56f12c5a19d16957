"""A small synchronous client for the orchestrator's ``/api/v1``, used by every CLI command.

Every failure — the orchestrator is unreachable, too slow, or answers the shared error
shape ``{"error": {"status", "code", "message", ...}}`` — becomes one ``ApiError`` whose
message is a sentence for the user; ``fail`` prints it in red and exits with status 1
(both live in cli/client_errors.py and are importable from here). The settings of the
client (URL, CA file, token) resolve flag > environment > context > config file > default.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, TypeVar

import httpx
import typer

from wasmfleet.cli.client_errors import ApiError as ApiError
from wasmfleet.cli.client_errors import error_message as error_message
from wasmfleet.cli.client_errors import fail as fail
from wasmfleet.cli.client_errors import reported as reported
from wasmfleet.cli.client_errors import tls_problem as tls_problem
from wasmfleet.cli.context_file import Context, contexts_path, same_url, selected
from wasmfleet.core.errors import ConfigurationError
from wasmfleet.service.http_clients import tls_context
from wasmfleet.service.settings import (
    config_path,
    config_values,
    declared,
    read_config,
    resolve,
    setting,
    where_to_set,
)
from wasmfleet.service.tls import check_ca_file

DEFAULT_URL = "http://127.0.0.1:3000"
ENV_URL = "WASMFLEET_ORCHESTRATOR"
CHUNK = 64 * 1024
T = TypeVar("T")

transport: httpx.BaseTransport | None = None
"""Replaced by tests with an ``httpx.MockTransport`` (or an in-process app) to fake the API."""
ca_file_flag: Path | None = None
"""``--ca-file FILE`` of the running command (or ``up --tls``'s CA): wins over
WASMFLEET_CA_FILE and the config file. Set by ``CaFileOpt``'s callback on every client command."""


def _http_url(value: str) -> str | None:
    ok = value.startswith(("http://", "https://"))
    return None if ok else f"must be a URL such as {DEFAULT_URL}"


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """What the client commands (device, module, deploy, status, logs...) are configured with.

    Flag > environment > the current context (cli/context_file.py) > config file > default;
    the config file is ``WASMFLEET_CLIENT_CONFIG``, else ``~/.config/wasmfleet/client.toml``
    when it exists. A context applies only while the orchestrator URL in use is its own.
    """

    ENV_PREFIX: ClassVar[str] = "WASMFLEET_"
    CONFIG_ENV: ClassVar[str] = "WASMFLEET_CLIENT_CONFIG"

    orchestrator: str = setting(DEFAULT_URL, help="Base URL of the orchestrator.", check=_http_url)
    output: str = setting(
        "table", help="table for people, json for the raw API answer.", choices=("table", "json")
    )
    ca_file: Path | None = setting(
        None,
        help="PEM CA bundle an https:// orchestrator's certificate is verified against "
        "(only these CAs are trusted; docs/tls.md).",
        default_text="the system's CAs",
    )

    @staticmethod
    def default_config() -> Path:
        """``$XDG_CONFIG_HOME/wasmfleet/client.toml`` (``~/.config`` by default)."""
        base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        return Path(base) / "wasmfleet" / "client.toml"

    @staticmethod
    def default_token_file() -> Path:
        """``$XDG_CONFIG_HOME/wasmfleet/token`` (``~/.config`` by default)."""
        return ClientSettings.default_config().with_name("token")


@dataclass(frozen=True, slots=True)
class TokenSettings:
    """Where the client's API token comes from (not flags: a token never goes on the command
    line; ``wasmfleet --token-file PATH`` names a file). Environment > client config file."""

    ENV_PREFIX: ClassVar[str] = "WASMFLEET_"
    CONFIG_ENV: ClassVar[str] = "WASMFLEET_CLIENT_CONFIG"

    token: str | None = setting(
        None,
        help="API token sent as 'Authorization: Bearer' (never put it on the command line).",
        env=("WASMFLEET_TOKEN",),
        default_text="none: read from the token file",
    )
    token_file: Path | None = setting(
        None,
        help="File holding the API token.",
        env=("WASMFLEET_TOKEN_FILE",),
        default_text="~/.config/wasmfleet/token when it exists",
    )

    @staticmethod
    def default_config() -> Path:
        """The client's config file (see ``ClientSettings``)."""
        return ClientSettings.default_config()


global_flags: dict[str, str] = {}
"""Options given before the command (``wasmfleet --token-file PATH --context NAME ...``),
set by main."""


def active_context(url: str | None = None) -> Context | None:
    """The context that applies (``--context``, WASMFLEET_CONTEXT, the current one), unless
    ``url`` (else WASMFLEET_ORCHESTRATOR) names another orchestrator: a context's token is
    never sent elsewhere. Exit 2 with a sentence when the contexts file is unusable."""
    try:
        context = selected(global_flags.get("context"))
    except ConfigurationError as err:
        fail(err.message, 2)
    given = (url or "").strip() or os.environ.get(ENV_URL, "").strip()
    if context is None or (given and not same_url(given, context.orchestrator)):
        return None
    return context


def load_client(cls: type[T], flags: Mapping[str, Any], context: Context | None) -> T:
    """``cls`` (client or token settings) by flag > environment > ``context`` > client config
    file > default; ConfigurationError with a sentence for a bad value."""
    path = config_path(cls, None, os.environ)
    values: dict[str, Any] = {}
    if path is not None:  # client.toml holds both classes' keys: each reads its own
        other = {
            i.key for c in (ClientSettings, TokenSettings) if c is not cls for i in declared(c)
        }
        table = {k: v for k, v in read_config(path).items() if k.replace("_", "-") not in other}
        values = config_values(cls, table, path)
    if context is not None:
        keys = {item.key for item in declared(cls)}
        table = {k: v for k, v in context.table().items() if k in keys}
        where = f"context {context.name!r} in {contexts_path()}"
        values.update(config_values(cls, table, where))
    chosen = resolve(cls, flags=flags, env=os.environ, config=values)
    return cls(**{name: value for name, (value, _) in chosen.items()})


def bearer_token(url: str | None = None) -> str | None:
    """The API token to send to ``url``: WASMFLEET_TOKEN, else the token file
    (``--token-file``, WASMFLEET_TOKEN_FILE, the context's, the client config's
    ``token_file``, ~/.config/wasmfleet/token)."""
    try:
        flags = {k: v for k, v in global_flags.items() if k == "token_file"}
        settings = load_client(TokenSettings, flags, active_context(url))
    except ConfigurationError as err:
        fail(err.message, 2)
    if settings.token and settings.token.strip():
        return settings.token.strip()
    path = settings.token_file
    if path is None:
        default = ClientSettings.default_token_file()
        path = default if default.is_file() else None
    if path is None:
        return None
    try:
        token = path.expanduser().read_text(encoding="utf-8").strip()
    except OSError as err:
        fail(f"Cannot read the token file {path}: {err.strerror or err}.", 2)
    if not token:
        fail(f"The token file {path} is empty.", 2)
    return token


def client_setting(
    name: str, convert: Callable[[Any], Any] = str
) -> Callable[[typer.Context, typer.CallbackParam, Any], Any]:
    """A typer callback giving an option's value by the precedence of ``ClientSettings``:
    the flag when it is on the command line, else the environment, the config file, the
    default."""

    def callback(ctx: typer.Context, param: typer.CallbackParam, value: Any) -> Any:
        if ctx.resilient_parsing:  # shell completion: nothing is run
            return value
        source = ctx.get_parameter_source(param.name or name)
        given = getattr(source, "name", None) == "COMMANDLINE"  # typer may vendor its click
        flags = {name: str(value)} if given and value is not None else {}
        url = flags.get("orchestrator") or ctx.params.get("orchestrator")
        try:
            context = active_context(str(url) if url else None)
            return convert(getattr(load_client(ClientSettings, flags, context), name))
        except ConfigurationError as err:
            fail(err.message, 2)

    return callback


OrchestratorOpt = Annotated[
    str,
    typer.Option(
        "--orchestrator",
        help=f"Base URL of the orchestrator (env {ENV_URL}; orchestrator in the client's "
        "config file).",
        callback=client_setting("orchestrator"),
    ),
]


def _ca_file_option(ctx: typer.Context, param: typer.CallbackParam, value: Any) -> Any:
    """``--ca-file``: its value by the client's precedence; remembered for ``Client`` when it
    is on the command line (and forgotten when it is not)."""
    global ca_file_flag
    resolved = client_setting("ca_file", lambda v: v)(ctx, param, value)
    source = ctx.get_parameter_source(param.name or "ca_file")
    given = getattr(source, "name", None) == "COMMANDLINE"
    ca_file_flag = Path(value) if given and value is not None else None
    return resolved


CaFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--ca-file",
        metavar="FILE",
        help="CA bundle to verify an https:// orchestrator with (env WASMFLEET_CA_FILE; "
        "ca-file in the client's config file; default: the system's CAs).",
        callback=_ca_file_option,
    ),
]


def base_url(url: str | None) -> str:
    """The orchestrator URL to use: the flag, else the environment, the client's config
    file, the default (exit 2 with a sentence when it is not an http(s) URL)."""
    return _settings(url)[0]


def _settings(url: str | None) -> tuple[str, Path | None]:
    """(orchestrator URL, CA file) by the client's precedence; exit 2 with a sentence."""
    flags: dict[str, Any] = {"orchestrator": url.strip()} if url else {}
    if ca_file_flag is not None:
        flags["ca_file"] = ca_file_flag
    try:
        settings = load_client(ClientSettings, flags, active_context(url))
        check_ca_file(settings.ca_file, where_to_set(ClientSettings, "ca_file"))
    except ConfigurationError as err:
        fail(err.message, 2)
    return settings.orchestrator.strip().rstrip("/"), settings.ca_file


class Client:
    """Calls one orchestrator; every method returns parsed JSON or raises ApiError."""

    def __init__(self, url: str | None = None, *, timeout: float = 30.0) -> None:
        self.url, ca_file = _settings(url)
        self.timeout = timeout
        verify: Any = True if ca_file is None else tls_context(ca_file)
        token = bearer_token(self.url)
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=self.url, timeout=timeout, transport=transport, verify=verify, headers=headers
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def send(self, request: httpx.Request, *, timeout: float | None = None) -> httpx.Response:
        """Send a prepared request; connection problems become ApiError."""
        if timeout is not None:
            request.extensions["timeout"] = httpx.Timeout(timeout).as_dict()
        try:
            return self._http.send(request)
        except httpx.ConnectError as err:
            problem = tls_problem(self.url, err)
            if problem is not None:
                raise ApiError(problem) from None
            raise ApiError(
                f"Cannot reach the orchestrator at {self.url}; start one with "
                "`wasmfleet up` (or `wasmfleet orchestrator`), or point --orchestrator "
                f"(or {ENV_URL}) at a running one."
            ) from None
        except httpx.TimeoutException:
            limit = timeout if timeout is not None else self.timeout
            raise ApiError(
                f"The orchestrator at {self.url} did not answer {request.method} "
                f"{request.url.path} within {limit:g} s."
            ) from None
        except httpx.HTTPError as err:
            if self.url.startswith("http://") and isinstance(err, httpx.RemoteProtocolError):
                raise ApiError(
                    f"The orchestrator at {self.url} closed the connection; if it serves "
                    "HTTPS, use " + self.url.replace("http://", "https://", 1) + "."
                ) from None
            raise ApiError(
                f"Talking to the orchestrator at {self.url} failed: "
                f"{str(err) or type(err).__name__}."
            ) from None

    def request(
        self,
        method: str,
        path: str,
        *,
        timeout: float | None = None,
        **kw: Any,
    ) -> Any:
        """One call: the parsed JSON answer (None for an empty one), or ApiError."""
        request = self._http.build_request(method, path, **kw)
        response = self.send(request, timeout=timeout)
        return self.parse(response)

    @staticmethod
    def parse(response: httpx.Response) -> Any:
        """The JSON body of a 2xx answer; ApiError with the server's sentence otherwise."""
        if response.is_success:
            if not response.content:
                return None
            try:
                return response.json()
            except ValueError:
                return response.text
        message, code, body = error_message(response)
        raise ApiError(message, status=response.status_code, code=code, body=body)

    def get(self, path: str, **kw: Any) -> Any:
        """GET ``path``."""
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        """POST to ``path``."""
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Any:
        """PUT to ``path``."""
        return self.request("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        """DELETE ``path``."""
        return self.request("DELETE", path, **kw)

    def upload(
        self,
        path: str,
        *,
        data: Mapping[str, str],
        files: Mapping[str, tuple[str, bytes, str]],
        progress: Callable[[int, int], None] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """POST a multipart form, calling ``progress(sent, total)`` as the bytes go out."""
        encoded = self._http.build_request("POST", path, data=dict(data), files=dict(files))
        body = encoded.read()
        total = len(body)

        def chunks() -> Iterator[bytes]:
            for start in range(0, total, CHUNK):
                yield body[start : start + CHUNK]
                if progress is not None:
                    progress(min(start + CHUNK, total), total)

        headers = {
            "content-type": encoded.headers["content-type"],
            "content-length": str(total),
        }
        request = self._http.build_request("POST", path, content=chunks(), headers=headers)
        return self.parse(self.send(request, timeout=timeout))
