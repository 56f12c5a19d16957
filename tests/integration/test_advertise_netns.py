"""mDNS advertising, tested with real zeroconf inside a private network namespace.

Every multicast packet stays on the loopback interface of a namespace made by ``unshare -n``,
so nothing reaches a real network. The test runs this very file as a script inside the
namespace; the helpers are reusable by other tests:

- ``netns_command(*argv)``: the command line that runs ``argv`` in a fresh namespace whose
  loopback interface carries multicast (``ip link set lo up`` + multicast + a 224/4 route);
- ``browse_webthings(timeout)``: browse ``_webthing._tcp`` on 127.0.0.1 and resolve what is found;
- ``python tests/integration/test_advertise_netns.py browse SECONDS`` prints that list as JSON
  (run it inside the same namespace as a supervisor, e.g. in ``netns_command("sh", "-c", ...)``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from zeroconf import IPVersion, ServiceBrowser, ServiceListener, Zeroconf

from wasmfleet.supervisor.advertise import SERVICE_TYPE, Advertiser
from wasmfleet.supervisor.settings import SupervisorSettings

THIS_FILE = Path(__file__).resolve()
SCRIPT_TIMEOUT_S = 60.0
LOOPBACK_MULTICAST = (
    "ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo"
)


# -- reusable helpers ----------------------------------------------------------------------------


def netns_available() -> str | None:
    """None when ``unshare -n`` works here, else the reason it does not."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "needs unshare (util-linux) and ip (iproute2)"
    try:
        done = subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unshare -n failed: {exc}"
    if done.returncode != 0:
        return f"unshare -n needs root or user namespaces: {done.stderr.decode().strip()}"
    return None


def netns_command(*argv: str, multicast: bool = True) -> list[str]:
    """A command running ``argv`` in a new network namespace with multicast on loopback."""
    quoted = " ".join(_shell_quote(arg) for arg in argv)
    setup = f"{LOOPBACK_MULTICAST} && " if multicast else ""
    return ["unshare", "-n", "sh", "-c", f"{setup}exec {quoted}"]


def _shell_quote(arg: str) -> str:
    return "'" + arg.replace("'", "'\"'\"'") + "'"


