"""Fuzzing the services with schemathesis: real processes on loopback, the ``st`` command line.

``fuzzed_services`` starts an orchestrator and a supervisor (a fibo deployment ``fuzz`` on it,
so that the function routes answer) and ``run_schemathesis`` fuzzes one of them from its own
``/openapi.json`` with the checks ``not_a_server_error`` and ``error_shape``
(tests/fuzz_hooks.py), and reads the run's JSON report. Used by the bounded test
(tests/integration/test_fuzz.py) and the long run (bench/fuzz.py); docs/fuzzing.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support import (
    REPO,
    OrchestratorProcess,
    SupervisorProcess,
    module_file_server,
    readme_body,
)
from wasmfleet.core.device_keys import control_bearer

CHECKS = "not_a_server_error,error_shape"
STREAMS = r"/api/v1/(events|logs/stream)$"
"""Server-sent event streams answer a valid request with a stream that never ends (the
dashboard's live updates): not fuzzed (their filters are tested in test_events_hub.py and the
browser tests)."""
DEPLOYMENT, MODULE, FUNCTION = "fuzz", "fibo", "fibo"
# The function routes of the supervisor get the deployed function's names (their other
# parameters, query and body, stay fuzzed); every other operation gets generated values.
CONFIG = f"""
[[operations]]
include-path-regex = "^/[{{]deployment[}}]/modules/"
parameters = {{ "deployment" = "{DEPLOYMENT}", "module" = "{MODULE}", "function" = "{FUNCTION}" }}
"""


@dataclass
class FuzzRun:
    """What one schemathesis run found."""

    service: str
    exit_code: int
    report: dict[str, Any]
    output: str
    failures: list[str] = field(default_factory=list)

    @property
    def cases(self) -> int:
        """Test cases generated (and sent)."""
        return int(self.report.get("test_cases", {}).get("generated", 0))

    @property
    def operations(self) -> int:
        """API operations tested."""
        return int(self.report.get("operations", {}).get("tested", 0))

    def summary(self) -> dict[str, Any]:
        """The figures of the run, for JSON output."""
        cases = self.report.get("test_cases", {})
        return {
            "service": self.service,
            "operations": self.operations,
            "cases": self.cases,
            "with_failures": cases.get("with_failures", 0),
            "unique_failures": cases.get("unique_failures", 0),
            "errored": cases.get("errored", 0),
            "seconds": round(float(self.report.get("running_time", 0.0)), 1),
            "seed": self.report.get("seed"),
            "exit_code": self.exit_code,
            "failures": self.failures,
        }


@dataclass
class FuzzedServices:
    """The two services under fuzzing."""

    orchestrator: OrchestratorProcess
    supervisor: SupervisorProcess
    admin_token: str | None = None
    """The orchestrator's admin token (auth on), else None."""
    control_bearer: str | None = None
    """What the orchestrator sends the joined supervisor (its control bearer), else None."""


@contextlib.contextmanager
def fuzzed_services(tmp: Path, admin_token_file: Path | None = None) -> Iterator[FuzzedServices]:
    """An orchestrator and a supervisor with fibo deployed as ``fuzz``; both stopped after.

    With ``admin_token_file`` auth is on everywhere: the orchestrator runs ``--auth on`` with
    that admin token, and the supervisor joins it (``--join``, ``--calls token``), so that it
    takes control requests and calls only with its orchestrator's control bearer."""
    orchestrator_args = (
        ["--auth", "on", "--admin-token-file", str(admin_token_file)] if admin_token_file else []
    )
    with module_file_server(tmp) as files:
        orch = OrchestratorProcess(tmp / "orchestrator", name="orch", args=orchestrator_args)
        sup: SupervisorProcess | None = None
        try:
            orch.start()
            admin = control = None
            headers: dict[str, str] = {}
            if admin_token_file is not None:
                admin = admin_token_file.read_text().strip()
                made = orch.post(
                    "/api/v1/tokens",
                    json={"name": "join@fuzz-sv", "role": "device-join"},
                    headers={"authorization": f"Bearer {admin}"},
                )
                made.raise_for_status()
                sup = SupervisorProcess(
                    tmp / "supervisor",
                    name="fuzz-sv",
                    args=["--join", orch.url, "--calls", "token"],
                    env={"WASMFLEET_JOIN_TOKEN": made.json()["token"]},
                )
            else:
                sup = SupervisorProcess(tmp / "supervisor", name="fuzz-sv")
            sup.start()
            if admin_token_file is not None:
                held = json.loads((tmp / "supervisor" / "credentials.json").read_text())
                secret = hashlib.sha256(held["token"].encode()).hexdigest()
                control = control_bearer(secret)
                headers = {"authorization": f"Bearer {control}"}
            answer = sup.deploy(readme_body(files, DEPLOYMENT, MODULE), headers=headers)
            answer.raise_for_status()
            yield FuzzedServices(orch, sup, admin, control)
        finally:
            if sup is not None:
                sup.stop()
            orch.stop()


def run_schemathesis(
    service: str,
    base_url: str,
    work: Path,
    *,
    max_examples: int | None = None,
    max_time: int | None = None,
    seed: int | None = None,
    phases: str | None = None,
    timeout: float = 3600.0,
) -> FuzzRun:
    """Fuzz ``base_url`` from its /openapi.json; the report read back, failures listed.

    A bearer token, when auth is on, comes from ``WASMFLEET_TOKEN`` (tests/fuzz_hooks.py)."""
    work.mkdir(parents=True, exist_ok=True)
    report_path = work / f"{service}.json"
    config = work / "schemathesis.toml"
    config.write_text(CONFIG)
    cmd = [
        sys.executable, "-c", "from schemathesis.cli import schemathesis; schemathesis()",
        "--config-file", str(config), "run", f"{base_url}/openapi.json",
        "--checks", CHECKS, "--workers", "1", "--request-timeout", "30",
        "--report", "json", "--report-json-path", str(report_path), "--no-color",
        "--suppress-health-check", "all", "--exclude-path-regex", STREAMS,
    ]  # fmt: skip
    if max_examples is not None:
        cmd += ["--max-examples", str(max_examples)]
    if max_time is not None:
        cmd += ["--max-time", str(max_time)]
    if seed is not None:
        cmd += ["--seed", str(seed)]
    if phases:
        cmd += ["--phases", phases]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.fuzz_hooks"}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO / "src"), str(REPO), env.get("PYTHONPATH", "")) if p
    )
    proc = subprocess.run(
        cmd, cwd=work, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    output = proc.stdout + proc.stderr
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    failures = [_describe(f) for f in report.get("failures", [])]
    failures += [_describe(e) for e in report.get("errors", [])]
    return FuzzRun(service, proc.returncode, report, output, failures)


def _describe(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)[:500]
    keys = ("operation", "label", "title", "check", "message", "status_code", "curl")
    found = {k: item[k] for k in keys if k in item}
    return json.dumps(found or item, default=str)[:800]
