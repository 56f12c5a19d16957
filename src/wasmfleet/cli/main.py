"""The ``wasmfleet`` command. Each noun of the platform is a command or a sub-app."""

from __future__ import annotations

import typer

from wasmfleet import __version__
from wasmfleet.cli.demo import demo
from wasmfleet.cli.supervisor import supervisor

app = typer.Typer(
    name="wasmfleet",
    help="Deploy WebAssembly modules across the devices of an IoT fleet.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command(name="supervisor")(supervisor)
app.command(name="demo")(demo)


@app.command()
def version() -> None:
    """Print the wasmfleet version."""
    typer.echo(__version__)


def main() -> None:
    """Entry point of the console script."""
    app()
