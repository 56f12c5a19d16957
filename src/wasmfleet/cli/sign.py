"""``wasmfleet key generate`` and ``wasmfleet module sign|verify``: Ed25519-signed modules.

The signature goes inside the ``.wasm`` (core/signing.py; docs/signing.md). ``cryptography``
is imported only when one of these commands runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from wasmfleet.cli.client import fail
from wasmfleet.core.errors import ConfigurationError, SignatureInvalid

T = TypeVar("T")
key_app = typer.Typer(name="key", help="Make Ed25519 keys that sign modules.", no_args_is_help=True)

DataOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--data",
        help="A data file of the module NAME=FILE, covered by the signature (repeatable).",
    ),
]


@key_app.command("generate")
def generate(
    out: Annotated[
        Path, typer.Option(help="Writes OUT.key (private, mode 0600) and OUT.pub (public).")
    ],
    force: Annotated[bool, typer.Option(help="Overwrite existing key files.")] = False,
) -> None:
    """Make a new signing key pair: OUT.key signs modules, OUT.pub is what devices trust."""
    from wasmfleet.core.signing_keys import generate_key

    private, public = _with_suffix(out, ".key"), _with_suffix(out, ".pub")
    for path in (private, public):
        if path.exists() and not force:
            fail(f"{path} exists; pick another --out or pass --force to replace it.")
    key = generate_key()
    try:
        private.unlink(missing_ok=True)
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key.pem())
        public.write_bytes(key.public.pem())
    except OSError as err:
        fail(f"Could not write the key files: {err.strerror} ({err.filename}).")
    typer.echo(f"private key {private} (keep it secret; it signs modules)")
    typer.echo(f"public key  {public} (give it to supervisors: --trusted-key {public})")
    typer.echo(f"key id      {key.key_id}")


def sign_command(
    wasm: Annotated[Path, typer.Argument(help="The .wasm file.", dir_okay=False)],
    key: Annotated[Path, typer.Option(help="The private key (NAME.key).", dir_okay=False)],
    data: DataOpt = None,
    out: Annotated[
        Path | None, typer.Option(help="Write the signed module here (default: in place).")
    ] = None,
) -> None:
    """Sign a module with an Ed25519 key; the signature (over the module and its data
    files) goes into the .wasm, replacing an older one."""
    from wasmfleet.core.signing import sign_module
    from wasmfleet.core.signing_keys import private_key_from_pem

    binary = _read(wasm, "the module")
    signing_key = _load(private_key_from_pem, _read(key, "the key"), str(key))
    files = _data_files(data)
    try:
        signed = sign_module(binary, signing_key, files)
    except SignatureInvalid as err:
        fail(err.message)
    target = out or wasm
    tmp = target.with_name(target.name + ".signing")
    try:
        tmp.write_bytes(signed)
        tmp.replace(target)
    except OSError as err:
        fail(f"Could not write {target}: {err.strerror}.")
    covered = f" and {len(files)} data file(s) ({', '.join(sorted(files))})" if files else ""
    typer.echo(f"signed {target} with key {signing_key.key_id}{covered}")


def verify_command(
    wasm: Annotated[Path, typer.Argument(help="The .wasm file.", dir_okay=False)],
    pub: Annotated[list[Path], typer.Option(help="A trusted public key NAME.pub (repeatable).")],
    data: DataOpt = None,
) -> None:
    """Check a module's signature against trusted public keys (and its data files against
    what was signed); exit 1 with the reason when it does not verify."""
    from wasmfleet.core.signing import check_files, file_digests, verify_module
    from wasmfleet.core.signing_keys import public_key_from_pem

    trusted = {}
    for path in pub:
        text = _read(path, "the key")
        key = _load(public_key_from_pem, text, str(path))
        trusted[key.key_id] = key
    binary = _read(wasm, "the module")
    try:
        found = verify_module(binary, trusted, f"module {wasm.name}")
        check_files(found, file_digests(_data_files(data)), f"module {wasm.name}")
    except SignatureInvalid as err:
        fail(err.message)
    signed_files = ", ".join(sorted(found.manifest.files)) or "none"
    typer.echo(f"{wasm}: signature by key {found.key_id} verifies")
    typer.echo(f"signed data files: {signed_files}")


def _with_suffix(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        fail(f"Could not read {what} {path}: {err.strerror}.")


def _load(make: Callable[[bytes, str], T], text: bytes, what: str) -> T:
    """A key parsed by ``make``; a bad one ends the command with its sentence."""
    try:
        return make(text, what)
    except ConfigurationError as err:
        fail(err.message)


def _data_files(values: list[str] | None) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for value in values or []:
        name, sep, path = value.partition("=")
        if not sep or not name.strip() or not path:
            raise typer.BadParameter(f"{value!r} is not NAME=FILE.", param_hint="--data")
        files[name.strip()] = _read(Path(path), f"data file {name.strip()!r}")
    return files
