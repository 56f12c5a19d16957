"""The orchestrator's typed settings: declared once, read once at start, passed explicitly.

Each field is a ``setting(...)`` (service/settings.py): it has a flag, a
``WASMFLEET_ORCHESTRATOR_*`` variable (``WASMFLEET_DATABASE_URL`` for the database) and a key
in the ``--config`` file, looked up as flag > environment > config file > default. Nothing
else in the orchestrator reads ``os.environ``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from wasmfleet.core.errors import ConfigurationError
from wasmfleet.core.notify_targets import email_problem, webhook_problem
from wasmfleet.orchestrator.settings_checks import check_notifications, check_signatures
from wasmfleet.runtime.limits import MiB
from wasmfleet.service.exposure import check_exposure
from wasmfleet.service.http import BodyLimit
from wasmfleet.service.net import reachable_host
from wasmfleet.service.settings import (
    above,
    at_least,
    between,
    check_declared,
    load_settings,
    setting,
    url,
    where_to_set,
)
from wasmfleet.service.tls import check_ca_file, check_server_files, scheme

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
DAY = 86400.0


def _first_problem(items: tuple[str, ...], problem: Any) -> str | None:
    """The first item's problem, naming the item (a check of a repeatable setting)."""
    for item in items:
        found = problem(item)
        if found:
            return f"{item!r} {found}"
    return None


