"""``wasmfleet sim``: simulators for testing an orchestrator at scale on one machine."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Annotated

import typer

from wasmfleet.cli.log_options import LogFormatOpt, LogLevelOpt, setup_logging
from wasmfleet.core.errors import WasmfleetError
from wasmfleet.service.heap import settle_heap

app = typer.Typer(help="Simulators for testing an orchestrator at scale on one machine.")


@app.command("devices")
def devices(
    count: Annotated[int, typer.Option(min=1, max=100_000, help="How many devices.")] = 100,
    orchestrator: Annotated[
        list[str] | None,
        typer.Option(
            help="The orchestrator they register with and heartbeat to (default "
            "http://127.0.0.1:3000). Repeat it for several orchestrators of one fleet: the "
            "devices spread over them and move to the next when theirs does not answer."
        ),
    ] = None,
    heartbeat: Annotated[
        float, typer.Option(min=0.05, max=60, help="Seconds between a device's heartbeats.")
    ] = 0.5,
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1 (0: any free port).")
    ] = 0,
    name_prefix: Annotated[
        str, typer.Option(help="Device names are this prefix and a number (sim-0001...).")
    ] = "sim-",
    label: Annotated[
        list[str] | None, typer.Option(help="A key=value label every device carries.")
    ] = None,
    connections: Annotated[
        int, typer.Option(min=1, max=1024, help="Connections to the orchestrator.")
    ] = 64,
    log_level: LogLevelOpt = "warning",
    log_format: LogFormatOpt = "text",
) -> None:
    """Run COUNT simulated devices in this process until Ctrl-C.

    Each registers with the orchestrator under its own path on one port, describes itself,
    heartbeats, accepts deployments and answers calls without running Wasm (fibo computes
    its number, other scalar functions echo their first argument), all on the real protocol.
    Control them over HTTP: GET /_sim/status; POST /_sim/kill, /_sim/stall or /_sim/revive
    with {"names": [...]} ("die on command"). Loopback only.
    """
    from wasmfleet.sim.fleet import SimFleet, SimSettings
    from wasmfleet.sim.server import serve

    setup_logging(log_level, log_format)
    labels: dict[str, str] = {}
    for item in label or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            typer.secho(f"error: --label must be key=value, got {item!r}", fg="red", err=True)
            raise typer.Exit(2)
        labels[key] = value
    urls = [u.rstrip("/") for u in orchestrator or ["http://127.0.0.1:3000"]]
    settings = SimSettings(
        orchestrator_url=urls[0],
        more_orchestrators=tuple(urls[1:]),
        count=count,
        port=port,
        heartbeat_s=heartbeat,
        name_prefix=name_prefix,
        labels=labels,
        connections=connections,
    )

    def ready(fleet: SimFleet) -> None:
        typer.echo(
            f"simulating {len(fleet.devices)} devices on {fleet.base} for {', '.join(urls)} "
            f"(status: {fleet.base}/_sim/status); Ctrl-C stops them"
        )
        sys.stdout.flush()

    try:
        settings.check()
        settle_heap()  # a thousand devices' loop must not pause for full collections
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(serve(settings, ready))
    except WasmfleetError as err:
        typer.secho(f"error: {err.message}", fg="red", err=True)
        raise typer.Exit(2) from None
    except OSError as err:
        typer.secho(f"error: {err}", fg="red", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        pass
    typer.echo("simulated devices stopped")


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is installed (it is with the orchestrator extra)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop
