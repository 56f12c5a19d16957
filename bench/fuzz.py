"""The long fuzz run: schemathesis against both services for a time budget each; prints JSON.

    python bench/fuzz.py --minutes 5            # both services, 5 minutes each
    python bench/fuzz.py --service orchestrator --minutes 10 --seed 42

Real processes on loopback (tests/fuzz_support.py), checks ``not_a_server_error`` and
``error_shape`` (tests/fuzz_hooks.py). Auth is on by default, as in the suite: the
orchestrator runs ``--auth on`` and is fuzzed with its admin token, the supervisor joins it
and is fuzzed with its orchestrator's control bearer; ``--no-auth`` fuzzes both open. Exit
code 1 when a run found a failure; the JSON lists them. docs/fuzzing.md has the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fuzz_support import fuzzed_services, run_schemathesis


def main() -> int:
    """Run the long fuzz and print one JSON object per service and a total."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="time budget per service")
    parser.add_argument("--service", choices=["orchestrator", "supervisor", "both"], default="both")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--no-auth", action="store_true", help="fuzz both services open")
    opts = parser.parse_args()
    seconds = max(1, int(opts.minutes * 60))
    services = ["orchestrator", "supervisor"] if opts.service == "both" else [opts.service]
    results = []
    with (
        tempfile.TemporaryDirectory(prefix="wasmfleet-fuzz-") as tmp,
        fuzzed_services(Path(tmp), None if opts.no_auth else Path(tmp) / "admin.token") as fleet,
    ):
        for service in services:
            url = fleet.orchestrator.url if service == "orchestrator" else fleet.supervisor.url
            token = fleet.admin_token if service == "orchestrator" else fleet.control_bearer
            os.environ["WASMFLEET_TOKEN"] = token or ""  # sent by tests/fuzz_hooks.py
            run = run_schemathesis(
                service, url, Path(tmp) / service, max_time=seconds, seed=opts.seed,
                timeout=seconds + 600,
            )  # fmt: skip
            results.append(run.summary())
            print(json.dumps(run.summary()), flush=True)
    failed = sum(len(r["failures"]) for r in results)
    print(json.dumps({"total_cases": sum(r["cases"] for r in results), "failures": failed}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
