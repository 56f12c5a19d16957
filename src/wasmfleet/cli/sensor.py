"""``wasmfleet sensor``: simulated sensors that publish readings, controllers that log commands;
register|ls|show|rm of registered sensors come from cli/things.py."""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from wasmfleet.cli.log_options import LogFormatOpt, LogLevelOpt, say, setup_logging
from wasmfleet.core.broker_url import BrokerAddress, parse_broker_url
from wasmfleet.core.errors import ConfigurationError, InvalidDocument, Unavailable
from wasmfleet.core.topics import check_filter, check_topic

app = typer.Typer(
    help="Sensors registered at locations (register, ls, show, rm), and simulated sensors and "
    "controllers on MQTT: feed a stream, watch its commands.",
    no_args_is_help=True,
)

ENV_BROKER = "WASMFLEET_BROKER"


class Kind(enum.StrEnum):
    """What a simulated sensor measures."""

    temperature = "temperature"
    camera = "camera"


BrokerOpt = Annotated[
    str,
    typer.Option(
        envvar=ENV_BROKER,
        help="The broker: mqtt://[user[:password]@]host[:port] or mqtts://... for TLS.",
    ),
]
QosOpt = Annotated[int, typer.Option(min=0, max=2, help="MQTT quality of service: 0, 1 or 2.")]
DurationOpt = Annotated[
    float | None,
    typer.Option(min=0.0, help="Stop after this many seconds (default: run until Ctrl-C)."),
]
RegisterOpt = Annotated[
    str | None,
    typer.Option(
        "--register",
        metavar="NAME",
        help="Register it under NAME at --location first (replacing an earlier registration).",
    ),
]
TypeOpt = Annotated[
    str | None, typer.Option("--type", help="Its registered type (with --register).")
]
LocationOpt = Annotated[
    str | None, typer.Option(help="Where it is registered, e.g. campus/lab-1 (with --register).")
]
OrchestratorOpt = Annotated[
    str | None,
    typer.Option(help="The orchestrator to register with (default: the client's settings)."),
]


def _fail(message: str, code: int) -> NoReturn:
    typer.secho(f"error: {message}", fg="red", err=True)
    raise typer.Exit(code)


def _broker(url: str) -> BrokerAddress:
    try:
        return parse_broker_url(url)
    except ConfigurationError as err:
        _fail(err.message, 2)


@app.command()
def simulate(
    kind: Annotated[Kind, typer.Option(help="temperature: JSON readings; camera: JPEG frames.")],
    topic: Annotated[
        str, typer.Option(help="Topic to publish to, e.g. site/lab/temperature (no wildcards).")
    ],
    rate: Annotated[
        str, typer.Option(help="Messages per second or minute: 5/s, 0.5/s, 120/min.")
    ] = "1/s",
    count: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many messages (default: no limit).")
    ] = None,
    duration: DurationOpt = None,
    broker: BrokerOpt = "mqtt://127.0.0.1:1883",
    qos: QosOpt = 1,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the temperature readings (same seed, same values).")
    ] = None,
    sensor_id: Annotated[
        str | None,
        typer.Option(help="The reading's \"sensor\" field (default: the topic's second level)."),
    ] = None,
    base: Annotated[
        float, typer.Option(help="Temperature the readings drift around, in °C.")
    ] = 21.0,
    spike_probability: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Chance that a reading is a 3-8 °C spike.")
    ] = 0.01,
    camera_dir: Annotated[
        Path | None,
        typer.Option(
            help="JPEG folder for camera frames, served in name order (default: the bundled "
            "scene, a figure walking through a room)."
        ),
    ] = None,
    register: RegisterOpt = None,
    type_name: TypeOpt = None,
    location: LocationOpt = None,
    orchestrator: OrchestratorOpt = None,
    log_level: LogLevelOpt = "info",
    log_format: LogFormatOpt = "text",
) -> None:
    """Publish simulated sensor readings at a steady rate, then print what was sent.

    temperature: JSON readings drifting slowly around --base, with noise and
    rare spikes: {"sensor": "lab", "seq": 1, "ts": 1718000000.1, "celsius": 21.3}
    camera: JPEG frames of a folder (--camera-dir; default: the bundled scene).

    The last line says how many messages were sent and acknowledged, and the
    rate achieved. Exit status 1 if the broker cannot be reached or did not
    acknowledge every message.

    With --register NAME --location PATH the sensor is first registered with
    the orchestrator (type: --type, else the kind; reached on --topic).

    Example: wasmfleet sensor simulate --kind temperature
    --topic site/lab/temperature --rate 5/s --broker mqtt://127.0.0.1:1883
    """
    from wasmfleet.messaging.simulate import (
        CameraSource,
        Source,
        TemperatureReadings,
        TemperatureSource,
        format_rate,
        parse_rate,
        publish_stream,
    )

    setup_logging(log_level, log_format)
    address = _broker(broker)
    try:
        per_second = parse_rate(rate)
        check_topic(topic, "--topic")
        source: Source
        if kind is Kind.camera:
            source = CameraSource(camera_dir)
        else:
            readings = TemperatureReadings(
                sensor_id or _sensor_name(topic),
                seed=seed,
                interval=1.0 / per_second,
                base=base,
                spike_probability=spike_probability,
            )
            source = TemperatureSource(readings)
    except (ConfigurationError, InvalidDocument) as err:
        _fail(err.message, 2)
    if register is not None:
        from wasmfleet.cli.things import SIMULATED_OUTPUTS, register_simulated

        where = _registration(register, location)
        outputs = SIMULATED_OUTPUTS[kind.value]
        register_simulated(
            "sensor", register, type_name or kind.value, where, topic, outputs, orchestrator
        )
    limit = f"{count} message{'s' if count != 1 else ''}" if count else "until Ctrl-C"
    if duration is not None:
        limit = f"{limit}, at most {duration:g} s" if count else f"for {duration:g} s"

    def ready() -> None:
        say(
            f"publishing {kind.value} to {topic} on {address.url} at "
            f"{format_rate(per_second)}, qos {qos} ({limit})"
        )

    try:
        summary = publish_stream(
            address,
            topic,
            source,
            rate=per_second,
            count=count,
            duration=duration,
            qos=qos,
            on_ready=ready,
        )
    except Unavailable as err:
        _fail(err.message, 1)
    typer.echo(summary.line())
    if summary.sent and summary.acked < summary.sent and qos:
        raise typer.Exit(1)


