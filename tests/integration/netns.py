"""Two named network namespaces joined by a veth pair, for partition tests (needs root).

``NetnsPair`` creates ``<prefix>-fleet`` and ``<prefix>-dev`` with ``ip netns add``, brings
``lo`` up in both and joins them with a veth pair that is created *inside* the fleet namespace
with its peer placed directly in the dev namespace, so the root namespace's interfaces and
routes are never touched. Addresses live only on the two veth ends (``10.77.N.1/24`` and
``.2/24``). Leaving the context kills every process still running in either namespace (they
can only have been started by the test) and deletes both namespaces (which removes the veth).
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import shutil
import signal
import subprocess
from types import TracebackType

FLEET_VETH = "wf-fleet0"
DEV_VETH = "wf-dev0"


class NetnsUnavailable(Exception):
    """Named namespaces cannot be made here (no iproute2, not root, no CAP_SYS_ADMIN...)."""


def _ip(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["ip", *argv], capture_output=True, text=True, timeout=15)
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(argv)} failed ({done.returncode}): {done.stderr}")
    return done


def set_dev_link(dev_namespace: str, up: bool) -> None:
    """Bring the device end of the veth of a ``NetnsPair`` up or down (from any namespace)."""
    _ip("netns", "exec", dev_namespace, "ip", "link", "set", DEV_VETH, "up" if up else "down")


class NetnsPair:
    """A fleet namespace and a device namespace with a cuttable link between them."""

    def __init__(self, prefix: str | None = None) -> None:
        prefix = prefix or f"wf-{os.getpid()}-{secrets.token_hex(2)}"
        self.fleet = f"{prefix}-fleet"
        self.dev = f"{prefix}-dev"
        subnet = random.randint(1, 254)
        self.fleet_addr = f"10.77.{subnet}.1"
        self.dev_addr = f"10.77.{subnet}.2"
        self._made: list[str] = []

    @staticmethod
    def exec_in(namespace: str, *argv: str) -> list[str]:
        """The command line that runs ``argv`` inside ``namespace``."""
        return ["ip", "netns", "exec", namespace, *argv]

    def __enter__(self) -> NetnsPair:
        return self if self._made else self.create()

    def create(self) -> NetnsPair:
        """Make both namespaces and the link; NetnsUnavailable when that is not permitted."""
        if shutil.which("ip") is None:
            raise NetnsUnavailable("needs ip (iproute2)")
        try:
            self._add(self.fleet)
            self._add(self.dev)
            for ns in (self.fleet, self.dev):
                _ip("-n", ns, "link", "set", "lo", "up")
            # Made inside the fleet namespace, its peer goes straight into the dev namespace.
            _ip("-n", self.fleet, "link", "add", FLEET_VETH, "type", "veth",
                "peer", "name", DEV_VETH, "netns", self.dev)  # fmt: skip
            _ip("-n", self.fleet, "addr", "add", f"{self.fleet_addr}/24", "dev", FLEET_VETH)
            _ip("-n", self.dev, "addr", "add", f"{self.dev_addr}/24", "dev", DEV_VETH)
            _ip("-n", self.fleet, "link", "set", FLEET_VETH, "up")
            _ip("-n", self.dev, "link", "set", DEV_VETH, "up")
        except BaseException:
            self.cleanup()
            raise
        return self

    def _add(self, name: str) -> None:
        done = _ip("netns", "add", name, check=False)
        if done.returncode != 0:
            raise NetnsUnavailable(f"ip netns add is not permitted here: {done.stderr.strip()}")
        self._made.append(name)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()

    def set_link(self, up: bool) -> None:
        """Bring the device end of the veth up or down (the cut seen from the device)."""
        set_dev_link(self.dev, up)

    def cleanup(self) -> None:
        """Kill what still runs in our namespaces, then delete them; never raises."""
        for name in reversed(self._made):
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                for pid in _ip("netns", "pids", name, check=False).stdout.split():
                    with contextlib.suppress(ProcessLookupError, ValueError):
                        os.kill(int(pid), signal.SIGKILL)
        for name in reversed(self._made):
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                _ip("netns", "del", name, check=False)
        self._made.clear()
