"""The orchestrator's typed settings: read once at start, passed explicitly everywhere.

Precedence: command-line flag > ``WASMFLEET_ORCHESTRATOR_*`` environment > defaults.
Nothing else in the orchestrator reads ``os.environ``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wasmfleet.core.errors import ConfigurationError
from wasmfleet.runtime.limits import MiB
from wasmfleet.service.http import BodyLimit
from wasmfleet.service.net import reachable_host
from wasmfleet.service.setting_values import convert_setting


def default_orchestrator_dir() -> Path:
    """Where the orchestrator keeps its database and module files unless told otherwise."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "wasmfleet" / "orchestrator"


@dataclass(frozen=True, slots=True)
class OrchestratorSettings:
    """Everything an orchestrator process is configured with."""

    host: str = "0.0.0.0"
    port: int = 3000
    data_dir: Path | None = None
    """None means ``default_orchestrator_dir()``; use ``resolved_data_dir``."""
    database_url: str | None = None
    """None means a SQLite file in the data directory."""
    public_url: str | None = None
    """The URL devices use to fetch modules and send logs; derived from host/port when unset."""
    mdns: bool = True
    """Browse ``_webthing._tcp.local.`` for supervisors."""
    health_interval_s: float = 5.0
    health_timeout_s: float = 2.0
    health_failures: int = 3
    """Consecutive refused health polls before a polled (non-heartbeating) device is dead."""
    phi_threshold: float = 8.0
    """Phi at which a device is declared dead (the failure detector's threshold)."""
    suspect_phi: float = 1.0
    """Phi at which an active device becomes suspect (not used for new placements)."""
    acceptable_pause_s: float = 1.5
    """A pause in heartbeats this long (on top of the mean interval) is not yet alarming."""
    flap_count: int = 3
    """Failures within ``flap_window_s`` that make a device "flapping"."""
    flap_window_s: float = 60.0
    stable_s: float = 30.0
    """A flapping device is used for new placements again after this long without failure."""
    lease_s: float = 1.5
    """How long a device may serve a stateful step without hearing from the orchestrator."""
    heal_retry_s: float = 5.0
    """Seconds between retries of degraded deployments (also retried when the fleet changes)."""
    monitor_tick_s: float = 0.1
    """How often the failure detector is evaluated."""
    register_devices: bool = True
    """Send ``POST /register`` to supervisors that have no orchestrator set."""
    deploy_timeout_s: float = 60.0
    execute_timeout_s: float = 60.0
    execute_retries: int = 3
    """Attempts per hop (fetching a result entry that is not ready yet, or a refused connection)."""
    max_module_bytes: int = 64 * MiB
    max_request_bytes: int = 128 * MiB
    log_level: str = "info"
    log_format: str = "text"

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
        return f"http://{reachable_host(self.host)}:{self.port}"

    @property
    def body_limit(self) -> BodyLimit:
        """The largest request body, as the 413 sentence names it."""
        return BodyLimit(
            self.max_request_bytes,
            "orchestrator",
            "--max-request-size or WASMFLEET_ORCHESTRATOR_MAX_REQUEST_SIZE",
        )

    @classmethod
    def load(
        cls, env: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
    ) -> OrchestratorSettings:
        """Build settings from the environment and command-line overrides (None = not given)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for key, (kind, name) in _ENV.items():
            if env.get(name, "") != "":
                values[key] = convert_setting(kind, env[name], name)
        values.update({k: v for k, v in (overrides or {}).items() if v is not None})
        if "data_dir" in values:
            values["data_dir"] = Path(values["data_dir"]).expanduser()
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Refuse settings that cannot work, with a sentence saying which and why."""
        if not 0 < self.port < 65536:
            raise ConfigurationError(f"port must be between 1 and 65535, got {self.port}.")
        if self.health_interval_s <= 0 or self.health_timeout_s <= 0:
            raise ConfigurationError("health interval and timeout must be greater than 0.")
        if self.health_failures < 1:
            raise ConfigurationError("health failures threshold must be at least 1.")
        if self.execute_retries < 1:
            raise ConfigurationError("execute retries must be at least 1.")
        if not 0 < self.suspect_phi < self.phi_threshold:
            raise ConfigurationError(
                f"suspect phi must be above 0 and below the phi threshold "
                f"({self.phi_threshold:g}), got {self.suspect_phi:g}."
            )
        if self.acceptable_pause_s <= 0 or self.monitor_tick_s <= 0 or self.heal_retry_s <= 0:
            raise ConfigurationError(
                "acceptable pause, monitor tick and heal retry must be greater than 0."
            )
        if not 0 <= self.lease_s <= self.acceptable_pause_s:
            raise ConfigurationError(
                f"the lease ({self.lease_s:g} s) must be between 0 and the acceptable pause "
                f"({self.acceptable_pause_s:g} s), so that a device's lease always ends "
                "before it can be declared dead and its stateful steps moved."
            )
        if self.flap_count < 1 or self.flap_window_s <= 0 or self.stable_s < 0:
            raise ConfigurationError(
                "flap count must be at least 1, flap window above 0 and stable time 0 or more."
            )
        url = self.database_url
        if url and not re.match(r"^(sqlite|postgresql)(\+\w+)?://", url):
            raise ConfigurationError(
                "database URL must start with sqlite:/// or postgresql://, "
                f"e.g. postgresql://user:password@127.0.0.1:5432/wasmfleet; got {url!r}."
            )
        if self.public_url and not re.match(r"^https?://", self.public_url):
            raise ConfigurationError(
                f"public URL must start with http:// or https://, got {self.public_url!r}."
            )
        if self.log_format not in {"text", "json"}:
            raise ConfigurationError("log format must be text or json.")


_P = "WASMFLEET_ORCHESTRATOR_"
# setting -> (kind, environment name)
_ENV: dict[str, tuple[str, str]] = {
    "host": ("str", _P + "HOST"),
    "port": ("int", _P + "PORT"),
    "data_dir": ("str", _P + "DATA_DIR"),
    "database_url": ("str", "WASMFLEET_DATABASE_URL"),
    "public_url": ("str", _P + "PUBLIC_URL"),
    "mdns": ("bool", _P + "MDNS"),
    "health_interval_s": ("float", _P + "HEALTH_INTERVAL"),
    "health_timeout_s": ("float", _P + "HEALTH_TIMEOUT"),
    "health_failures": ("int", _P + "HEALTH_FAILURES"),
    "phi_threshold": ("float", _P + "PHI_THRESHOLD"),
    "suspect_phi": ("float", _P + "SUSPECT_PHI"),
    "acceptable_pause_s": ("float", _P + "ACCEPTABLE_PAUSE"),
    "flap_count": ("int", _P + "FLAP_COUNT"),
    "flap_window_s": ("float", _P + "FLAP_WINDOW"),
    "stable_s": ("float", _P + "STABLE_AFTER"),
    "lease_s": ("float", _P + "LEASE"),
    "heal_retry_s": ("float", _P + "HEAL_RETRY"),
    "register_devices": ("bool", _P + "REGISTER_DEVICES"),
    "deploy_timeout_s": ("float", _P + "DEPLOY_TIMEOUT"),
    "execute_timeout_s": ("float", _P + "EXECUTE_TIMEOUT"),
    "execute_retries": ("int", _P + "EXECUTE_RETRIES"),
    "max_module_bytes": ("size", _P + "MAX_MODULE_SIZE"),
    "log_level": ("str", _P + "LOG_LEVEL"),
    "log_format": ("str", _P + "LOG_FORMAT"),
}
