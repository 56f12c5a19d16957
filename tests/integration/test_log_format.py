"""``--log-format json`` on the long-running commands: stderr holds only JSON lines, the
libraries' (amqtt, paho) included. A real ``wasmfleet broker``, ``sink`` and ``sensor``
talk to each other on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

import pytest

from tests.support import free_port, wait_until

pytestmark = pytest.mark.timeout(90)
WASMFLEET = [sys.executable, "-m", "wasmfleet"]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


class Running:
    """A wasmfleet command whose stdout and stderr lines are collected as they come."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [*WASMFLEET, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV
        )
        self.out: list[str] = []
        self.err: list[str] = []
        for stream, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._read, args=(stream, lines), daemon=True).start()

    @staticmethod
    def _read(stream: IO[str] | None, lines: list[str]) -> None:
        assert stream is not None
        for line in stream:
            lines.append(line.rstrip("\n"))

    def said(self, words: str) -> bool:
        return any(words in line for line in self.out + self.err)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=10)

    def report(self) -> str:
        return "\n".join(["--- stdout", *self.out, "--- stderr", *self.err])


def json_records(lines: list[str], report: str) -> list[dict[str, Any]]:
    """Every non-empty line as a JSON log record (fails on the first that is not one)."""
    records = []
    for line in lines:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}\n{report}") from None
        assert {"time", "level", "logger", "message"} <= set(record), line
        records.append(record)
    return records


def test_broker_sink_and_sensor_write_only_json_on_stderr(tmp_path: Path) -> None:
    port = free_port()
    url = f"mqtt://127.0.0.1:{port}"
    json_flags = ["--log-format", "json"]
    broker = Running("broker", "--port", str(port), *json_flags, "--log-level", "debug")
    sink = controller = None
    try:
        assert wait_until(lambda: broker.said("broker listening on"), 20), broker.report()
        sink = Running(
            "sink", "--broker", url, "-t", "site/#", "--dir", str(tmp_path / "objects"),
            *json_flags,
        )  # fmt: skip
        assert wait_until(lambda: sink.said("subscribed to site/#"), 20), sink.report()
        controller = Running(
            "sensor", "controller", "--topic", "site/+/commands", "--broker", url, *json_flags
        )
        assert wait_until(lambda: controller.said("controller listening"), 20), controller.report()
        simulate = subprocess.run(
            [*WASMFLEET, "sensor", "simulate", "--kind", "temperature", "--count", "3",
             "--rate", "50/s", "--topic", "site/lab/temperature", "--broker", url, *json_flags],
            capture_output=True, text=True, timeout=60, env=ENV,
        )  # fmt: skip
        assert simulate.returncode == 0, simulate.stdout + simulate.stderr
        assert "sent 3, acked 3" in simulate.stdout  # the result stays on stdout, as text
        assert wait_until(lambda: len(list((tmp_path / "objects").rglob("*"))) >= 4, 20)
    finally:
        for running in (controller, sink, broker):
            if running is not None:
                assert running.stop() == 0, running.report()

    sim_records = json_records(simulate.stderr.splitlines(), simulate.stderr)
    assert any("publishing temperature" in r["message"] for r in sim_records)
    assert sink is not None and controller is not None
    sink_records = json_records(sink.err, sink.report())
    assert {"wasmfleet.sink"} <= {r["logger"] for r in sink_records}
    ctl_records = json_records(controller.err, controller.report())
    assert [r["message"] for r in ctl_records][-1] == "received 0 commands"
    broker_records = json_records(broker.err, broker.report())
    loggers = {r["logger"].split(".")[0] for r in broker_records}
    assert "amqtt" in loggers, loggers  # a library's lines, in the same format
    assert any(r["level"] == "debug" for r in broker_records)


def test_text_stays_the_default(tmp_path: Path) -> None:
    port = free_port()
    broker = Running("broker", "--port", str(port), "--log-level", "info")
    try:
        assert wait_until(lambda: broker.said("broker listening on"), 20), broker.report()
        time.sleep(0.2)
    finally:
        assert broker.stop() == 0, broker.report()
    started = [line for line in broker.err if "embedded broker listening" in line]
    assert started and not started[0].startswith("{"), broker.report()
    assert " INFO " in started[0] and "url=mqtt://127.0.0.1:" in started[0]


def test_two_broker_threads_with_log_files_keep_their_lines_out_of_the_terminal(
    tmp_path: Path,
) -> None:
    """``up`` runs two embedded brokers with log files; stopping one must not send the
    other's lines (amqtt's loggers are shared) to the terminal."""
    import logging

    from wasmfleet.messaging.embedded import BrokerThread

    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    root = logging.getLogger()
    keep = Keep(logging.DEBUG)
    root.addHandler(keep)
    try:
        lab = BrokerThread(0, log_path=tmp_path / "broker.log", log_format="json").start()
        cloud = BrokerThread(0, log_path=tmp_path / "cloud-broker.log", log_format="json").start()
        cloud.stop()
        lab.stop()
    finally:
        root.removeHandler(keep)
    leaked = [r for r in seen if r.name.split(".")[0] in {"amqtt", "transitions"}]
    assert not leaked, [r.getMessage() for r in leaked]
    for name in ("broker.log", "cloud-broker.log"):
        lines = (tmp_path / name).read_text().splitlines()
        assert lines and all(json.loads(line)["time"] for line in lines), name
    assert "Broker closed" in (tmp_path / "broker.log").read_text()
