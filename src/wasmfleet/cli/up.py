"""``wasmfleet up``: a whole fleet on this machine, no Docker — the newcomer's first command.

It starts the embedded MQTT broker on a free loopback port (unless ``--broker`` names one),
an orchestrator and three supervisors as child processes on 127.0.0.1 (a camera gateway, an
edge box and a cloud VM, told apart by labels, host interfaces and declared capacity; each
told the broker), waits until the orchestrator lists them active, pushes the example
modules, deploys a pipeline that crosses devices plus one placed by resources, runs each
once, registers two labs with their sensors and controllers and installs an app there on a
one-minute schedule (cli/up_apps.py), prints what to try next, and stops everything cleanly
on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from wasmfleet.cli.client import ApiError, Client
from wasmfleet.cli.demo import find_modules_dir
from wasmfleet.cli.deployment_views import print_deployment, print_execution, print_failure
from wasmfleet.cli.deployments import apply_manifest, execute
from wasmfleet.cli.local_fleet import (
    INTERRUPTS,
    Child,
    StartFailed,
    _Interrupt,
    broker_answers,
    start_broker,
    start_failed,
    start_fleet,
    stop,
)
from wasmfleet.cli.log_options import LogFormatOpt, LogLevelOpt, log_args, setup_logging
from wasmfleet.cli.modules import push_folder
from wasmfleet.cli.output import note, spinner
from wasmfleet.cli.up_apps import set_up_places
from wasmfleet.cli.up_auth import admin_token, use_here, write_context
from wasmfleet.cli.up_hints import what_next
from wasmfleet.cli.up_streams import CLOUD_ENV, run_camera, start_sink
from wasmfleet.core.broker_url import BrokerAddress, parse_broker_url
from wasmfleet.core.errors import ConfigurationError
from wasmfleet.messaging.embedded import BrokerThread

if TYPE_CHECKING:
    from wasmfleet.cli.local_ca import LocalTls

ENV_SUPERVISOR_PORT = "WASMFLEET_UP_SUPERVISOR_PORT"


PIPELINES: tuple[tuple[str, dict[str, str] | None], ...] = (
    ("camera-pipeline.yaml", {}),
    ("fibo-cloud.yaml", {"iterations": "20"}),
    ("tally.yaml", {"iterations": "10"}),
    ("uplink.yaml", None),  # the bridge from the lab's broker to the cloud's (two brokers only)
    ("thermo-alerts.yaml", None),  # runs for every MQTT reading: deployed, not executed
    ("camera-uplink.yaml", None),  # runs for every camera frame
    ("face-pipeline.yaml", {}),  # cam-gw's picture, faces found where WASI-NN is
    ("everywhere.yaml", {"iterations": "10"}),  # replicas: all, one copy per device
)


def run_pipelines(
    url: str, folder: Path, examples: Path, uplink: bool = True
) -> dict[str, dict[str, Any]]:
    """Push the example modules, deploy the demo pipelines, run each once; print it all.
    ``uplink``: deploy the bridge between the lab's and the cloud's brokers (two brokers)."""
    deployed: dict[str, dict[str, Any]] = {}
    with Client(url, timeout=60) as api:
        try:
            with spinner(f"pushing the modules of {folder}..."):
                pushed = push_folder(api, folder)
        except ApiError as err:
            typer.secho(f"error: pushing the modules failed: {err.message}", fg="red", err=True)
            return deployed
        note(f"pushed {len(pushed)} modules: {', '.join(m.get('name', '?') for m in pushed)}")
        for file, args in PIPELINES:
            if file == "uplink.yaml" and not uplink:
                continue
            note("")
            try:
                with spinner(f"deploying {file}..."):
                    deployment = apply_manifest(api, examples / file)
                print_deployment(deployment)
                name = str(deployment.get("name"))
                deployed[name] = deployment
                if args is None:
                    note(f"{name} {_runs_how(deployment)}")
                    continue
                shown = " ".join(f"{k}={v}" for k, v in args.items())
                note(f"wasmfleet exec {name} {shown}".rstrip(), "bold")
                with spinner(f"running {name}..."):
                    print_execution(execute(api, name, dict(args), {}))
            except ApiError as err:
                print_failure(err)
                typer.secho(f"error: {file}: {err.message}", fg="red", err=True)
    return deployed


def _runs_how(deployment: dict[str, Any]) -> str:
    """How a deployment that is not executed runs: per message, or as a bridge."""
    steps = (deployment.get("plan") or {}).get("steps") or []
    routes = [s["bridge"] for s in steps if isinstance(s, dict) and s.get("bridge")]
    if routes and len(routes) == len(steps):
        topics = ", ".join(t for r in routes for t in r.get("topics") or [])
        return f"forwards {topics} to {routes[0].get('to')} (store and forward)"
    return "runs for every message on its trigger topic (see below)"


def up(
    port: Annotated[
        int, typer.Option(help="Orchestrator port (the next free one if busy).")
    ] = 3000,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Keep everything here (default: a temporary folder removed on exit)."),
    ] = None,
    keep_data: Annotated[
        bool, typer.Option("--keep-data", help="Keep the temporary folder on exit.")
    ] = False,
    no_pipeline: Annotated[
        bool,
        typer.Option("--no-pipeline", help="Only start the fleet: no modules, no deployments."),
    ] = False,
    timeout: Annotated[
        float, typer.Option(help="Seconds each service may take to come up.")
    ] = 60.0,
    supervisor_port: Annotated[
        int, typer.Option(envvar=ENV_SUPERVISOR_PORT, hidden=True, help="First supervisor port.")
    ] = 5001,
    modules: Annotated[
        Path | None, typer.Option(help="The example modules folder (default: the checkout's).")
    ] = None,
    broker: Annotated[
        str | None,
        typer.Option(
            help="An MQTT broker for the fleet, mqtt://host:1883 or mqtts://... "
            "(default: start the embedded one on 127.0.0.1)."
        ),
    ] = None,
    broker_port: Annotated[
        int, typer.Option(help="Port of the embedded broker (the next free one if busy).")
    ] = 1883,
    cloud_broker: Annotated[
        str | None,
        typer.Option(
            help="The cloud device's own MQTT broker (default: a second embedded one, "
            "unless --broker is given: then the whole fleet shares that one)."
        ),
    ] = None,
    cloud_broker_port: Annotated[
        int, typer.Option(help="Port of the cloud's embedded broker (the next free one if busy).")
    ] = 1884,
    tls: Annotated[
        bool,
        typer.Option(
            "--tls",
            help="Serve every service over HTTPS with a throwaway CA made for this run "
            "(DIR/tls/ca.pem; docs/tls.md).",
        ),
    ] = False,
    log_level: LogLevelOpt = "info",
    log_format: LogFormatOpt = "text",
) -> None:
    """Start an orchestrator and three supervisors here, deploy a demo pipeline, show what to try.

    No Docker: every service is a child process on 127.0.0.1 with its log in DIR/logs/.
    Two embedded MQTT brokers run inside this command: the lab's (cam-gw, edge-box) and the
    cloud's (cloud-vm), joined by a bridge deployed as a step; --broker URL gives the lab's
    (and, without --cloud-broker, the whole fleet's). --log-level and --log-format apply
    to every service's log file. --tls serves HTTPS everywhere, on a CA made for this run.
    Auth is on: the first admin's token is DIR/admin.token, and the CLI context "up" (made
    current) points at this fleet. Ctrl-C (or SIGTERM) stops them all.
    """
    setup_logging(log_level, log_format)
    log = log_args(log_level, log_format)
    given = _given_broker(broker)
    given_cloud = _given_broker(cloud_broker)
    folder = modules or find_modules_dir()
    if not no_pipeline and (folder is None or not folder.is_dir()):
        typer.secho(
            "error: the example modules were not found; run this from a wasmfleet checkout "
            "or pass --modules PATH/TO/modules (or --no-pipeline)",
            fg="red",
            err=True,
        )
        raise typer.Exit(2)
    temporary = data_dir is None
    root = Path(tempfile.mkdtemp(prefix="wasmfleet-up-")) if data_dir is None else data_dir
    root.mkdir(parents=True, exist_ok=True)
    root = root.resolve()
    note(f"wasmfleet up: data and logs in {root}")
    interrupt = _Interrupt()
    previous = {sig: signal.signal(sig, interrupt.handle) for sig in INTERRUPTS}
    status, failed = 0, False
    started: list[Child] = []
    brokers: list[BrokerThread] = []
    try:
        if given is None:
            brokers.append(start_broker(root, broker_port, timeout, log_format=log_format))
            broker_url = shown_url = brokers[0].url
        else:
            broker_url, shown_url = str(broker), given.url
            _check_broker(given)
        if given_cloud is not None:
            cloud_url, cloud_shown = str(cloud_broker), given_cloud.url
            _check_broker(given_cloud)
        elif given is None:
            taken = [brokers[0].port]
            brokers.append(
                start_broker(root, cloud_broker_port, timeout, "cloud", taken, log_format)
            )
            cloud_url = cloud_shown = brokers[1].url
        else:
            cloud_url, cloud_shown = broker_url, shown_url  # one broker for the whole fleet
        two = cloud_shown != shown_url
        local_tls = _local_tls(root) if tls else None
        token_file = admin_token(root)
        use_here(token_file)
        orch, supervisors = start_fleet(
            started, root, port, supervisor_port, timeout, broker=broker_url,
            cloud_broker=cloud_url, log=log, tls=local_tls, admin_token=token_file,
        )  # fmt: skip
        write_context(orch.url, token_file, local_tls.ca if local_tls else None)
        deployed: dict[str, dict[str, Any]] = {}
        installed: dict[str, Any] | None = None
        examples = folder.parent / "examples" if folder is not None else None
        if not no_pipeline and folder is not None and examples is not None:
            os.environ[CLOUD_ENV] = cloud_url  # examples/uplink.yaml: ${WASMFLEET_CLOUD_BROKER}
            deployed = run_pipelines(orch.url, folder, examples, uplink=two)
            if "camera-uplink" in deployed:
                note("")
                start_sink(root, cloud_url, started, log)
                run_camera(root, broker_url)
            note("")
            installed = set_up_places(
                orch.url, root, examples, broker_url, started, token_file,
                local_tls.ca if local_tls else None, log,
            )  # fmt: skip
        what_next(
            orch.url, supervisors, deployed, examples, broker=shown_url,
            cloud_broker=cloud_shown if two else None, objects=root / "objects",
            ca_file=local_tls.ca if local_tls else None, token_file=token_file,
            installed=installed,
        )  # fmt: skip
        sys.stdout.flush()
        _watch(orch, supervisors)
    except KeyboardInterrupt:
        note("\nstopping...")
    except StartFailed as err:
        typer.secho(f"error: {err}", fg="red", err=True)
        status, failed = 1, True
    finally:
        interrupt.received = interrupt.received or -1  # later signals: ignored while stopping
        try:
            stop(started)
            for embedded in reversed(brokers):
                embedded.stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    _cleanup(root, temporary and not keep_data and not failed)
    raise typer.Exit(status)


def _local_tls(root: Path) -> LocalTls:
    """A CA and a loopback certificate for this run in DIR/tls; this command's clients
    trust that CA from now on (the services are told it by flags)."""
    from wasmfleet.cli import client
    from wasmfleet.cli.local_ca import make_local_tls

    files = make_local_tls(root / "tls")
    client.ca_file_flag = files.ca
    note(f"made a CA for this run: {files.ca} (every service serves HTTPS)")
    return files


def _given_broker(url: str | None) -> BrokerAddress | None:
    """The ``--broker`` the user gave, parsed (exit 2 with a sentence if unusable)."""
    if url is None:
        return None
    try:
        return parse_broker_url(url)
    except ConfigurationError as err:
        typer.secho(f"error: {err.message}", fg="red", err=True)
        raise typer.Exit(2) from None


def _check_broker(address: BrokerAddress) -> None:
    """Say which broker the fleet uses; warn (only) when it does not answer now."""
    problem = broker_answers(address.host, address.port)
    if problem is None:
        note(f"using the MQTT broker {address.url}")
    else:
        typer.secho(
            f"warning: the MQTT broker {address.url} does not answer ({problem}); "
            "the fleet starts anyway and its devices will retry",
            fg="yellow",
            err=True,
        )


def _watch(orch: Child, supervisors: list[Child]) -> None:
    """Sleep until interrupted; report a child that dies (StartFailed if it is the orchestrator)."""
    reported: set[str] = set()
    while True:
        time.sleep(0.5)
        if orch.exited() is not None:
            raise start_failed(orch, f"The orchestrator exited with status {orch.exited()}.")
        for child in supervisors:
            if child.exited() is not None and child.name not in reported:
                reported.add(child.name)
                typer.secho(
                    f"warning: supervisor {child.name} exited with status {child.exited()}; "
                    f"its log: {child.log_path}",
                    fg="yellow",
                    err=True,
                )


def _cleanup(root: Path, remove_data: bool) -> None:
    """Remove the services' data (not the logs) from a temporary folder; say where logs are."""
    if remove_data:
        for entry in root.iterdir():
            if entry.is_dir() and entry.name != "logs":
                shutil.rmtree(entry, ignore_errors=True)
            elif entry.is_file():
                entry.unlink()
        note(f"stopped; data removed, logs kept in {root / 'logs'}")
    else:
        note(f"stopped; data kept in {root}, logs in {root / 'logs'}")
