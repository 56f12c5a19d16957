"""Benchmark what signed modules cost a supervisor: importing ``cryptography`` and verifying.

Run ``python bench/signing.py [FILE.wasm ...]`` with the project venv (default: every example
module). It prints one JSON object: ``import_ms`` and ``import_rss_kib`` (importing
core/signing_keys.py into a process that already imported the supervisor's deploy path, as a
supervisor with --trusted-key does), and per module its size and ``verify_ms`` (mean of 200
``verify_module`` calls: section walk, SHA-256 of the bytes, one Ed25519 verification) next
to ``sha256_ms`` of the same bytes, the baseline measured in the same run.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

ROUNDS = 200


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1])
    return 0


def main(paths: list[str]) -> None:
    """Measure and print the JSON report."""
    import wasmfleet.supervisor.deployments  # noqa: F401 - what a supervisor has loaded

    before, start = _rss_kib(), time.perf_counter()
    from wasmfleet.core import signing_keys

    import_ms = (time.perf_counter() - start) * 1000
    rss = _rss_kib() - before
    from wasmfleet.core.signing import sign_module, verify_module

    root = Path(__file__).resolve().parents[1]
    files = [Path(p) for p in paths] or sorted((root / "modules").glob("*/*.wasm"))
    key = signing_keys.generate_key()
    trusted = {key.key_id: key.public}
    modules = {}
    for path in files:
        signed = sign_module(path.read_bytes(), key)
        start = time.perf_counter()
        for _ in range(ROUNDS):
            verify_module(signed, trusted)
        verify_ms = (time.perf_counter() - start) / ROUNDS * 1000
        start = time.perf_counter()
        for _ in range(ROUNDS):
            hashlib.sha256(signed).digest()
        sha_ms = (time.perf_counter() - start) / ROUNDS * 1000
        modules[path.name] = {
            "bytes": len(signed),
            "verify_ms": round(verify_ms, 3),
            "sha256_ms": round(sha_ms, 3),
        }
    report = {"import_ms": round(import_ms, 1), "import_rss_kib": rss, "modules": modules}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
