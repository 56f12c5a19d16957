"""``wasmfleet demo``: a supervisor with the example modules deployed, and what to try.

It serves ``modules/`` over HTTP (as the wasmiot README does with ``python3 -m http.server``),
starts a supervisor on loopback, deploys every example module through the real
``POST /deploy`` — fibo exactly as the wasmiot README does, as deployment ``0`` — checks
one call, and prints curl commands for every function.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from wasmfleet.supervisor.settings import SupervisorSettings, default_data_dir

DEMO_MODULES = ("counter", "stamp", "camera", "sensors", "faults")


def find_modules_dir() -> Path | None:
    """modules/ of the source checkout this package runs from, if any."""
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "modules"
        if (candidate / "fibo" / "fibo.wasm").is_file():
            return candidate
    return None


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _pick_port(wanted: int, what: str) -> int:
    if _port_free(wanted):
        return wanted
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    typer.secho(f"port {wanted} is busy; the {what} uses {port} instead", fg="yellow", err=True)
    return port


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _serve_files(directory: Path, port: int) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), partial(_Quiet, directory=str(directory)))
    threading.Thread(target=server.serve_forever, name="demo-files", daemon=True).start()
    return server


def _description(modules: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((modules / name / "description.json").read_text())
    return data


def _module_entry(files: str, name: str, alias: str, other: list[str]) -> dict[str, Any]:
    return {
        "id": alias,
        "name": alias,
        "urls": {
            "binary": f"{files}/{name}/{name}.wasm",
            "description": f"{files}/{name}/description.json",
            "other": [f"{files}/{name}/{o}" for o in other],
        },
    }


def _instructions(description: dict[str, Any]) -> dict[str, Any]:
    """README-shape instructions for every function of a description."""
    functions: dict[str, Any] = {}
    for path, item in description["paths"].items():
        ops = {k: v for k, v in item.items() if k != "parameters"}
        functions[path.rstrip("/").rsplit("/", 1)[-1]] = {"paths": {"": ops}, "to": None}
    return functions


def deploy_bodies(modules: Path, files: str) -> list[dict[str, Any]]:
    """The demo's deployments: fibo as in the wasmiot README, and one with the rest."""
    fibo = {
        "deploymentId": "0",
        "modules": [_module_entry(files, "fibo", "fiboMod", [])],
        "instructions": {"modules": {"fiboMod": _instructions(_description(modules, "fibo"))}},
    }
    others = {
        "deploymentId": "demo",
        "modules": [
            _module_entry(files, name, name, ["prefix.txt"] if name == "stamp" else [])
            for name in DEMO_MODULES
        ],
        "instructions": {
            "modules": {name: _instructions(_description(modules, name)) for name in DEMO_MODULES}
        },
    }
    return [fibo, others]


def curl_examples(modules: Path, base: str) -> list[tuple[str, str]]:
    """(command, comment) for every demo function, from the descriptions' x-example."""
    lines: list[tuple[str, str]] = []
    targets = [("0", "fiboMod", "fibo"), *(("demo", n, n) for n in DEMO_MODULES)]
    for dep, alias, name in targets:
        for path, item in _description(modules, name)["paths"].items():
            fn = path.rstrip("/").rsplit("/", 1)[-1]
            op = next(v for k, v in item.items() if k in ("get", "post"))
            url = f"{base}/{dep}/modules/{alias}/{fn}"
            example = op.get("x-example") or {}
            if example:
                url += "?" + "&".join(f"{k}={v}" for k, v in example.items())
            files = op.get("x-example-files") or {}
            uploads = " ".join(f"-F '{k}=@-'" for k in files)
            if files:
                text = next(iter(files.values())).strip()
                command = f"echo '{text}' | curl {uploads} '{url}'"
            else:
                command = f"curl '{url}'"
            lines.append((command, str(op.get("summary", "")).split(". ")[0].rstrip(".")))
    return lines


def _deploy_and_report(base: str, modules: Path, files: str, ready: threading.Event) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    try:
        for body in deploy_bodies(modules, files):
            answer = httpx.post(f"{base}/deploy", json=body, timeout=60)
            if answer.status_code != 200:
                typer.secho(f"deploying {body['deploymentId']} failed: {answer.text}", fg="red")
                return
        check = httpx.get(f"{base}/0/modules/fiboMod/fibo?iterations=7", timeout=10).json()
    except httpx.HTTPError as err:
        typer.secho(f"the demo could not talk to its supervisor: {err}", fg="red")
        return
    typer.secho("\nwasmfleet demo is running", bold=True)
    typer.echo(f"  supervisor   {base}   (data in the directory shown above)")
    typer.echo(f"  modules      {files}/   (served from {modules})")
    typer.echo(f"  check        fibo(7) = {check['result']} in one round trip\n")
    typer.secho("Try these (each answers with the value and a resultUrl):", bold=True)
    for command, comment in curl_examples(modules, base):
        typer.echo(f"  {command}" + (f"    # {comment}" if comment else ""))
    typer.echo(f"  curl {base}/request-history")
    typer.echo(f"  curl {base}/.well-known/wasmiot-device-description")
    typer.echo(f"  curl {base}/health")
    typer.echo("\nPress Ctrl-C to stop.")
    ready.set()


def demo(
    port: Annotated[int, typer.Option(help="Supervisor port.")] = 5000,
    files_port: Annotated[int, typer.Option(help="Port of the module file server.")] = 8000,
    data_dir: Annotated[
        Path | None, typer.Option(help="Data directory [default: ~/.local/share/wasmfleet/demo].")
    ] = None,
    modules: Annotated[
        Path | None, typer.Option(help="The example modules folder [default: the checkout's].")
    ] = None,
) -> None:
    """Start a supervisor with the example modules deployed and print what to try.

    Everything listens on 127.0.0.1 only, and mDNS is off: this is a local demo.
    """
    from wasmfleet.supervisor.server import serve

    folder = modules or find_modules_dir()
    if folder is None or not (folder / "fibo" / "fibo.wasm").is_file():
        typer.secho(
            "error: the example modules were not found; run the demo from a wasmfleet checkout "
            "(./run demo) or pass --modules PATH/TO/modules",
            fg="red",
            err=True,
        )
        raise typer.Exit(2)
    port = _pick_port(port, "supervisor")
    files_port = _pick_port(files_port, "file server")
    file_server = _serve_files(folder, files_port)
    settings = SupervisorSettings.load(
        overrides={
            "name": "demo",
            "host": "127.0.0.1",
            "port": port,
            "mdns": False,
            "data_dir": data_dir or default_data_dir("demo"),
        }
    )
    typer.echo(
        f"starting a supervisor on http://127.0.0.1:{port} (data: {settings.resolved_data_dir})"
    )
    ready = threading.Event()
    threading.Thread(
        target=_deploy_and_report,
        args=(f"http://127.0.0.1:{port}", folder, f"http://127.0.0.1:{files_port}", ready),
        name="demo-deploy",
        daemon=True,
    ).start()
    try:
        serve(settings)
    finally:
        file_server.shutdown()
