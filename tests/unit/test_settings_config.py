"""One precedence (flag > environment > config file > default), config-file mistakes as one
sentence and exit status 2, and docs/configuration.md in step with the declarations."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from wasmfleet.cli.main import app
from wasmfleet.cli.settings_command import settings_command
from wasmfleet.cli.settings_doc import render
from wasmfleet.core.errors import ConfigurationError
from wasmfleet.orchestrator.settings import OrchestratorSettings
from wasmfleet.service.settings import config_values, load_settings
from wasmfleet.supervisor.settings import SupervisorSettings

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
MiB = 1024 * 1024


def loaded_by_cli(cls: type, args: list[str], env: dict[str, str] | None = None) -> tuple[Any, Any]:
    """(the settings a generated command loaded, the CliRunner result)."""
    seen: list[Any] = []
    probe = typer.Typer()
    probe.command()(settings_command(cls, seen.append, name="probe", doc="Probe."))
    result = CliRunner().invoke(probe, args, env=env)
    return (seen[0] if seen else None), result


def test_flag_beats_environment_beats_config_file_beats_default(tmp_path: Path) -> None:
    config = tmp_path / "sup.toml"
    config.write_text('port = 6000\nname = "from-file"\nhistory-size = 7\n')
    env = {"WASMFLEET_PORT": "7000", "WASMFLEET_NAME": "from-env"}
    clear = {"WASMFLEET_PORT": "", "WASMFLEET_NAME": "", "WASMFLEET_CONFIG": ""}

    both, _ = loaded_by_cli(SupervisorSettings, ["--config", str(config), "--port", "8000"], env)
    assert (both.port, both.name, both.history_size) == (8000, "from-env", 7)
    no_flag, _ = loaded_by_cli(SupervisorSettings, ["--config", str(config)], env)
    assert (no_flag.port, no_flag.name) == (7000, "from-env")
    file_only, _ = loaded_by_cli(SupervisorSettings, ["--config", str(config)], clear)
    assert (file_only.port, file_only.name, file_only.history_size) == (6000, "from-file", 7)
    nothing, _ = loaded_by_cli(SupervisorSettings, [], clear)
    assert (nothing.port, nothing.history_size) == (5000, 1000)


def test_the_config_file_can_come_from_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "orch.toml"
    config.write_text('keep-logs-for = "12h"\nmax-request-size = "1MiB"\nmonitor-tick = 0.5\n')
    env = {"WASMFLEET_ORCHESTRATOR_CONFIG": str(config)}
    settings = load_settings(OrchestratorSettings, env=env)
    assert settings.keep_logs_for_s == 12 * 3600
    assert settings.max_request_bytes == MiB and settings.monitor_tick_s == 0.5
    flagged = load_settings(OrchestratorSettings, env=env, flags={"monitor_tick_s": 0.2})
    assert flagged.monitor_tick_s == 0.2
    other = tmp_path / "other.toml"
    other.write_text("monitor-tick = 0.3\n")
    assert load_settings(OrchestratorSettings, env=env, config=other).monitor_tick_s == 0.3


def test_the_first_variable_wins_over_the_wasmiot_name() -> None:
    env = {"WASMIOT_SUPERVISOR_PORT": "5100", "WASMIOT_ORCHESTRATOR_URL": "http://o:3000"}
    wasmiot = SupervisorSettings.load(env=env)
    assert (wasmiot.port, wasmiot.orchestrator_url) == (5100, "http://o:3000")
    assert SupervisorSettings.load(env={**env, "WASMFLEET_PORT": "5200"}).port == 5200


def test_the_body_limit_sentence_names_each_services_own_flag_and_variable() -> None:
    assert SupervisorSettings().body_limit.setting == (
        "--max-request-size or WASMFLEET_MAX_REQUEST_SIZE"
    )
    assert OrchestratorSettings().body_limit.setting == (
        "--max-request-size or WASMFLEET_ORCHESTRATOR_MAX_REQUEST_SIZE"
    )
    assert OrchestratorSettings.load(
        env={"WASMFLEET_ORCHESTRATOR_MAX_REQUEST_SIZE": "2MiB"}
    ).body_limit.max_bytes == (2 * MiB)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('max-request-bytes = "1MiB"', ["'max-request-bytes'", "did you mean 'max-request-size'"]),
        ("[supervisor]\nport = 1", ["'supervisor'", "is not a table wasmfleet knows"]),
        ('port = "5000"', ["port in", "must be a whole number", "text ('5000')"]),
        ("port = 0", ["port in", "must be between 1 and 65535, got 0"]),
        ("mdns = 1", ["mdns in", "must be true or false, got a number (1)"]),
        ('max-request-size = "lots"', ["max-request-size in", "a size such as 256Mi"]),
        ('camera = "usb"', ["camera in", "auto, simulated, opencv or none", "'usb'"]),
        ("labels = [1, 2]", ["labels in", "list of key=value strings"]),
        ('capacity = {cores = "many"}', ["capacity in", "cores must be a whole number"]),
        ("port = 1\nport = 2", ["is not valid TOML"]),
        ("port = 1\nPORT = 2", ["'PORT'", "did you mean 'port'"]),  # keys are case-sensitive
        ("heartbeat-interval = 1\nheartbeat_interval = 2", ["gives heartbeat-interval twice"]),
    ],
)
def test_config_file_mistakes_are_one_sentence_naming_the_key_and_the_file(
    tmp_path: Path, text: str, words: list[str]
) -> None:
    config = tmp_path / "sup.toml"
    config.write_text(text + "\n")
    with pytest.raises(ConfigurationError) as info:
        load_settings(SupervisorSettings, env={}, config=config)
    message = info.value.message
    assert str(config) in message, message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


def test_a_missing_or_unreadable_file_is_a_sentence(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_settings(SupervisorSettings, env={}, config=tmp_path / "nope.toml")
    with pytest.raises(ConfigurationError, match="is a folder"):
        load_settings(SupervisorSettings, env={}, config=tmp_path)
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigurationError, match=r"not (valid TOML|UTF-8)"):
        load_settings(SupervisorSettings, env={}, config=binary)


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"WASMFLEET_PORT": "http"}, ["WASMFLEET_PORT must be a whole number", "'http'"]),
        ({"WASMFLEET_MDNS": "maybe"}, ["WASMFLEET_MDNS must be true or false"]),
        ({"WASMFLEET_HISTORY_SIZE": "0"}, ["WASMFLEET_HISTORY_SIZE must be at least 1, got 0"]),
        ({"WASMFLEET_ORCHESTRATOR": "orch:3000"}, ["WASMFLEET_ORCHESTRATOR must start with"]),
        ({"WASMFLEET_NAME": "bad name"}, ["WASMFLEET_NAME must be 1-63 letters"]),
    ],
)
def test_a_bad_variable_is_named(env: dict[str, str], words: list[str]) -> None:
    with pytest.raises(ConfigurationError) as info:
        SupervisorSettings.load(env=env)
    for word in words:
        assert word in info.value.message


@pytest.mark.parametrize("command", ["supervisor", "orchestrator"])
def test_the_services_exit_2_with_the_sentence_and_no_traceback(
    command: str, tmp_path: Path
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("prot = 5000\n")
    result = CliRunner().invoke(app, [command, "--config", str(config)])
    assert result.exit_code == 2, result.output
    assert f"error: 'prot' in {config} is not a key wasmfleet knows; did you mean 'port'?" in (
        result.stderr
    )
    assert "Traceback" not in result.output + result.stderr
    flagged = CliRunner().invoke(app, [command, "--log-format", "yaml"])
    assert flagged.exit_code == 2
    assert "--log-format must be text or json, got 'yaml'." in flagged.stderr


def test_the_orchestrator_refuses_settings_that_only_work_together() -> None:
    with pytest.raises(ConfigurationError, match="suspect phi must be below the phi threshold"):
        OrchestratorSettings.load(env={}, overrides={"suspect_phi": 9.0})
    with pytest.raises(ConfigurationError, match=r"the lease \(2 s\) must be between 0"):
        OrchestratorSettings.load(env={}, overrides={"lease_s": 2.0})
    with pytest.raises(ConfigurationError, match="--database-url must start with sqlite://"):
        OrchestratorSettings.load(env={}, overrides={"database_url": "mysql://x"})
    with pytest.raises(ConfigurationError) as info:
        OrchestratorSettings.load(env={"WASMFLEET_DATABASE_URL": "mysql://root:s3cret@db/x"})
    assert "'mysql://root:***@db/x'" in info.value.message and "s3cret" not in info.value.message


def test_the_doc_lists_every_setting_as_declared() -> None:
    text = DOC.read_text()
    assert render(text) == text, (
        "docs/configuration.md is out of date: run "
        "`.venv/bin/python -m wasmfleet.cli.settings_doc docs/configuration.md`"
    )


@pytest.mark.parametrize("name", ["supervisor", "orchestrator", "client"])
def test_the_docs_example_config_files_load(name: str, tmp_path: Path) -> None:
    from wasmfleet.cli.client import ClientSettings

    cls = {"supervisor": SupervisorSettings, "orchestrator": OrchestratorSettings}.get(
        name, ClientSettings
    )
    match = re.search(rf"<!-- example:{name} -->\n```toml\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert match, f"no example:{name} block in {DOC}"
    table = tomllib.loads(match.group(1))
    values = config_values(cls, table, DOC)
    assert len(values) == len(table) >= 2
    cls(**values).validate() if hasattr(cls, "validate") else cls(**values)


def test_the_supervisor_settings_path_imports_no_pydantic_numpy_or_rich(tmp_path: Path) -> None:
    config = tmp_path / "sup.toml"
    config.write_text('name = "probe"\nlabels = {zone = "lab"}\n')
    code = (
        "import sys\n"
        "import wasmfleet.cli.supervisor\n"
        "from wasmfleet.supervisor.settings import SupervisorSettings\n"
        f"SupervisorSettings.load(env={{}}, config={str(config)!r})\n"
        "heavy = {'pydantic', 'pydantic_settings', 'numpy', 'rich', 'pygments'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