def default_orchestrator_dir() -> Path:
    """Where the orchestrator keeps its database and module files unless told otherwise."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "wasmfleet" / "orchestrator"


@dataclass(frozen=True, slots=True)
class OrchestratorSettings:
    """Everything an orchestrator process is configured with."""

    ENV_PREFIX: ClassVar[str] = "WASMFLEET_ORCHESTRATOR_"
    CONFIG_ENV: ClassVar[str] = "WASMFLEET_ORCHESTRATOR_CONFIG"

    host: str = setting("0.0.0.0", help="Address to listen on.")
    port: int = setting(3000, help="Port to listen on.", check=between(1, 65535))
    data_dir: Path | None = setting(
        None,
        help="Database and module files.",
        default_text="~/.local/share/wasmfleet/orchestrator",
    )
    database_url: str | None = setting(
        None,
        help="sqlite:///PATH or postgresql://USER:PASS@HOST:PORT/DB.",
        env=("WASMFLEET_DATABASE_URL",),
        default_text="SQLite in the data directory",
        check=url("sqlite", "postgresql", "postgres"),
    )
    public_url: str | None = setting(
        None,
        help="URL devices use to reach this orchestrator (module downloads, logs).",
        default_text="derived from --host and --port",
        check=url("http", "https"),
    )
    otlp_endpoint: str | None = setting(
        None,
        help="Export each execution's trace to this OpenTelemetry collector (OTLP/HTTP, e.g. "
        "http://127.0.0.1:4318); needs the otel extra.",
        default_text="off",
        check=url("http", "https"),
    )
    mdns: bool = setting(True, help="Browse mDNS (_webthing._tcp.local.) for supervisors.")
    health_interval_s: float = setting(5.0, help="Seconds between health checks.", check=above(0))
    health_timeout_s: float = setting(2.0, help="Seconds a health check may take.", check=above(0))
    metrics_sample_s: float = setting(
        5.0,
        help="Seconds between scrapes of the devices' /metrics for the dashboard's plots "
        "(only while GET /api/v1/metrics/series is being asked).",
        check=between(0.5, 3600),
    )
    health_failures: int = setting(
        3, help="Refused polls in a row before a polled device is dead.", check=at_least(1)
    )
    phi_threshold: float = setting(
        8.0, help="Failure-detector phi at which a device is dead.", check=above(0)
    )
    suspect_phi: float = setting(
        1.0, help="Phi at which a device becomes suspect (no new placements).", check=above(0)
    )
    acceptable_pause_s: float = setting(
        1.5, help="Seconds of heartbeat pause tolerated beyond the mean.", check=above(0)
    )
    flap_count: int = setting(
        3, help="Failures within --flap-window that mark a device flapping.", check=at_least(1)
    )
    flap_window_s: float = setting(
        60.0, help="Seconds over which failures are counted.", check=above(0)
    )
    stable_s: float = setting(
        30.0,
        help="Seconds a flapping device must stay up before new placements.",
        flag="--stable-after",
        check=at_least(0),
    )
    lease_s: float = setting(
        1.5,
        help="Seconds a device may serve a stateful step without contact.",
        check=at_least(0),
    )
    heal_retry_s: float = setting(
        5.0,
        help="Seconds between retries of degraded deployments (also retried when the fleet "
        "changes).",
        check=above(0),
    )
    leader_ttl_s: float = setting(
        3.0,
        help="Seconds the leader lease lasts (docs/scale-out.md): with several orchestrators on "
        "one PostgreSQL, another takes over at most this plus a third after the leader stops.",
        check=above(0),
    )
    monitor_tick_s: float = setting(
        0.1, help="Seconds between evaluations of the failure detector.", check=above(0)
    )
    register_devices: bool = setting(
        True, help="Send POST /register to supervisors that have no orchestrator set."
    )
    deploy_timeout_s: float = setting(
        60.0, help="Seconds a device may take to answer a deployment.", check=above(0)
    )
    execute_timeout_s: float = setting(
        60.0, help="Seconds each hop of an execution may take.", check=above(0)
    )
    execute_retries: int = setting(
        3,
        help="Attempts per hop (a result not ready yet, or a refused connection).",
        check=at_least(1),
    )
    execution_flush_s: float = setting(
        0.05,
        help="Seconds a finished execution may wait to be written with others in one "
        "transaction (a crash loses at most the executions of that last interval); 0 writes "
        "each before answering.",
        check=at_least(0),
    )
    max_module_bytes: int = setting(
        64 * MiB, help="Largest .wasm accepted.", kind="size", flag="--max-module-size"
    )
    require_signatures: bool = setting(
        False,
        help="Accept only modules signed by a --trusted-key (unsigned or wrongly signed "
        "uploads are refused with 422).",
    )
    trusted_keys: tuple[Path, ...] = setting(
        (),
        help="An Ed25519 public key (.pub from `wasmfleet key generate`) whose signatures "
        "uploads may carry (repeatable; with --require-signatures).",
        kind="paths",
        flag="--trusted-key",
        env=("WASMFLEET_ORCHESTRATOR_TRUSTED_KEYS",),
        key="trusted-keys",
        default_text="none",
    )
    max_request_bytes: int = setting(
        128 * MiB,
        help="Largest request body accepted (module uploads included).",
        kind="size",
        flag="--max-request-size",
    )
    keep_module_versions: int = setting(
        10,
        help="Versions kept per module name (the newest; versions a deployment uses are "
        "always kept); 0 keeps every version.",
        check=at_least(0),
    )
    keep_logs_for_s: float = setting(
        7 * DAY,
        help="Delete device log entries older than this (e.g. 12h, 7d); 0 keeps them forever.",
        kind="duration",
        flag="--keep-logs-for",
    )
    keep_logs: int = setting(
        100_000,
        help="Keep at most this many device log entries, the newest; 0 means no limit.",
        check=at_least(0),
    )
    keep_executions_for_s: float = setting(
        7 * DAY,
        help="Delete executions that started longer ago than this; 0 keeps them forever.",
        kind="duration",
        flag="--keep-executions-for",
    )
    keep_executions: int = setting(
        10_000,
        help="Keep at most this many executions, the newest; 0 means no limit.",
        check=at_least(0),
    )
    prune_interval_s: float = setting(
        60.0,
        help="Seconds between rounds that delete old log entries and executions; 0: never.",
        check=at_least(0),
    )
    schedule_tick_s: float = setting(
        5.0,
        help="Seconds between rounds of the scheduler that fires installed apps' schedules "
        "(docs/schedules.md); 0: never.",
        check=at_least(0),
    )
    auth: str = setting(
        "off",
        help="on: every route but the probes and API documents needs an API token "
        "(Authorization: Bearer, docs/security.md); off: the API is open.",
        choices=("on", "off"),
    )
    admin_token_file: Path | None = setting(
        None,
        help="With --auth on and no admin yet: the first admin's token is read from this "
        "file, or written to it (mode 0600) when it does not exist.",
        default_text="printed once on stdout",
    )
    open_wasmiot_routes: bool = setting(
        False,
        help="With --auth on, leave the wasmiot-dialect routes (/file/..., /execute/..., "
        "/device/logs) open to callers without a token (trusted networks only).",
    )
    open_device_routes: bool = setting(
        False,
        help="With --auth on, leave the routes supervisors call (heartbeat, registration, "
        "log shipping, module downloads) open to callers without a token; `wasmfleet up` "
        "uses it on loopback until devices hold their own credentials.",
    )
    insecure: bool = setting(
        False,
        help="Start with --auth off on a non-loopback --host anyway (anyone who reaches the "
        "port may deploy code to your devices; docs/security.md).",
        off_flag=None,
    )
    log_level: str = setting("info", help="Log level on stderr.", choices=LOG_LEVELS)
    log_format: str = setting("text", help="Log lines as text or json.", choices=("text", "json"))
    tls_cert: Path | None = setting(
        None,
        help="PEM certificate (chain) to serve HTTPS with (with --tls-key; docs/tls.md).",
        default_text="none (plain HTTP)",
    )
    tls_key: Path | None = setting(
        None, help="PEM private key of --tls-cert (unencrypted).", default_text="none"
    )
    ca_file: Path | None = setting(
        None,
        help="PEM CA bundle that supervisors' HTTPS certificates are verified against "
        "(only these CAs are trusted).",
        default_text="the system's CAs",
    )

    notify_webhooks: tuple[str, ...] = setting(
        (),
        help="POST every notification (app started/stopped/failed, device dead, rollout "
        "rolled back) as JSON to this http(s) URL (repeatable; docs/notifications.md).",
        kind="strings",
        flag="--notify-webhook",
        env=("WASMFLEET_ORCHESTRATOR_NOTIFY_WEBHOOKS",),
        key="notify-webhooks",
        default_text="none",
        check=lambda urls: _first_problem(urls, webhook_problem),
    )
    notify_emails: tuple[str, ...] = setting(
        (),
        help="E-mail every notification to this address through --smtp-url (repeatable).",
        kind="strings",
        flag="--notify-email",
        env=("WASMFLEET_ORCHESTRATOR_NOTIFY_EMAILS",),
        key="notify-emails",
        default_text="none",
        check=lambda addresses: _first_problem(addresses, email_problem),
    )
    notify_webhook_secret: str | None = setting(
        None,
        help="Sign each webhook body with HMAC-SHA256 under this secret (header "
        "X-Wasmfleet-Signature: sha256=HEX).",
        default_text="unsigned",
    )
    smtp_url: str | None = setting(
        None,
        help="The SMTP server e-mail goes through: smtp://[USER[:PASS]@]HOST[:PORT] (port 25), "
        "smtps:// (TLS, 465) or smtp+starttls:// (587).",
        default_text="no e-mail",
    )
    smtp_from: str | None = setting(
        None,
        help="The From address of notification e-mail.",
        default_text="wasmfleet@ this host's name",
        check=lambda address: email_problem(address),
    )
    notify_timeout_s: float = setting(
        10.0, help="Seconds one webhook call or SMTP step may take.", check=above(0)
    )
    notify_attempts: int = setting(
        3,
        help="Tries per notification and target (a refusal such as a 4xx is not retried).",
        check=between(1, 10),
    )
    keep_notifications: int = setting(
        200,
        help="Deliveries remembered for GET /api/v1/notifications (the newest).",
        check=between(1, 100_000),
    )

    @property
    def tls(self) -> bool:
        """True when this orchestrator serves HTTPS."""
        return self.tls_cert is not None and self.tls_key is not None

    @property
    def resolved_data_dir(self) -> Path:
        """The data directory, with the default filled in."""
        return self.data_dir if self.data_dir is not None else default_orchestrator_dir()

    @property
    def resolved_database_url(self) -> str:
        """The database URL, with the SQLite default filled in."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_data_dir / 'orchestrator.db'}"

    @property
    def resolved_public_url(self) -> str:
        """This orchestrator's URL as devices see it."""
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"{scheme(self.tls)}://{reachable_host(self.host)}:{self.port}"

    @property
    def body_limit(self) -> BodyLimit:
        """The largest request body, as the 413 sentence names it."""
        where = where_to_set(OrchestratorSettings, "max_request_bytes")
        return BodyLimit(self.max_request_bytes, "orchestrator", where)

    def exposure(self) -> str | None:
        """Safe defaults: ConfigurationError when open (--auth off) on a non-loopback --host
        without --insecure; else the warning line to print when it runs open."""
        return check_exposure(
            "orchestrator",
            self.host,
            secured=self.auth == "on",
            insecure=self.insecure,
            how_to_secure="turn auth on with --auth on (docs/security.md: the first admin token)",
        )

    @classmethod
    def load(
        cls,
        env: Mapping[str, str] | None = None,
        overrides: Mapping[str, Any] | None = None,
        config: Path | str | None = None,
    ) -> OrchestratorSettings:
        """Build settings from flags (``overrides``, None = not given), the environment and
        a config file, and validate them."""
        return load_settings(cls, flags=overrides, env=env, config=config)

    def validate(self) -> None:
        """Refuse settings that cannot work, with a sentence saying which and why."""
        check_declared(self)
        check_signatures(self)
        check_server_files(
            self.tls_cert,
            self.tls_key,
            where_to_set(OrchestratorSettings, "tls_cert"),
            where_to_set(OrchestratorSettings, "tls_key"),
        )
        check_ca_file(self.ca_file, where_to_set(OrchestratorSettings, "ca_file"))
        check_notifications(self)
        if not self.suspect_phi < self.phi_threshold:
            raise ConfigurationError(
                f"suspect phi must be below the phi threshold ({self.phi_threshold:g}), "
                f"got {self.suspect_phi:g}."
            )
        if not self.lease_s <= self.acceptable_pause_s:
            raise ConfigurationError(
                f"the lease ({self.lease_s:g} s) must be between 0 and the acceptable pause "
                f"({self.acceptable_pause_s:g} s), so that a device's lease always ends "
                "before it can be declared dead and its stateful steps moved."
            )
