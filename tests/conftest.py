"""Shared by every test: the processes tests start see Ctrl-C (SIGINT) whoever started pytest,
and no test reads or writes the developer's own CLI contexts and config."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import tempfile

if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    # A shell starts background jobs (`./run test &`, nohup) with SIGINT ignored, and an ignored
    # signal stays ignored across fork and exec: the services and CLI commands the tests stop
    # with SIGINT (as a user's Ctrl-C) would never see it and be killed after a timeout. With a
    # handler installed here, children start with SIGINT at its default again.
    signal.signal(signal.SIGINT, signal.default_int_handler)

# `wasmfleet up` makes its context current in ~/.config/wasmfleet: after a `./run demo`, a test
# expecting the default orchestrator would find the demo's instead, and the tests that run `up`
# would replace the developer's current context. Every test and every process it starts gets
# a config folder of its own (set before any test imports the CLI's settings).
_CONFIG_HOME = tempfile.mkdtemp(prefix="wasmfleet-test-config-")
os.environ["XDG_CONFIG_HOME"] = _CONFIG_HOME
atexit.register(shutil.rmtree, _CONFIG_HOME, ignore_errors=True)
for _name in ("WASMFLEET_CONTEXT", "WASMFLEET_TOKEN", "WASMFLEET_TOKEN_FILE"):
    os.environ.pop(_name, None)

# No terminal size leaks in from whoever started pytest. pytest imports readline at start (a
# workaround in its capture plugin) and GNU readline then exports COLUMNS=80 and LINES=24 into
# the C environment: os.environ does not show them, but every child inherits them — so
# pytest-xdist's workers start with COLUMNS=80 where a plain run has no COLUMNS. The CLI's rich
# console reads COLUMNS when wasmfleet.cli.output is imported: 80 columns in a worker, the piped
# width (160) in a plain run, and tables the tests read wrapped differently. Unset in both
# os.environ and the C environment (before the CLI is imported and before xdist starts its
# workers), every test process sees the same: no COLUMNS unless a test passes one.
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)
    os.unsetenv(_name)

try:  # hypothesis's default 200 ms deadline per example is a timing threshold: none on a shared
    # machine (a loaded 2-core box made a pure property test fail on time, not on its property)
    from hypothesis import settings as _hypothesis_settings

    _hypothesis_settings.register_profile("wasmfleet", deadline=None)
    _hypothesis_settings.load_profile("wasmfleet")
except ImportError:  # pragma: no cover - hypothesis is in the dev extra
    pass
