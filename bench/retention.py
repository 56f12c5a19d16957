"""How long one retention batch holds the database, and how big log rows are (SQLite).

Fills a fresh SQLite store (the orchestrator's own, WAL + synchronous=FULL) with log entries
shaped like a supervisor's (a message of ~120 bytes and its logData object), then times
``prune_batch`` for several batch sizes — each a write transaction that every other writer
waits behind — and reports the file size per 100 000 rows, the figure behind the default
``--keep-logs``. Baseline in the same run: one ``add_logs`` of 100 entries (what a
supervisor's log post costs).

    .venv/bin/python bench/retention.py [--rows 200000] > retention.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from wasmfleet.orchestrator.store import LogRecord, open_store, sqlite_url

MESSAGE = "call fibo.fibo took 0.41 ms (deployment 3f2a, request 18c9e1) result=13 " * 2


def entry(i: int, start: datetime) -> LogRecord:
    """One log entry like those supervisors post."""
    data = {
        "message": MESSAGE,
        "levelname": "INFO",
        "deviceName": f"dev-{i % 50}",
        "timestamp": (start + timedelta(milliseconds=i)).isoformat(),
        "logger": "wasmfleet.supervisor.calls",
    }
    return LogRecord(
        time=start + timedelta(milliseconds=i),
        device=data["deviceName"],
        level="INFO",
        message=MESSAGE,
        data=data,
    )


def main() -> None:
    """Fill, measure, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(sqlite_url(Path(tmp)))
        start = datetime(2026, 1, 1, tzinfo=UTC)
        print(f"inserting {args.rows} log entries", file=sys.stderr)
        for first in range(0, args.rows, 1000):
            store.add_logs([entry(i, start) for i in range(first, min(first + 1000, args.rows))])
        db = Path(tmp) / "orchestrator.db"
        with store.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        size = db.stat().st_size
        post_ms = []
        for _ in range(20):
            began = time.perf_counter()
            store.add_logs([entry(i, start) for i in range(100)])
            post_ms.append((time.perf_counter() - began) * 1000)
        batches: dict[str, float] = {}
        cutoff = store.prune_cutoff("logs", keep=0)
        assert cutoff is not None
        for size_ in (500, 2000, 10_000):
            runs = []
            for _ in range(5):
                began = time.perf_counter()
                store.prune_batch("logs", cutoff, size_)
                runs.append((time.perf_counter() - began) * 1000)
            batches[str(size_)] = round(statistics.median(runs), 2)
        store.close()
    print(
        json.dumps(
            {
                "rows": args.rows,
                "db_mb_per_100k_rows": round(size / args.rows * 100_000 / 2**20, 1),
                "log_post_100_entries_ms": round(statistics.median(post_ms), 2),
                "prune_batch_ms": batches,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
