"""One orchestrator process per SQLite file: an exclusive lock on ``<database>.lock``.

SQLite has no way for several orchestrator processes to share the work that must happen
once, so the server's entry point takes this lock for the process' life (``fcntl.flock``:
the kernel drops it when the process ends, even by SIGKILL) and a second process on the
same file is refused at start with a sentence. Several orchestrators need PostgreSQL.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from wasmfleet.core.errors import ConfigurationError
from wasmfleet.orchestrator.store.engine import driver_url


def hold_sqlite_lock(url: str) -> IO[str] | None:
    """Lock the SQLite database at ``url`` for this process (keep the returned file open);
    ConfigurationError when another process holds it; None for PostgreSQL."""
    target = driver_url(url)
    if target.get_backend_name() != "sqlite" or not target.database:
        return None
    database = Path(target.database).expanduser()
    database.parent.mkdir(parents=True, exist_ok=True)
    path = database.with_name(database.name + ".lock")
    handle = open(path, "a+")  # noqa: SIM115 - held open for the process' life
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "a process"
        handle.close()
        raise ConfigurationError(
            f"Another orchestrator ({holder}) already uses the SQLite database {database} "
            f"(it holds {path}). SQLite serves one orchestrator process: stop the other one, "
            "give this one another --data-dir or --database-url, or use PostgreSQL to run "
            "several orchestrators (docs/scale-out.md)."
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}\n")
    handle.flush()
    return handle
