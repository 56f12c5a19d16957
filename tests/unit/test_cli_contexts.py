"""CLI contexts: the file, which context applies, and the precedence flag > env > context >
client.toml > default for the orchestrator URL, the CA file and the token file."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from wasmfleet.cli import client as client_module
from wasmfleet.cli.client import DEFAULT_URL, Client, base_url
from wasmfleet.cli.context_file import Context, Contexts, contexts_path, name_for, tokens_dir
from wasmfleet.cli.local_ca import make_local_tls
from wasmfleet.cli.main import register

Seen = list[tuple[str, str | None]]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh XDG_CONFIG_HOME, no WASMFLEET_* settings, no global flags."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for name in list(os.environ):
        if name.startswith("WASMFLEET_"):
            monkeypatch.delenv(name)
    monkeypatch.setattr(client_module, "global_flags", {})
    monkeypatch.setattr(client_module, "ca_file_flag", None)
    yield tmp_path / "config" / "wasmfleet"


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> Seen:
    """Every request's URL and Authorization header, answered 200 {}."""
    calls: Seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append((str(request.url), request.headers.get("authorization")))
        return httpx.Response(200, json={})

    monkeypatch.setattr(client_module, "transport", httpx.MockTransport(handler))
    return calls


def _token(path: Path, token: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(token + "\n")
    return path


def _contexts(home: Path, current: str | None, *items: Context) -> None:
    contexts = Contexts(contexts_path(), current, {c.name: c for c in items})
    contexts.save()


def test_the_file_round_trips_and_is_private(home: Path) -> None:
    ca = home / 'odd "ca" file.pem'
    _contexts(
        home,
        "lab",
        Context("lab", "https://lab:3000", ca, home / "tokens" / "lab.token"),
        Context("up", "http://127.0.0.1:3001"),
    )
    path = contexts_path()
    assert path == home / "contexts.toml"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    back = Contexts.load()
    assert back.current == "lab" and sorted(back.items) == ["lab", "up"]
    assert back.items["lab"].ca_file == ca
    assert back.items["up"].token_file is None
    assert name_for("https://lab.example:3000/") == "lab.example-3000"


def test_a_broken_contexts_file_is_a_sentence_and_exit_2(
    home: Path, seen: Seen, capsys: pytest.CaptureFixture[str]
) -> None:
    home.mkdir(parents=True)
    (home / "contexts.toml").write_text('[contexts.x]\norchestrator = "ftp://nope"\n')
    with pytest.raises(typer.Exit) as exit_info:
        Client().get("/x")
    assert exit_info.value.exit_code == 2
    assert "context 'x' in" in capsys.readouterr().err


def test_precedence_flag_env_context_config_default(
    home: Path, seen: Seen, monkeypatch: pytest.MonkeyPatch
) -> None:
    # default
    Client().get("/x")
    # client.toml
    home.mkdir(parents=True)
    (home / "client.toml").write_text('orchestrator = "http://from-config:1"\n')
    Client().get("/x")
    # the current context wins over client.toml, and sends its token
    ctx_token = _token(home / "tokens" / "lab.token", "wf_context")
    _contexts(home, "lab", Context("lab", "http://from-context:2", None, ctx_token))
    Client().get("/x")
    # the environment wins over the context (another orchestrator: its token is not sent)
    monkeypatch.setenv("WASMFLEET_ORCHESTRATOR", "http://from-env:3")
    Client().get("/x")
    # the environment naming the context's own orchestrator keeps the context
    monkeypatch.setenv("WASMFLEET_ORCHESTRATOR", "http://from-context:2/")
    Client().get("/x")
    # the flag wins over everything
    Client("http://from-flag:4").get("/x")
    assert seen == [
        (f"{DEFAULT_URL}/x", None),
        ("http://from-config:1/x", None),
        ("http://from-context:2/x", "Bearer wf_context"),
        ("http://from-env:3/x", None),
        ("http://from-context:2/x", "Bearer wf_context"),
        ("http://from-flag:4/x", None),
    ]


def test_token_precedence_with_a_context(
    home: Path, seen: Seen, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx_token = _token(home / "tokens" / "lab.token", "wf_context")
    _contexts(home, "lab", Context("lab", "http://lab:1", None, ctx_token))
    _token(home / "token", "wf_default_file")
    Client().get("/a")  # the context's token file beats ~/.config/wasmfleet/token
    env_file = _token(home.parent / "env.token", "wf_env_file")
    monkeypatch.setenv("WASMFLEET_TOKEN_FILE", str(env_file))
    Client().get("/b")  # WASMFLEET_TOKEN_FILE beats the context
    flag_file = _token(home.parent / "flag.token", "wf_flag_file")
    monkeypatch.setattr(client_module, "global_flags", {"token_file": str(flag_file)})
    Client().get("/c")  # --token-file beats WASMFLEET_TOKEN_FILE
    monkeypatch.setenv("WASMFLEET_TOKEN", "wf_env")
    Client().get("/d")  # WASMFLEET_TOKEN beats every file
    assert [auth for _, auth in seen] == [
        "Bearer wf_context",
        "Bearer wf_env_file",
        "Bearer wf_flag_file",
        "Bearer wf_env",
    ]


def test_context_chosen_by_flag_then_env_then_current(
    home: Path, seen: Seen, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _contexts(
        home,
        "a",
        Context("a", "http://a:1"),
        Context("b", "http://b:2"),
        Context("c", "http://c:3"),
    )
    assert base_url(None) == "http://a:1"
    monkeypatch.setenv("WASMFLEET_CONTEXT", "b")
    assert base_url(None) == "http://b:2"
    monkeypatch.setattr(client_module, "global_flags", {"context": "c"})
    assert base_url(None) == "http://c:3"
    monkeypatch.setattr(client_module, "global_flags", {"context": "nope"})
    with pytest.raises(typer.Exit) as exit_info:
        base_url(None)
    assert exit_info.value.exit_code == 2
    assert "There is no context 'nope'" in capsys.readouterr().err


def test_the_context_ca_file_is_used_for_its_orchestrator(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = make_local_tls(home.parent / "tls").ca
    _contexts(home, "lab", Context("lab", "https://lab:1", ca))
    assert client_module._settings(None) == ("https://lab:1", ca)
    other = make_local_tls(home.parent / "other").ca
    monkeypatch.setenv("WASMFLEET_CA_FILE", str(other))
    assert client_module._settings(None) == ("https://lab:1", other)  # env wins
    monkeypatch.delenv("WASMFLEET_CA_FILE")
    assert client_module._settings("https://elsewhere:2") == ("https://elsewhere:2", None)


def test_context_commands_use_ls_rm_and_logout(home: Path) -> None:
    token = _token(tokens_dir() / "lab.token", "wf_lab")
    given = _token(home.parent / "mine.token", "wf_mine")
    _contexts(
        home,
        "lab",
        Context("lab", "http://lab:1", None, token),
        Context("up", "http://up:2", None, given),
    )
    runner = CliRunner()
    app = register()
    listed = runner.invoke(app, ["context", "ls"])
    assert listed.exit_code == 0
    assert any(line.startswith("*  lab") for line in listed.output.splitlines()), listed.output
    assert runner.invoke(app, ["context", "use", "up"]).exit_code == 0
    assert Contexts.load().current == "up"
    missing = runner.invoke(app, ["context", "use", "nope"])
    assert missing.exit_code == 2 and "There is no context 'nope'" in missing.output
    # logout forgets the token; a file login did not write is left alone
    assert runner.invoke(app, ["logout"]).exit_code == 0
    assert Contexts.load().items["up"].token_file is None and given.exists()
    # rm deletes the token file login wrote, and the context
    assert runner.invoke(app, ["context", "rm", "lab"]).exit_code == 0
    assert not token.exists() and "lab" not in Contexts.load().items


def test_login_takes_no_token_value_on_the_command_line() -> None:
    runner = CliRunner()
    refused = runner.invoke(register(), ["login", "http://x:1", "--token", "wf_secret"])
    assert refused.exit_code == 2  # --token is a switch: the value is an unexpected argument
    shown = runner.invoke(register(), ["login", "--help"], env={"COLUMNS": "200"})
    words = " ".join(shown.output.replace("│", " ").split())
    assert "a token is never put on the command line, where ps shows it" in words, words
