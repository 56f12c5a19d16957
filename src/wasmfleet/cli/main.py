"""The ``wasmfleet`` command. Each noun of the platform is a command or a sub-app."""

from __future__ import annotations

import typer

from wasmfleet import __version__
from wasmfleet.cli import deployments, devices, modules, sensor
from wasmfleet.cli.bridge import bridge, sink
from wasmfleet.cli.broker import broker
from wasmfleet.cli.demo import demo
from wasmfleet.cli.logs import logs
from wasmfleet.cli.ml import app as ml_app
from wasmfleet.cli.orchestrator import orchestrator
from wasmfleet.cli.status import status
from wasmfleet.cli.supervisor import supervisor
from wasmfleet.cli.up import up

app = typer.Typer(
    name="wasmfleet",
    help="Deploy WebAssembly modules across the devices of an IoT fleet.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)
app.command(name="up")(up)
app.command(name="supervisor")(supervisor)
app.command(name="orchestrator")(orchestrator)
app.command(name="demo")(demo)
app.add_typer(devices.app, name="device")
app.add_typer(modules.app, name="module")
app.command(name="deploy")(deployments.deploy)
app.add_typer(deployments.app, name="deployment")
app.command(name="exec")(deployments.exec_command)
app.command(name="logs")(logs)
app.command(name="status")(status)
app.command(name="broker")(broker)
app.add_typer(sensor.app, name="sensor")
app.add_typer(ml_app, name="ml")
app.command(name="bridge")(bridge)
app.command(name="sink")(sink)


@app.command()
def version() -> None:
    """Print the wasmfleet version."""
    typer.echo(__version__)


def main() -> None:
    """Entry point of the console script."""
    app()
