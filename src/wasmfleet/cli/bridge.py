"""``wasmfleet bridge`` and ``wasmfleet sink``: move MQTT streams from edge to cloud, durably."""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from wasmfleet.cli.log_options import LogFormatOpt, LogLevelOpt, setup_logging
from wasmfleet.core.broker_url import parse_broker_url
from wasmfleet.core.errors import ConfigurationError, InvalidDocument
from wasmfleet.core.topics import check_filter

if TYPE_CHECKING:
    from wasmfleet.messaging.bridge import BridgeSettings

Opt = typer.Option
PROTOCOLS = {"3.1.1": 4, "311": 4, "4": 4, "5": 5}

TopicsOpt = Annotated[
    list[str],
    Opt("--topic", "-t", help="Topic filter to carry, e.g. 'faces/#' (repeat for more)."),
]
ProtocolHelp = "MQTT version to speak: 3.1.1 or 5."
KeepaliveOpt = Annotated[
    int,
    Opt(
        min=1,
        max=65535,
        help="Seconds between keepalive pings; a dead link is noticed within about twice that.",
    ),
]
StatusOpt = Annotated[
    float, Opt(min=0.0, help="Seconds between status lines on stderr (0: only connection events).")
]


def default_outbox() -> Path:
    """``$XDG_DATA_HOME/wasmfleet/bridge/outbox.sqlite`` (``~/.local/share`` by default)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "wasmfleet" / "bridge" / "outbox.sqlite"


def bridge(
    source: Annotated[
        str,
        Opt(
            "--from",
            envvar="WASMFLEET_BRIDGE_FROM",
            help="Source (edge) broker: mqtt://user:pass@host:port or mqtts://...",
        ),
    ],
    destination: Annotated[
        str,
        Opt(
            "--to",
            envvar="WASMFLEET_BRIDGE_TO",
            help="Destination (cloud) broker, same form as --from.",
        ),
    ],
    topic: TopicsOpt,
    outbox: Annotated[
        Path | None,
        Opt(
            help="The outbox file (SQLite) "
            "(default: ~/.local/share/wasmfleet/bridge/outbox.sqlite)."
        ),
    ] = None,
    no_outbox: Annotated[
        bool,
        Opt(
            "--no-outbox",
            help="Best effort: forward from memory on a clean session; a crash or an outage "
            "loses messages.",
        ),
    ] = False,
    qos: Annotated[int, Opt(min=0, max=1, help="QoS on both sides: 1 (with the outbox) or 0.")] = 1,
    client_id: Annotated[
        str | None,
        Opt(
            help="Client id on both brokers ('-out' is added on the destination) "
            "(default: derived from host and outbox, stable across restarts)."
        ),
    ] = None,
    from_username: Annotated[str | None, Opt(help="User name on the source broker.")] = None,
    from_password: Annotated[
        str | None,
        Opt(envvar="WASMFLEET_BRIDGE_FROM_PASSWORD", help="Password on the source broker."),
    ] = None,
    from_ca_file: Annotated[
        str | None, Opt(help="CA bundle to verify the source broker (mqtts://).")
    ] = None,
    from_cert_file: Annotated[
        str | None, Opt(help="TLS client certificate for the source broker.")
    ] = None,
    from_key_file: Annotated[str | None, Opt(help="Key of --from-cert-file.")] = None,
    from_insecure: Annotated[
        bool, Opt(help="Do not verify the source broker's certificate.")
    ] = False,
    from_protocol: Annotated[str, Opt(help=ProtocolHelp)] = "3.1.1",
    to_username: Annotated[str | None, Opt(help="User name on the destination broker.")] = None,
    to_password: Annotated[
        str | None,
        Opt(envvar="WASMFLEET_BRIDGE_TO_PASSWORD", help="Password on the destination broker."),
    ] = None,
    to_ca_file: Annotated[
        str | None, Opt(help="CA bundle to verify the destination broker (mqtts://).")
    ] = None,
    to_cert_file: Annotated[
        str | None, Opt(help="TLS client certificate for the destination broker.")
    ] = None,
    to_key_file: Annotated[str | None, Opt(help="Key of --to-cert-file.")] = None,
    to_insecure: Annotated[
        bool, Opt(help="Do not verify the destination broker's certificate.")
    ] = False,
    to_protocol: Annotated[
        str, Opt(help=ProtocolHelp + " 5 carries ids as a user property, 3.1.1 in an envelope.")
    ] = "3.1.1",
    window: Annotated[
        int, Opt(min=1, max=65535, help="Messages in flight to the destination at once.")
    ] = 32,
    keepalive: KeepaliveOpt = 30,
    status_interval: StatusOpt = 10.0,
    log_level: LogLevelOpt = "info",
    log_format: LogFormatOpt = "text",
) -> None:
    """Forward topics from an edge broker to a cloud broker, surviving crashes and outages.

    Each message is committed to a local outbox (SQLite, fsynced) before the edge
    broker gets its acknowledgement, and leaves the outbox only once the cloud
    broker has acknowledged it. The edge session is persistent (a stable
    --client-id), so what is published while the bridge is down waits at the edge.
    After a crash, a cloud outage or a network cut every message is delivered, in
    order per topic, with the same id each time (sinks store it once). Status and
    progress go to stderr. Example:

        wasmfleet bridge --from mqtt://edge:1883 --to mqtts://cloud:8883 -t 'faces/#'
    """
    from wasmfleet.messaging.bridge import BridgeSettings, default_client_id, run_bridge

    setup_logging(log_level, log_format)
    try:
        if no_outbox and outbox is not None:
            raise ConfigurationError("--outbox and --no-outbox exclude each other; choose one.")
        if qos == 0 and not no_outbox:
            raise ConfigurationError(
                "--qos 0 cannot keep the outbox's promise (nothing is acknowledged); "
                "add --no-outbox for best-effort forwarding, or keep --qos 1."
            )
        src = parse_broker_url(
            source,
            username=from_username,
            password=from_password,
            ca_file=from_ca_file,
            cert_file=from_cert_file,
            key_file=from_key_file,
            insecure=from_insecure,
            what="--from",
        )
        dst = parse_broker_url(
            destination,
            username=to_username,
            password=to_password,
            ca_file=to_ca_file,
            cert_file=to_cert_file,
            key_file=to_key_file,
            insecure=to_insecure,
            what="--to",
        )
        if (src.host, src.port) == (dst.host, dst.port):
            raise ConfigurationError(
                f"--from and --to are the same broker ({src.url}); the bridge would feed "
                "its own subscription."
            )
        path = None if no_outbox else (outbox or default_outbox()).expanduser()
        settings = BridgeSettings(
            source=src,
            destination=dst,
            topics=_topics(topic),
            client_id=client_id or default_client_id(path),
            outbox=path,
            qos=qos,
            source_protocol=_protocol(from_protocol, "--from-protocol"),
            destination_protocol=_protocol(to_protocol, "--to-protocol"),
            keepalive=keepalive,
            window=window,
            status_interval=status_interval,
        )
        _describe_bridge(settings)
        run_bridge(settings, _stop_on_signals())
    except ConfigurationError as err:
        _fail(err.message)


def sink(
    broker: Annotated[
        str,
        Opt(
            envvar="WASMFLEET_BROKER",
            help="Broker to read from: mqtt://user:pass@host:port or mqtts://...",
        ),
    ],
    topic: TopicsOpt,
    directory: Annotated[
        Path | None, Opt("--dir", help="Write each message to DIR/<topic>/<id>.")
    ] = None,
    s3_bucket: Annotated[str | None, Opt(help="Also (or only) write to this S3 bucket.")] = None,
    s3_endpoint: Annotated[
        str | None, Opt(help="S3-compatible endpoint URL (MinIO, Ceph, ...) (default: AWS).")
    ] = None,
    s3_prefix: Annotated[str, Opt(help="Prefix of every object key in the bucket.")] = "",
    s3_region: Annotated[str | None, Opt(help="Bucket region (default: from AWS_REGION).")] = None,
    client_id: Annotated[
        str | None,
        Opt(help="Client id (default: derived from host and stores, stable across restarts)."),
    ] = None,
    username: Annotated[str | None, Opt(help="User name on the broker.")] = None,
    password: Annotated[
        str | None, Opt(envvar="WASMFLEET_SINK_PASSWORD", help="Password on the broker.")
    ] = None,
    ca_file: Annotated[str | None, Opt(help="CA bundle to verify the broker (mqtts://).")] = None,
    cert_file: Annotated[str | None, Opt(help="TLS client certificate.")] = None,
    key_file: Annotated[str | None, Opt(help="Key of --cert-file.")] = None,
    insecure: Annotated[bool, Opt(help="Do not verify the broker's certificate.")] = False,
    protocol: Annotated[str, Opt(help=ProtocolHelp)] = "3.1.1",
    keepalive: KeepaliveOpt = 30,
    status_interval: StatusOpt = 10.0,
    log_level: LogLevelOpt = "info",
    log_format: LogFormatOpt = "text",
) -> None:
    """Store every message of some topics as an object, once per message id.

    Each message goes to DIR/<topic>/<id> (temporary file, fsync, rename) and/or
    to the S3 bucket under the same key, and only then is acknowledged, on a
    persistent QoS 1 session: nothing is lost while the sink is down. The id is
    the one the bridge gave the message (sha256-<hex> of the payload when it has
    none), so a message received twice is one object. Objects hold the payload
    as published (the envelope removed). S3 needs boto3 (the s3 extra) and takes
    credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or a profile.
    Example:

        wasmfleet sink --broker mqtt://cloud:1883 -t 'faces/#' --dir ./objects
    """
    from wasmfleet.messaging.sink import S3Target, SinkSettings, default_client_id, run_sink

    setup_logging(log_level, log_format)
    try:
        if directory is None and s3_bucket is None:
            raise ConfigurationError(
                "A sink needs somewhere to write: give --dir and/or --s3-bucket."
            )
        address = parse_broker_url(
            broker,
            username=username,
            password=password,
            ca_file=ca_file,
            cert_file=cert_file,
            key_file=key_file,
            insecure=insecure,
        )
        s3 = None
        if s3_bucket is not None:
            s3 = S3Target(s3_bucket, endpoint=s3_endpoint, prefix=s3_prefix, region=s3_region)
        elif s3_endpoint or s3_prefix or s3_region:
            raise ConfigurationError("--s3-endpoint, --s3-prefix and --s3-region need --s3-bucket.")
        settings = SinkSettings(
            broker=address,
            topics=_topics(topic),
            client_id=client_id or default_client_id(directory, s3),
            directory=directory,
            s3=s3,
            protocol=_protocol(protocol, "--protocol"),
            keepalive=keepalive,
            status_interval=status_interval,
        )
        where = [f"directory {directory}"] if directory else []
        where += [f"s3://{s3.bucket}/{s3.prefix}"] if s3 else []
        logging.getLogger("wasmfleet.sink").info(
            "sink %s -> %s as client %s", address.url, " and ".join(where), settings.client_id
        )
        run_sink(settings, _stop_on_signals())
    except ConfigurationError as err:
        _fail(err.message)


def _describe_bridge(settings: BridgeSettings) -> None:
    mode = f"outbox {settings.outbox}" if settings.outbox else "no outbox (best effort)"
    logging.getLogger("wasmfleet.bridge").info(
        "bridge %s -> %s, topics %s, QoS %d, %s, client id %s",
        settings.source.url,
        settings.destination.url,
        ", ".join(settings.topics),
        settings.qos,
        mode,
        settings.client_id,
    )


def _topics(filters: list[str]) -> tuple[str, ...]:
    if not filters:
        raise ConfigurationError("Give at least one --topic filter, e.g. --topic 'faces/#'.")
    try:
        return tuple(dict.fromkeys(check_filter(f, where="--topic") for f in filters))
    except InvalidDocument as err:
        raise ConfigurationError(err.message) from None


def _protocol(text: str, what: str) -> int:
    if text.strip().lower() not in PROTOCOLS:
        raise ConfigurationError(f"{what} {text!r} is not an MQTT version; use 3.1.1 or 5.")
    return PROTOCOLS[text.strip().lower()]


def _stop_on_signals() -> threading.Event:
    """An event set by SIGINT or SIGTERM; a second signal exits at once (status 130)."""
    stop = threading.Event()

    def handler(*_: object) -> None:
        if stop.is_set():
            os._exit(130)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)
    return stop


def _fail(message: str) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)
