"""The processes of a local fleet: ports, child processes, start-up waits and clean stops.

``wasmfleet up`` (cli/up.py) uses this to run an orchestrator and three supervisors as
children of one command, and the embedded MQTT broker in a thread of its own process; every
wait is bounded and every child is stopped on exit.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from wasmfleet.cli.client import ApiError, Client
from wasmfleet.cli.output import err_console, note, spinner
from wasmfleet.cli.up_auth import join_tokens
from wasmfleet.core.errors import WasmfleetError
from wasmfleet.messaging.embedded import BrokerThread
from wasmfleet.runtime.host.camera import bundled_assets
from wasmfleet.service.http_clients import tls_context

if TYPE_CHECKING:
    from wasmfleet.cli.local_ca import LocalTls

SUPERVISOR_BROKER_FLAG = "--broker"
"""The supervisor option that names the MQTT broker; passed only if the supervisor has it."""


@dataclass(frozen=True)
class DeviceSpec:
    """One simulated device of the fleet."""

    name: str
    labels: tuple[str, ...]
    camera: str
    sensors: str
    capacity: str
    cloud: bool = False
    """In the cloud: told the cloud broker when the fleet has one (``up``'s second broker)."""
    nn: bool = True
    """Offers WASI-NN (when a backend is installed); the gateway keeps its one core for capture."""
    camera_dir: str | None = None
    """The simulated camera's pictures: a folder of the bundled assets (None: the sample)."""


DEVICES = (
    DeviceSpec(
        "cam-gw", ("role=gateway", "location=campus/lab-1"), "simulated", "simulated",
        "cores=1,memory=512MiB", nn=False, camera_dir="portrait",
    ),
    DeviceSpec(
        "edge-box", ("role=edge", "location=campus/lab-1"), "none", "simulated",
        "cores=2,memory=2048MiB,accelerator=100",
    ),
    DeviceSpec(
        "cloud-vm", ("role=cloud", "location=cloud"), "none", "none",
        "cores=4,memory=8192MiB", cloud=True,
    ),
)  # fmt: skip


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when a server could listen on ``host:port`` now (SO_REUSEADDR, as uvicorn)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def pick_port(
    wanted: int, taken: Iterable[int] = (), is_free: Callable[[int], bool] = port_free
) -> int:
    """``wanted`` if free, else the next free port above it (at most 100 tried), else any."""
    used = set(taken)
    for port in range(wanted, min(wanted + 100, 65536)):
        if port not in used and is_free(port):
            return port
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in used:
            return port


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: have the kernel SIGTERM this child if ``wasmfleet up`` dies without cleaning up."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@dataclass
class Child:
    """A service started by ``up``: its command, port and log file."""

    name: str
    port: int
    command: list[str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    tls: bool = False
    """Serves HTTPS (``up --tls``)."""

    @property
    def url(self) -> str:
        """Its base URL."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def start(self, env: dict[str, str]) -> None:
        """Start it with output to its log file, in its own session (Ctrl-C goes to ``up``)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )

    def exited(self) -> int | None:
        """The exit status if it has exited, else None."""
        return None if self.proc is None else self.proc.poll()

    def tail(self, lines: int = 25) -> str:
        """The last lines of its log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log yet)"
        return "\n".join(text.rstrip().splitlines()[-lines:]) or "(the log is empty)"


INTERRUPTS = (signal.SIGINT, signal.SIGTERM)


class _Interrupt:
    """Ctrl-C or SIGTERM: one KeyboardInterrupt for the first signal, later ones are ignored."""

    received: int | None = None

    def handle(self, signum: int, frame: object) -> None:
        if self.received is None:
            self.received = signum
            raise KeyboardInterrupt


class StartFailed(Exception):
    """``up`` could not bring the fleet up; the message says what and shows the log tail."""


def child_env() -> dict[str, str]:
    """This environment without WASMFLEET_*/WASMIOT_* settings: flags configure children."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WASMFLEET_", "WASMIOT_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def tls_args(tls: LocalTls | None) -> list[str]:
    """A service's options to serve HTTPS with the local CA's certificate and trust only it."""
    if tls is None:
        return []
    return ["--tls-cert", str(tls.cert), "--tls-key", str(tls.key), "--ca-file", str(tls.ca)]


def auth_args(admin_token: Path | None) -> list[str]:
    """The orchestrator's options for auth on, its first admin's token in ``admin_token``
    (the supervisors join it with tokens of their own: cli/up_auth.py ``join_tokens``)."""
    if admin_token is None:
        return []
    return ["--auth", "on", "--admin-token-file", str(admin_token)]


def orchestrator_child(
    port: int,
    root: Path,
    log: Sequence[str] = (),
    tls: LocalTls | None = None,
    admin_token: Path | None = None,
) -> Child:
    """The orchestrator's command line (``log``: its --log-level/--log-format options;
    ``tls``: serve HTTPS with the local CA's certificate; ``admin_token``: auth on)."""
    scheme = "https" if tls else "http"
    command = [
        sys.executable, "-m", "wasmfleet", "orchestrator", "--host", "127.0.0.1",
        "--port", str(port), "--data-dir", str(root / "orchestrator"), "--no-mdns",
        "--public-url", f"{scheme}://127.0.0.1:{port}", *log, *tls_args(tls),
        *auth_args(admin_token),
    ]  # fmt: skip
    log_path = root / "logs" / "orchestrator.log"
    return Child("orchestrator", port, command, log_path, tls=tls is not None)


def supervisor_child(
    spec: DeviceSpec,
    port: int,
    root: Path,
    orchestrator: str,
    broker: str | None = None,
    log: Sequence[str] = (),
    tls: LocalTls | None = None,
    join_token: Path | None = None,
) -> Child:
    """A supervisor's command line (with ``--broker`` when given and the supervisor has it;
    ``log``: its --log-level/--log-format options; ``tls``: HTTPS with the local CA;
    ``join_token``: the file of its join token, to join the orchestrator with)."""
    command = [
        sys.executable, "-m", "wasmfleet", "supervisor", "--host", "127.0.0.1",
        "--port", str(port), "--name", spec.name, "--data-dir", str(root / spec.name),
        "--orchestrator", orchestrator, "--no-mdns", "--camera", spec.camera,
        "--sensors", spec.sensors, "--capacity", spec.capacity, *log, *tls_args(tls),
    ]  # fmt: skip
    for label in spec.labels:
        command += ["--label", label]
    if not spec.nn:
        command.append("--no-nn")
    if spec.camera_dir is not None:
        command += ["--camera-dir", str(bundled_assets() / spec.camera_dir)]
    if broker and supervisor_takes_broker():
        command += [SUPERVISOR_BROKER_FLAG, broker]
    if join_token is not None:
        command += ["--join", orchestrator, "--join-token-file", str(join_token)]
    log_path = root / "logs" / f"{spec.name}.log"
    return Child(spec.name, port, command, log_path, tls=tls is not None)


def supervisor_takes_broker() -> bool:
    """True when ``wasmfleet supervisor`` has the ``--broker`` option (read from its CLI)."""
    import typer
    import typer.main

    from wasmfleet.cli.supervisor import supervisor

    probe = typer.Typer()
    probe.command()(supervisor)
    command = typer.main.get_command(probe)
    return any(SUPERVISOR_BROKER_FLAG in getattr(p, "opts", ()) for p in command.params)


def start_broker(
    root: Path,
    wanted: int,
    timeout: float,
    role: str = "",
    taken: Iterable[int] = (),
    log_format: str = "text",
) -> BrokerThread:
    """An embedded broker on ``wanted`` or the next free loopback port, logging to
    DIR/logs/[<role>-]broker.log (as text or json); ``role`` ("cloud") names a second one."""
    what = f"the {role}'s MQTT broker" if role else "the MQTT broker"
    port = pick_port(wanted, set(taken))
    if port != wanted:
        note(f"port {wanted} is busy; {what} uses {port} instead", "yellow")
    log_name = f"{role}-broker.log" if role else "broker.log"
    broker = BrokerThread(port, log_path=root / "logs" / log_name, log_format=log_format)
    try:
        broker.start(timeout)
    except WasmfleetError as err:
        raise StartFailed(f"The embedded MQTT broker did not start: {err.message}") from None
    which = f"the {role}'s embedded MQTT broker" if role else "the embedded MQTT broker"
    note(f"started {which} on {broker.url} (loopback only)")
    return broker


def broker_answers(host: str, port: int, timeout: float = 2.0) -> str | None:
    """None when a TCP connection to the broker opens, else why not."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as err:
        return err.strerror or str(err) or type(err).__name__


def start_failed(child: Child, what: str) -> StartFailed:
    return StartFailed(f"{what}\n--- last lines of {child.log_path} ---\n{child.tail()}\n---")


def wait_orchestrator(child: Child, timeout: float) -> None:
    """Until GET /api/v1/status answers; StartFailed if it exits or the time is up."""
    deadline = time.monotonic() + timeout
    with Client(child.url, timeout=2) as api:
        while time.monotonic() < deadline:
            if child.exited() is not None:
                raise start_failed(child, f"The orchestrator exited with status {child.exited()}.")
            try:
                api.get("/api/v1/status")
                return
            except ApiError:
                time.sleep(0.2)
    raise start_failed(
        child, f"The orchestrator did not answer on {child.url} within {timeout:g} s."
    )


def _answers(url: str, verify: Any = True) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1, verify=verify).status_code == 200
    except httpx.HTTPError:
        return False


def wait_devices(
    orchestrator: str, children: list[Child], timeout: float, ca: Path | None = None
) -> list[Any]:
    """Until every supervisor answers and the orchestrator lists it active at its URL
    (``ca``: the CA their HTTPS certificates are verified against)."""
    verify: Any = tls_context(ca) if ca is not None else True
    deadline = time.monotonic() + timeout
    devices: list[Any] = []
    answering: set[str] = set()
    with Client(orchestrator, timeout=5) as api:
        while time.monotonic() < deadline:
            for child in children:
                if child.exited() is not None:
                    raise start_failed(
                        child, f"Supervisor {child.name} exited with status {child.exited()}."
                    )
                if child.name not in answering and _answers(child.url, verify):
                    answering.add(child.name)
            try:
                devices = api.get("/api/v1/devices")
            except ApiError:
                devices = []
            active = {d.get("name"): d.get("url") for d in devices if d.get("status") == "active"}
            if all(c.name in answering and active.get(c.name) == c.url for c in children):
                return devices
            time.sleep(0.25)
    listed = {d.get("name"): d.get("status") for d in devices}
    states = {
        c.name: "not answering" if c.name not in answering else listed.get(c.name, "unregistered")
        for c in children
    }
    late = [c for c in children if states[c.name] != "active"] or children
    raise start_failed(
        late[0],
        f"These devices did not become active on {orchestrator} within {timeout:g} s: "
        + ", ".join(f"{c.name} ({states[c.name]})" for c in late)
        + ".",
    )


def forget_devices(orchestrator: str, names: Iterable[str]) -> None:
    """Forget devices a previous run left in the database (they register again when up)."""
    with Client(orchestrator, timeout=5) as api:
        for name in names:
            try:
                api.delete(f"/api/v1/devices/{name}")
            except ApiError as err:
                if err.status != 404:
                    raise StartFailed(f"Could not forget the old {name}: {err.message}") from None


def stop(children: list[Child], grace: float = 10.0) -> None:
    """SIGTERM every child (supervisors first), wait up to ``grace`` s, then SIGKILL."""
    running = [c for c in reversed(children) if c.proc is not None and c.exited() is None]
    for child in running:
        assert child.proc is not None
        child.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for child in running:
        assert child.proc is not None
        try:
            child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            err_console.print(f"[yellow]{child.name} did not stop in {grace:g} s; killing it[/]")
            child.proc.kill()
            child.proc.wait(timeout=5)


def write_state(root: Path, children: list[Child]) -> None:
    """DIR/up.json: every child's name, URL, pid and log (for scripts and tests)."""
    state = {
        c.name: {"url": c.url, "pid": c.proc.pid if c.proc else None, "log": str(c.log_path)}
        for c in children
    }
    (root / "up.json").write_text(json.dumps(state, indent=2) + "\n")


def start_fleet(
    started: list[Child],
    root: Path,
    port: int,
    supervisor_port: int,
    timeout: float,
    broker: str | None = None,
    cloud_broker: str | None = None,
    log: Sequence[str] = (),
    tls: LocalTls | None = None,
    admin_token: Path | None = None,
) -> tuple[Child, list[Child]]:
    """Start the orchestrator, then the supervisors; ``started`` grows. Devices are told
    ``broker``, except the cloud's, told ``cloud_broker`` when there is one; every service
    gets the ``log`` options, and serves HTTPS with ``tls`` when given; ``admin_token``:
    the orchestrator runs with auth on, that file holding its first admin's token."""
    env = child_env()
    orch_port = pick_port(port)
    if orch_port != port:
        note(f"port {port} is busy; the orchestrator uses {orch_port} instead", "yellow")
    orch = orchestrator_child(orch_port, root, log, tls, admin_token)
    started.append(orch)
    note(f"starting the orchestrator on {orch.url}")
    orch.start(env)
    with spinner(f"waiting for the orchestrator on {orch.url}..."):
        wait_orchestrator(orch, timeout)
    forget_devices(orch.url, (spec.name for spec in DEVICES))
    joins = join_tokens(orch.url, root, [s.name for s in DEVICES]) if admin_token else {}
    taken = {orch_port}
    supervisors = []
    for i, spec in enumerate(DEVICES):
        wanted = supervisor_port + i
        sup_port = pick_port(wanted, taken)
        taken.add(sup_port)
        if sup_port != wanted:
            note(f"port {wanted} is busy; {spec.name} uses {sup_port} instead", "yellow")
        own = cloud_broker if spec.cloud and cloud_broker else broker
        child = supervisor_child(
            spec, sup_port, root, orch.url, own, log, tls, join_token=joins.get(spec.name)
        )
        started.append(child)
        supervisors.append(child)
        note(f"starting supervisor {spec.name} on {child.url} ({', '.join(spec.labels)})")
        child.start(env)
    write_state(root, started)
    with spinner("waiting for the three devices to register and turn active..."):
        wait_devices(orch.url, supervisors, timeout, tls.ca if tls else None)
    note(f"fleet ready: {', '.join(c.name for c in supervisors)} are active", "green")
    return orch, supervisors
