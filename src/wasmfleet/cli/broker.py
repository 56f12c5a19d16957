"""``wasmfleet broker``: the embedded MQTT broker in the foreground."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from wasmfleet.cli.log_options import LogFormatOpt, LogLevelOpt, setup_logging
from wasmfleet.core.errors import ConfigurationError
from wasmfleet.messaging.embedded import DEFAULT_PORT, EmbeddedBroker, run_broker


def broker(
    port: Annotated[
        int,
        typer.Option(min=0, max=65535, help="Port on 127.0.0.1 to listen on (0: any free port)."),
    ] = DEFAULT_PORT,
    log_level: LogLevelOpt = "warning",
    log_format: LogFormatOpt = "text",
) -> None:
    """Run the embedded MQTT broker (amqtt) on 127.0.0.1 until Ctrl-C.

    It listens on loopback only and lets any client in without a password: it is for a fleet
    on this machine (wasmfleet up starts one by itself). Devices on other machines need a real
    broker such as Mosquitto, with credentials and TLS. --log-level applies to amqtt's own
    lines too (info: its connection log).
    """
    setup_logging(log_level, log_format)
    logging.getLogger("amqtt").setLevel(log_level.strip().upper())  # the broker is amqtt

    def ready(running: EmbeddedBroker) -> None:
        typer.echo(f"broker listening on {running.url} (loopback only); Ctrl-C stops it")
        sys.stdout.flush()

    try:
        run_broker(port, ready)
    except ConfigurationError as err:
        typer.secho(f"error: {err.message}", fg="red", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:  # a second Ctrl-C while stopping
        pass
    typer.echo("broker stopped")
