"""The files around one call, shared by the supervisor (supervisor/call_job.py) and the local
runner (authoring/runner.py): which request files go to which execution mount, writing them
into the module's directory, finding the output file a call wrote, and the bytes ABI's
output as text or as a file.

No HTTP and no threads here: the callers decide where a call runs; this is what happens in
the module's directory before and after it.
"""

from __future__ import annotations

import base64
import mimetypes
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from wasmfleet.core.errors import ExecutionFailed, InvalidMount
from wasmfleet.core.models import JSON_MEDIA_TYPES, FunctionSpec
from wasmfleet.core.names import check_file_name

HTTP_HOW = "as multipart parts (e.g. curl -F {mount}=@./{mount})"
"""How a caller over HTTP gives a mount's file (``mount_files``' ``how``)."""
OutputSnapshot = dict[str, int]
"""File name -> mtime (ns) of a module's directory, to tell which file a call wrote."""


def mount_files(
    module: str,
    function: str,
    declared: frozenset[str],
    files: Mapping[str, bytes],
    how: str = HTTP_HOW,
) -> dict[str, bytes]:
    """The call's files by the execution mount each goes to; InvalidMount names what is wrong
    (``how`` says how to give a missing one; ``{mount}`` is its name)."""
    if len(files) == 1 and len(declared) == 1 and not files.keys() & declared:
        # One file for the one mount, under another name: an original wasmiot supervisor
        # forwards a result named after its own output mount (camera's image.jpeg to a
        # function reading image.jpg).
        (name, data), (mount,) = next(iter(files.items())), declared
        check_file_name(name, what="mount name")
        return {mount: data}
    for name in files:
        check_file_name(name, what="mount name")
        if name not in declared:
            raise InvalidMount(
                f"File {name!r} is not an execution mount of {module}.{function} "
                f"(it accepts: {', '.join(sorted(declared)) or 'no files'})."
            )
    missing = sorted(declared - files.keys())
    if missing:
        raise InvalidMount(
            f"{module}.{function} needs the file(s) "
            f"{', '.join(repr(m) for m in missing)} {how.format(mount=missing[0])}."
        )
    return dict(files)


def write_inputs(workdir: Path, files: Mapping[str, bytes]) -> None:
    """Write the call's execution-mount files into the module's directory."""
    for name, data in files.items():
        (workdir / name).write_bytes(data)


def before_call(workdir: Path, fn: FunctionSpec, output_mount: str | None) -> OutputSnapshot | None:
    """Prepare the directory for a call that returns a file: remove the stale output mount,
    or (no output mount declared) remember what is there to find what the call wrote."""
    if not fn.returns_file:
        return None
    if output_mount is not None:
        (workdir / output_mount).unlink(missing_ok=True)
        return None
    return snapshot(workdir)


def output_after_call(
    workdir: Path,
    fn: FunctionSpec,
    output_mount: str | None,
    before: OutputSnapshot | None,
    value: Any,
) -> str:
    """The output file a call that returns a file wrote; ExecutionFailed when there is none."""
    output = output_mount or written_file(workdir, before or {}, fn.response_media_type)
    if output is None or not (workdir / output).is_file():
        raise ExecutionFailed(
            f"{fn.module}.{fn.name} returned {value!r} but did not write "
            f"its output file {output or '(' + fn.response_media_type + ')'}."
        )
    return output


def snapshot(workdir: Path) -> OutputSnapshot:
    """The files of a module's directory and their modification times."""
    return {p.name: p.stat().st_mtime_ns for p in workdir.iterdir() if p.is_file()}


def written_file(workdir: Path, before: OutputSnapshot, media_type: str) -> str | None:
    """The file a call wrote, for functions that declare a file result but no output mount."""
    changed = [name for name, mtime in snapshot(workdir).items() if before.get(name) != mtime]
    if len(changed) > 1:
        extensions = set(mimetypes.guess_all_extensions(media_type.split(";")[0].strip()))
        matching = [name for name in changed if Path(name).suffix.lower() in extensions]
        changed = matching or changed
    return sorted(changed)[0] if changed else None


def is_textual(media_type: str | None) -> bool:
    """True for media a bytes-ABI output is answered as text (``text/*``, JSON)."""
    media = (media_type or "").split(";")[0].strip().lower()
    return media.startswith("text/") or media in JSON_MEDIA_TYPES or media.endswith("+json")


def bytes_output_name(fn: FunctionSpec, output_mount: str | None) -> str:
    """The file a bytes-ABI function's binary output is kept in: its output mount, else
    ``<function>.out`` with the extension of its output media type."""
    if output_mount is not None:
        return output_mount
    media = (fn.bytes_output or "").split(";")[0].strip().lower()
    suffix = {"image/jpeg": ".jpg"}.get(media) or mimetypes.guess_extension(media) or ".bin"
    return f"{fn.name}.out{suffix}"


def keep_bytes_output(
    workdir: Path, fn: FunctionSpec, output_mount: str | None, value: Any
) -> str | None:
    """For a bytes-ABI function whose output media is not text, write its output buffer into
    the module's directory and return the file's name; None when the output is answered as
    text (or the function returned a scalar, or no output)."""
    if not isinstance(value, bytes) or fn.bytes_output is None or is_textual(fn.bytes_output):
        return None
    name = bytes_output_name(fn, output_mount)
    (workdir / name).write_bytes(value)
    return name


def bytes_as_text(value: bytes) -> str:
    """A bytes-ABI output as a result string: UTF-8, else ``base64:`` and the base64."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(value).decode("ascii")
