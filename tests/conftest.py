"""Shared by every test: the processes tests start see Ctrl-C (SIGINT) whoever started pytest."""

from __future__ import annotations

import signal

if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    # A shell starts background jobs (`./run test &`, nohup) with SIGINT ignored, and an ignored
    # signal stays ignored across fork and exec: the services and CLI commands the tests stop
    # with SIGINT (as a user's Ctrl-C) would never see it and be killed after a timeout. With a
    # handler installed here, children start with SIGINT at its default again.
    signal.signal(signal.SIGINT, signal.default_int_handler)