class WebthingBrowser(ServiceListener):
    """Browses ``_webthing._tcp`` on the given interfaces and remembers names seen and gone."""

    def __init__(self, interfaces: tuple[str, ...] = ("127.0.0.1",)) -> None:
        self.zc = Zeroconf(interfaces=list(interfaces), ip_version=IPVersion.V4Only)
        self.added: list[str] = []
        self.removed: list[str] = []
        self._cond = threading.Condition()
        self._browser = ServiceBrowser(self.zc, SERVICE_TYPE, listener=self)

    def add_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        """Called by zeroconf when a service appears."""
        with self._cond:
            if name not in self.added:
                self.added.append(name)
            self._cond.notify_all()

    def update_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        """Called by zeroconf when a service changes."""

    def remove_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        """Called by zeroconf when a service says goodbye."""
        with self._cond:
            self.removed.append(name)
            self._cond.notify_all()

    def wait(self, seen: list[str], count: int, timeout: float) -> bool:
        """Wait until ``seen`` (added or removed) holds ``count`` names, at most ``timeout`` s."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(seen) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def resolve(self, name: str, timeout: float) -> dict[str, Any] | None:
        """Resolve one service into a plain dict (name, server, port, addresses, properties)."""
        info = self.zc.get_service_info(SERVICE_TYPE, name, timeout=int(timeout * 1000))
        if info is None:
            return None
        properties = {
            key.decode(): (value.decode() if value is not None else None)
            for key, value in info.properties.items()
        }
        return {
            "name": info.name,
            "server": info.server,
            "port": info.port,
            "addresses": info.parsed_addresses(),
            "properties": properties,
        }

    def close(self) -> None:
        """Stop browsing and close zeroconf."""
        self._browser.cancel()
        self.zc.close()


def browse_webthings(timeout: float, expect: int = 1) -> list[dict[str, Any]]:
    """Browse on 127.0.0.1 until ``expect`` services appear or ``timeout`` s pass; resolve them."""
    browser = WebthingBrowser()
    try:
        browser.wait(browser.added, expect, timeout)
        found = [browser.resolve(name, timeout) for name in list(browser.added)]
        return [info for info in found if info is not None]
    finally:
        browser.close()


# -- the scenario run inside the namespace -------------------------------------------------------


async def advertise_and_browse(name: str, host: str, port: int, timeout: float) -> dict[str, Any]:
    """Advertise a supervisor, browse for it, stop advertising and watch it go."""
    settings = SupervisorSettings(name=name, host=host, port=port)
    advertiser = Advertiser(settings)
    browser = await asyncio.to_thread(WebthingBrowser)
    try:
        await advertiser.start()
        advertised = await advertiser.wait_advertised(timeout)
        await asyncio.to_thread(browser.wait, browser.added, 1, timeout)
        resolved = [await asyncio.to_thread(browser.resolve, n, timeout) for n in browser.added]
        found = [info for info in resolved if info is not None]
        await asyncio.wait_for(advertiser.stop(), timeout)
        removed = await asyncio.to_thread(browser.wait, browser.removed, 1, timeout)
    finally:
        await asyncio.wait_for(advertiser.stop(), timeout)
        await asyncio.to_thread(browser.close)
    return {"advertised": advertised, "found": found, "removed": removed}


async def advertise_without_multicast(host: str, timeout: float) -> dict[str, Any]:
    """Start and stop an advertiser where multicast cannot work; report that nothing broke."""
    advertiser = Advertiser(SupervisorSettings(name="lonely", host=host, port=5000))
    await advertiser.start()
    advertised = await advertiser.wait_advertised(1.0)
    await asyncio.wait_for(advertiser.stop(), timeout)
    return {"started": True, "advertised": advertised}


def main(argv: list[str]) -> None:
    """Command line for running the scenarios inside a namespace."""
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    browse = sub.add_parser("browse")
    browse.add_argument("timeout", type=float)
    browse.add_argument("--expect", type=int, default=1)
    both = sub.add_parser("advertise-and-browse")
    both.add_argument("--name", default="netns-dev")
    both.add_argument("--host", default="127.0.0.1")
    both.add_argument("--port", type=int, default=5123)
    both.add_argument("--timeout", type=float, default=10.0)
    lonely = sub.add_parser("no-multicast")
    lonely.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    if args.cmd == "browse":
        result: Any = browse_webthings(args.timeout, args.expect)
    elif args.cmd == "advertise-and-browse":
        result = asyncio.run(advertise_and_browse(args.name, args.host, args.port, args.timeout))
    else:
        result = asyncio.run(advertise_without_multicast(args.host, 10.0))
    print(json.dumps(result))


# -- the tests -----------------------------------------------------------------------------------


def _run_in_netns(*args: str, multicast: bool = True) -> dict[str, Any]:
    reason = netns_available()
    if reason is not None:
        pytest.skip(f"mDNS tests run only inside a private network namespace; {reason}")
    command = netns_command(sys.executable, str(THIS_FILE), *args, multicast=multicast)
    done = subprocess.run(command, capture_output=True, text=True, timeout=SCRIPT_TIMEOUT_S)
    assert done.returncode == 0, f"script failed ({done.returncode}):\n{done.stderr}"
    lines = done.stdout.strip().splitlines()
    assert lines, f"script printed nothing; stderr:\n{done.stderr}"
    result: dict[str, Any] = json.loads(lines[-1])
    return result


@pytest.mark.netns
def test_advertiser_is_found_with_name_port_and_txt() -> None:
    result = _run_in_netns("advertise-and-browse", "--name", "netns-dev", "--port", "5123")

    assert result["advertised"] is True
    assert [info["name"] for info in result["found"]] == ["netns-dev._webthing._tcp.local."]
    info = result["found"][0]
    assert info["port"] == 5123
    assert info["server"] == "netns-dev.local."
    assert info["addresses"] == ["127.0.0.1"]
    assert info["properties"] == {"path": "/", "tls": "0", "address": "127.0.0.1"}
    assert result["removed"] is True, "stop() should send goodbye packets"


@pytest.mark.netns
@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_advertiser_carries_on_without_multicast(host: str) -> None:
    # A fresh namespace whose loopback is down: there is no interface multicast could use.
    result = _run_in_netns("no-multicast", "--host", host, multicast=False)

    assert result == {"started": True, "advertised": False}


if __name__ == "__main__":
    main(sys.argv[1:])
