"""A whole supervisor process, mDNS on by default, seen by a zeroconf browser.

Both run inside one private network namespace (``unshare -n``), so no multicast packet
reaches a real network.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_advertise_netns import LOOPBACK_MULTICAST, THIS_FILE, netns_available


@pytest.mark.netns
def test_supervisor_advertises_itself_by_default(tmp_path: Path) -> None:
    reason = netns_available()
    if reason is not None:
        pytest.skip(f"needs a private network namespace: {reason}")
    python = shlex.quote(sys.executable)
    log = tmp_path / "supervisor.log"
    script = f"""
set -e
{LOOPBACK_MULTICAST}
{python} -m wasmfleet supervisor --host 127.0.0.1 --port 5177 --name mdns-dev \\
    --data-dir {shlex.quote(str(tmp_path / "data"))} > {shlex.quote(str(log))} 2>&1 &
pid=$!
{python} {shlex.quote(str(THIS_FILE))} browse 20
kill -TERM $pid
wait $pid || true
"""
    done = subprocess.run(
        ["unshare", "-n", "sh", "-c", script], capture_output=True, text=True, timeout=90
    )
    assert done.returncode == 0, f"{done.stderr}\n{log.read_text()}"
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert [info["name"] for info in found] == ["mdns-dev._webthing._tcp.local."], log.read_text()
    info = found[0]
    assert info["port"] == 5177
    assert info["addresses"] == ["127.0.0.1"]
    assert info["properties"] == {"path": "/", "tls": "0", "address": "127.0.0.1"}
    assert "Traceback" not in log.read_text()