def _registration(name: str, location: str | None) -> str:
    """The location to register at; exit 2 when --register comes without one."""
    if not location:
        _fail(f"--register {name} needs --location, e.g. --location campus/lab-1.", 2)
    return location


def _sensor_name(topic: str) -> str:
    """site/lab/temperature → 'lab'; one-level topics name themselves."""
    levels = [level for level in topic.split("/") if level]
    return levels[1] if len(levels) >= 3 else (levels[0] if levels else "sim")


@app.command()
def controller(
    topic: Annotated[
        str,
        typer.Option(help="Topic filter of the commands, e.g. 'site/+/commands' or 'site/#'."),
    ] = "site/+/commands",
    count: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many commands (default: no limit).")
    ] = None,
    duration: DurationOpt = None,
    broker: BrokerOpt = "mqtt://127.0.0.1:1883",
    qos: QosOpt = 1,
    register: RegisterOpt = None,
    type_name: TypeOpt = None,
    location: LocationOpt = None,
    inputs: Annotated[
        list[str] | None,
        typer.Option(
            "--input",
            help="A command field it accepts, FIELD=TYPE ('speed=int 0..3'; with --register).",
        ),
    ] = None,
    orchestrator: OrchestratorOpt = None,
    log_level: LogLevelOpt = "info",
    log_format: LogFormatOpt = "text",
) -> None:
    """Act as a controller (a fan, a display): log each command it receives.

    One line per command on stdout: its topic, a space, its payload (text as
    is, binary payloads as their size). Runs until Ctrl-C, --count or
    --duration; the number of commands received goes to stderr at the end.

    With --register NAME --type fan --location PATH --input 'speed=int 0..3'
    it is first registered with the orchestrator, reached on --topic (which
    must then be one topic, no wildcards).

    Example: wasmfleet sensor controller --topic 'site/+/commands'
    --broker mqtt://127.0.0.1:1883
    """
    from wasmfleet.messaging.simulate import describe_payload, receive_commands

    setup_logging(log_level, log_format)
    address = _broker(broker)
    try:
        check_filter(topic, "--topic")
    except InvalidDocument as err:
        _fail(err.message, 2)
    if register is not None:
        from wasmfleet.cli.things import parse_fields, register_simulated

        where = _registration(register, location)
        if not type_name:
            _fail(f"--register {register} needs --type, e.g. --type fan.", 2)
        if "+" in topic.split("/") or "#" in topic.split("/"):
            _fail(
                f"--register needs one command topic, and --topic {topic!r} has a wildcard; "
                "give the topic this controller is reached on, e.g. --topic site/lab-1/fan.",
                2,
            )
        fields = parse_fields(inputs or [], "--input")
        register_simulated("controller", register, type_name, where, topic, fields, orchestrator)

    def ready() -> None:
        say(f"controller listening on {topic} at {address.url}; Ctrl-C stops it")

    def show(name: str, payload: bytes) -> None:
        typer.echo(f"{name} {describe_payload(payload)}")
        sys.stdout.flush()

    try:
        received = receive_commands(
            address, topic, show, qos=qos, count=count, duration=duration, on_ready=ready
        )
    except Unavailable as err:
        _fail(err.message, 1)
    say(f"received {received} command{'s' if received != 1 else ''}")


from wasmfleet.cli.things import add_thing_commands  # noqa: E402 - after the simulators

add_thing_commands(app, "sensor")
