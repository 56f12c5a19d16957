"""A throw-away PostgreSQL server from Debian's packages, for tests.

``PostgresServer`` runs ``initdb`` and ``postgres`` in a fresh temporary directory, listening
only on 127.0.0.1 at a free port (unix socket in the same directory, trust auth), and
deletes everything on ``stop``. PostgreSQL refuses to run as root, so as root the server
runs as the ``postgres`` user (or ``nobody``) through ``setpriv``. Every wait is bounded;
a server that does not come up raises ``PostgresError`` with the tail of its log.

    with PostgresServer() as pg:
        url = pg.create_database()      # postgresql://postgres@127.0.0.1:PORT/test_...
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType

import psycopg

INSTALL_HINT = "PostgreSQL is not installed; run `apt-get install postgresql` (./run test does)."
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 20.0
SUPERUSER = "postgres"


class PostgresError(RuntimeError):
    """The test server could not be set up, started or stopped."""


def find_bin_dir() -> Path | None:
    """Where ``initdb`` and ``postgres`` are: PATH, else the newest /usr/lib/postgresql/*/bin."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("postgres"):
        return Path(on_path).resolve().parent
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    for bin_dir in candidates:
        if (bin_dir / "initdb").is_file() and (bin_dir / "postgres").is_file():
            return bin_dir
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _unprivileged_user() -> pwd.struct_passwd:
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise PostgresError("Running as root, but there is no 'postgres' or 'nobody' user to run as.")


class PostgresServer:
    """One PostgreSQL server in a temporary directory; ``start``, ``create_database``, ``stop``."""

    def __init__(self, bin_dir: Path | None = None) -> None:
        found = bin_dir or find_bin_dir()
        if found is None:
            raise PostgresError(INSTALL_HINT)
        self.bin_dir = found
        self.base: Path | None = None
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._prefix: list[str] = []

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> PostgresServer:
        """Create the cluster and start the server; PostgresError (with the log) on failure."""
        self.base = Path(tempfile.mkdtemp(prefix="wasmfleet-pg-"))
        try:
            self._prepare_user()
            self._run([str(self.bin_dir / "initdb"), *self._initdb_args()], "initdb")
            for attempt in range(3):  # the free port may be taken between probe and bind
                self.port = _free_port()
                failure = self._launch()
                if failure is None:
                    return self
                if "could not bind" not in self.log_tail() or attempt == 2:
                    raise PostgresError(f"{failure}; server log:\n{self.log_tail()}")
        except BaseException:
            self.stop()
            raise
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """Fast shutdown (bounded), then delete the directory."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # "fast" shutdown: disconnect clients, then exit
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT_S)
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None

    def halt(self) -> None:
        """Stop the server (fast shutdown) and keep its cluster, to ``resume`` it later."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT_S)

    def resume(self) -> None:
        """Start a halted server again, on the same port; PostgresError if it does not come up."""
        if self.process is not None:
            return
        failure = self._launch()
        if failure is not None:
            raise PostgresError(f"{failure}; server log:\n{self.log_tail()}")

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- databases ---------------------------------------------------------------------

    def url(self, database: str = "postgres") -> str:
        """The URL of a database on this server (the superuser, no password)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database; its URL."""
        name = name or f"test_{uuid.uuid4().hex[:12]}"
        self._admin(f'CREATE DATABASE "{name}" TEMPLATE template0 STRATEGY FILE_COPY')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting whoever is still connected."""
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the server log."""
        if self.base is None or not (self.base / "server.log").exists():
            return "(no server log)"
        text = (self.base / "server.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:]) or "(empty server log)"

    # -- internals ---------------------------------------------------------------------

    def _admin(self, sql: str) -> None:
        with psycopg.connect(self.url(), autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.encode())

    def _prepare_user(self) -> None:
        assert self.base is not None
        if os.geteuid() != 0:
            return
        user = _unprivileged_user()
        os.chown(self.base, user.pw_uid, user.pw_gid)
        setpriv = shutil.which("setpriv")
        if setpriv:
            self._prefix = [setpriv, f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}"]
            self._prefix += ["--clear-groups", "--"]
        elif shutil.which("runuser"):
            self._prefix = ["runuser", "-u", user.pw_name, "--"]
        else:
            raise PostgresError("Running as root needs setpriv or runuser (util-linux).")

    def _initdb_args(self) -> list[str]:
        assert self.base is not None
        return [
            "-D", str(self.base / "data"), "-U", SUPERUSER, "--auth=trust",
            "--encoding=UTF8", "--no-locale", "--no-sync", "--no-instructions",
        ]  # fmt: skip

    def _run(self, cmd: list[str], what: str) -> None:
        try:
            done = subprocess.run(
                [*self._prefix, *cmd],
                capture_output=True,
                text=True,
                timeout=START_TIMEOUT_S * 2,
                cwd=self.base,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise PostgresError(f"{what} did not finish in {START_TIMEOUT_S * 2:g} s") from None
        if done.returncode != 0:
            raise PostgresError(f"{what} failed ({done.returncode}):\n{done.stderr[-3000:]}")

    def _launch(self) -> str | None:
        """Start ``postgres`` and wait until it accepts connections; why not, if it did not."""
        assert self.base is not None
        cmd = [
            *self._prefix, str(self.bin_dir / "postgres"),
            "-D", str(self.base / "data"), "-p", str(self.port), "-k", str(self.base),
            "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
            "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            "-c", "max_connections=100", "-c", "shared_buffers=32MB",
            "-c", "logging_collector=off",
        ]  # fmt: skip
        with open(self.base / "server.log", "ab") as log:
            self.process = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.base
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                self.process = None
                return f"PostgreSQL exited with status {code} while starting on port {self.port}"
            try:
                with psycopg.connect(self.url(), connect_timeout=2):
                    return None
            except psycopg.OperationalError:
                time.sleep(0.05)
        self.process.kill()
        self.process.wait(timeout=STOP_TIMEOUT_S)
        self.process = None
        return f"PostgreSQL did not accept connections within {START_TIMEOUT_S:g} s"
