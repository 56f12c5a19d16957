"""``wasmfleet orchestrator``: run the control plane."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from wasmfleet.core.errors import ConfigurationError
from wasmfleet.service.setting_values import parse_size

Opt = typer.Option


def orchestrator(
    host: Annotated[str | None, Opt(help="Address to listen on (default: 0.0.0.0).")] = None,
    port: Annotated[int | None, Opt(help="Port (default: 3000).")] = None,
    data_dir: Annotated[
        Path | None,
        Opt(help="Database and module files (default: ~/.local/share/wasmfleet/orchestrator)."),
    ] = None,
    database_url: Annotated[
        str | None,
        Opt(
            help="sqlite:///PATH or postgresql://USER:PASS@HOST:PORT/DB "
            "(default: SQLite in the data dir; env WASMFLEET_DATABASE_URL)."
        ),
    ] = None,
    public_url: Annotated[
        str | None, Opt(help="URL devices use to reach this orchestrator (default: derived).")
    ] = None,
    mdns: Annotated[
        bool | None, Opt("--mdns/--no-mdns", help="Browse mDNS for supervisors (default: on).")
    ] = None,
    health_interval: Annotated[
        float | None, Opt(help="Seconds between health checks (default: 5).")
    ] = None,
    health_timeout: Annotated[
        float | None, Opt(help="Seconds a health check may take (default: 2).")
    ] = None,
    health_failures: Annotated[
        int | None,
        Opt(help="Refused polls in a row before a polled device is dead (default: 3)."),
    ] = None,
    phi_threshold: Annotated[
        float | None,
        Opt(help="Failure-detector phi at which a device is dead (default: 8)."),
    ] = None,
    suspect_phi: Annotated[
        float | None, Opt(help="Phi at which a device becomes suspect (default: 1).")
    ] = None,
    acceptable_pause: Annotated[
        float | None,
        Opt(help="Seconds of heartbeat pause tolerated beyond the mean (default: 1.5)."),
    ] = None,
    flap_count: Annotated[
        int | None,
        Opt(help="Failures within --flap-window that mark a device flapping (default: 3)."),
    ] = None,
    flap_window: Annotated[
        float | None, Opt(help="Seconds over which failures are counted (default: 60).")
    ] = None,
    stable_after: Annotated[
        float | None,
        Opt(help="Seconds a flapping device must stay up before new placements (default: 30)."),
    ] = None,
    lease: Annotated[
        float | None,
        Opt(help="Seconds a device may serve a stateful step without contact (default: 1.5)."),
    ] = None,
    max_module_size: Annotated[
        str | None, Opt(help="Largest .wasm accepted, e.g. 64MiB (default: 64MiB).")
    ] = None,
    log_level: Annotated[str | None, Opt(help="debug, info, warning or error.")] = None,
    log_format: Annotated[str | None, Opt(help="text or json.")] = None,
) -> None:
    """Run an orchestrator: discover devices, keep modules, place and run pipelines.

    Every option can also be set with a WASMFLEET_ORCHESTRATOR_* environment variable
    (see README); flags win over the environment. The API is documented at /docs.
    """
    from wasmfleet.orchestrator.server import serve
    from wasmfleet.orchestrator.settings import OrchestratorSettings

    try:
        settings = OrchestratorSettings.load(
            overrides={
                "host": host,
                "port": port,
                "data_dir": data_dir,
                "database_url": database_url,
                "public_url": public_url,
                "mdns": mdns,
                "health_interval_s": health_interval,
                "health_timeout_s": health_timeout,
                "health_failures": health_failures,
                "phi_threshold": phi_threshold,
                "suspect_phi": suspect_phi,
                "acceptable_pause_s": acceptable_pause,
                "flap_count": flap_count,
                "flap_window_s": flap_window,
                "stable_s": stable_after,
                "lease_s": lease,
                "max_module_bytes": (
                    parse_size(max_module_size, "--max-module-size") if max_module_size else None
                ),
                "log_level": log_level,
                "log_format": log_format,
            }
        )
        serve(settings)
    except ConfigurationError as err:
        typer.secho(f"error: {err.message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
