"""``wasmfleet dev``: watch a .wasm file, push each change as a new version and hot-swap it.

Each save (debounced) optionally runs ``--build`` first (its errors are printed, nothing is
pushed), then pushes the bytes as the next version of the module and moves the
deployment's copies of it to that version (``POST /api/v1/deployments/{name}/update``).
One line per save: version, sha256, each device's answer, and the milliseconds from the
save (the file's modification time) to the update being done. File changes come from
watchfiles (inotify) when it is installed, else from polling the files' stat.
"""

from __future__ import annotations

import hashlib
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from wasmfleet.cli.client import DEFAULT_URL, ApiError, CaFileOpt, Client, OrchestratorOpt
from wasmfleet.cli.deployments import update_copies
from wasmfleet.cli.modules import default_user

POLL_S = 0.1
"""Stat polling interval when watchfiles is not installed."""


def changes(paths: list[Path], stop: threading.Event, debounce_ms: int = 100) -> Iterator[None]:
    """Yield once per (debounced) change of a file in ``paths`` (files or folders) until
    ``stop`` is set."""
    try:
        import watchfiles
    except ImportError:
        yield from _polled(paths, stop, debounce_ms)
        return
    for _ in watchfiles.watch(
        *paths, debounce=debounce_ms, stop_event=stop, rust_timeout=200, yield_on_timeout=False
    ):
        yield None


def _polled(paths: list[Path], stop: threading.Event, debounce_ms: int) -> Iterator[None]:
    def state() -> dict[str, tuple[float, int]]:
        found: dict[str, tuple[float, int]] = {}
        for root in paths:
            files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
            for f in files[:10_000]:
                try:
                    st = f.stat()
                except OSError:
                    continue
                found[str(f)] = (st.st_mtime, st.st_size)
        return found

    last = state()
    while not stop.wait(POLL_S):
        now = state()
        if now != last:
            stop.wait(debounce_ms / 1000)
            last = state()
            yield None


class DevLoop:
    """Push-and-update on every change; ``run`` until ``stop`` is set or ``max_saves`` done."""

    def __init__(
        self,
        api: Client,
        wasm: Path,
        deployment: str,
        module: str,
        *,
        build: str | None = None,
        build_dir: Path | None = None,
        by: str | None = None,
        echo: Any = typer.echo,
    ) -> None:
        self.api, self.wasm, self.deployment, self.module = api, wasm, deployment, module
        self.build, self.build_dir, self.by, self.echo = build, build_dir, by, echo
        self.last_sha: str | None = None

    def once(self) -> str | None:
        """Build (if asked), push and update once; the line printed (None: nothing to do)."""
        if self.build:
            done = subprocess.run(
                self.build,
                shell=True,
                cwd=self.build_dir or self.wasm.parent,
                capture_output=True,
                text=True,
                timeout=300,
            )
            if done.returncode != 0:
                line = f"build failed ({done.returncode}); not pushed\n{done.stdout}{done.stderr}"
                self.echo(line.rstrip())
                return line
        try:
            data = self.wasm.read_bytes()
            saved = self.wasm.stat().st_mtime
        except OSError as err:
            return self._say(f"cannot read {self.wasm}: {err}")
        sha = hashlib.sha256(data).hexdigest()
        if sha == self.last_sha:
            return None
        fields = {"name": self.module, "note": "wasmfleet dev"}
        if self.by:
            fields["created_by"] = self.by
        try:
            pushed = self.api.upload(
                "/api/v1/modules",
                data=fields,
                files={"wasm": (self.wasm.name, data, "application/wasm")},
                timeout=60,
            )
            answer = update_copies(self.api, self.deployment, f"{self.module}@{pushed['version']}")
        except ApiError as err:
            return self._say(f"{sha[:12]} refused: {err.message}")
        self.last_sha = sha
        elapsed = (time.time() - saved) * 1000
        devices = ", ".join(
            f"{name} {'ok' if a.get('ok') else 'FAILED: ' + str(a.get('message'))}"
            for name, a in sorted((answer.get("devices") or {}).items())
        )
        return self._say(
            f"v{pushed['version']} {sha[:12]} {devices or 'no copies'} {elapsed:.0f} ms"
        )

    def _say(self, line: str) -> str:
        self.echo(line)
        return line

    def run(self, stop: threading.Event, watch: list[Path], max_saves: int = 0) -> int:
        """Handle changes until ``stop`` (or ``max_saves`` handled changes); how many."""
        handled = 0
        for _ in changes(watch, stop):
            if self.once() is not None:
                handled += 1
            if max_saves and handled >= max_saves:
                break
        return handled


def dev(
    wasm: Annotated[Path, typer.Argument(help="The .wasm file to watch.", dir_okay=False)],
    deployment: Annotated[str, typer.Option(help="The deployment to update on each save.")],
    module: Annotated[
        str | None, typer.Option(help="Module name (default: the file name without .wasm).")
    ] = None,
    build: Annotated[
        str | None, typer.Option(help="Build command run before each push (e.g. make).")
    ] = None,
    watch_dir: Annotated[
        Path | None,
        typer.Option(help="Folder to watch (with --build: the sources; default: the file)."),
    ] = None,
    max_saves: Annotated[int, typer.Option(hidden=True)] = 0,
    orchestrator: OrchestratorOpt = DEFAULT_URL,
    ca_file: CaFileOpt = None,
) -> None:
    """Watch a .wasm file (or a module folder with --build) and push and hot-swap each save
    into a deployment; one line per save. Ctrl-C stops."""
    stop = threading.Event()
    watch = [watch_dir] if watch_dir is not None else [wasm.parent]
    with Client(orchestrator) as api:
        loop = DevLoop(
            api,
            wasm,
            deployment,
            module or wasm.stem,
            build=build,
            build_dir=watch_dir,
            by=default_user(),
        )
        typer.echo(f"watching {watch[0]} for {deployment} (Ctrl-C stops)")
        try:
            loop.run(stop, watch, max_saves)
        except KeyboardInterrupt:
            stop.set()
            typer.echo("stopped")
