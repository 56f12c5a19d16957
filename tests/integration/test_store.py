"""The data directory's crash safety: a swap interrupted at any point leaves one version."""

from __future__ import annotations

import os
from pathlib import Path

from wasmfleet.supervisor.store import RECORD, DeploymentStore


def make(store: DeploymentStore, dep_id: str, marker: str) -> Path:
    stage = store.new_stage(dep_id)
    (stage / "files").mkdir()
    (stage / "files" / "marker").write_text(marker)
    return store.commit(dep_id, stage, {"marker": marker})


def test_commit_replaces_and_records(tmp_path: Path) -> None:
    store = DeploymentStore(tmp_path)
    make(store, "d", "old")
    make(store, "d", "new")
    records = list(store.records())
    assert [(i, r) for i, _, r in records] == [("d", {"marker": "new"})]
    assert not [p for p in (tmp_path / "deployments").iterdir() if p.name.startswith(".")]


def test_crash_between_the_two_renames_keeps_the_old_version(tmp_path: Path) -> None:
    store = DeploymentStore(tmp_path)
    final = make(store, "d", "old")
    # Simulate a crash after "final -> trash" and before "stage -> final".
    os.rename(final, tmp_path / "deployments" / ".trash-d-1-1")
    stage = store.new_stage("d")
    (stage / RECORD).write_text('{"marker": "new"}')
    recovered = DeploymentStore(tmp_path)
    assert [r for _, _, r in recovered.records()] == [{"marker": "old"}]
    assert not list((tmp_path / "deployments").glob(".*"))


def test_crash_after_the_swap_drops_the_trash(tmp_path: Path) -> None:
    store = DeploymentStore(tmp_path)
    make(store, "d", "new")
    trash = tmp_path / "deployments" / ".trash-d-1-2"
    trash.mkdir()
    (trash / RECORD).write_text('{"marker": "old"}')
    recovered = DeploymentStore(tmp_path)
    assert [r for _, _, r in recovered.records()] == [{"marker": "new"}]
    assert not trash.exists()


def test_binaries_are_content_addressed(tmp_path: Path) -> None:
    store = DeploymentStore(tmp_path)
    sha = store.save_binary(b"\0asm-bytes")
    assert store.save_binary(b"\0asm-bytes") == sha
    assert store.load_binary(sha) == b"\0asm-bytes"
    assert len(list((tmp_path / "modules").iterdir())) == 1
