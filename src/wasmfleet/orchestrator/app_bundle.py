"""App bundles: one file (tar.gz or zip) holding an app manifest and the modules it brings.

At the bundle's root (or inside one top folder, as archiving a folder makes it): ``app.yaml``
or ``app.json`` (the manifest), ``<module>.wasm`` for modules that are not stored yet (pushed
as versions of ``<module>``), and an optional ``<module>.json`` describing its functions (as
``POST /api/v1/modules/{key}/description`` takes). Other files are ignored. Reading is bounded:
at most ``MAX_MEMBERS`` entries and ``max_bytes`` unpacked in all, so a small archive cannot
expand into a large one.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from dataclasses import dataclass, field

import orjson

from wasmfleet.core.errors import InvalidDocument, PayloadTooLarge
from wasmfleet.core.names import is_safe_name

MAX_MEMBERS = 256
MANIFEST_NAMES = ("app.yaml", "app.yml", "app.json")


@dataclass(frozen=True, slots=True)
class Bundle:
    """What a bundle holds: the manifest text, module binaries and their descriptions."""

    manifest: str
    wasm: dict[str, bytes] = field(default_factory=dict)
    descriptions: dict[str, object] = field(default_factory=dict)


def is_bundle(data: bytes) -> bool:
    """Whether ``data`` starts like a gzip or zip file."""
    return data.startswith((b"\x1f\x8b", b"PK\x03\x04"))


def read_bundle(data: bytes, max_bytes: int) -> Bundle:
    """Unpack a tar.gz or zip bundle; InvalidDocument says what is wrong with it."""
    files = _zip(data, max_bytes) if data.startswith(b"PK") else _tar(data, max_bytes)
    files = _strip_top_folder(files)
    manifests = [n for n in MANIFEST_NAMES if n in files]
    if len(manifests) != 1:
        found = ", ".join(sorted(files)[:10]) or "nothing"
        raise InvalidDocument(
            "An app bundle holds exactly one app.yaml or app.json at its root (next to the "
            f"modules' .wasm files); this one holds {found}."
        )
    try:
        manifest = files[manifests[0]].decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidDocument(f"{manifests[0]} in the bundle is not UTF-8 text.") from None
    wasm: dict[str, bytes] = {}
    descriptions: dict[str, object] = {}
    for name, content in files.items():
        stem, dot, ext = name.rpartition(".")
        if not dot or "/" in name or name in MANIFEST_NAMES:
            continue
        if ext == "wasm":
            if not is_safe_name(stem):
                raise InvalidDocument(f"{name!r} in the bundle does not name a module.")
            wasm[stem] = content
        elif ext == "json":
            try:
                descriptions[stem] = orjson.loads(content)
            except orjson.JSONDecodeError as err:
                raise InvalidDocument(f"{name} in the bundle is not valid JSON ({err}).") from None
    stray = sorted(set(descriptions) - set(wasm))
    if stray:
        raise InvalidDocument(
            f"The bundle describes module(s) {', '.join(stray)} but holds no "
            f"{stray[0]}.wasm; add the binary or drop the description."
        )
    return Bundle(manifest, wasm, descriptions)


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The bundle unpacks to more than {max_bytes} bytes; this orchestrator accepts at "
        "most that (--max-request-size)."
    )


def _too_many() -> InvalidDocument:
    return InvalidDocument(f"The bundle has more than {MAX_MEMBERS} entries; pack fewer files.")


def _tar(data: bytes, max_bytes: int) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            for count, member in enumerate(archive):
                if count >= MAX_MEMBERS:
                    raise _too_many()
                if not member.isfile():
                    continue
                total += member.size
                if total > max_bytes:
                    raise _too_large(max_bytes)
                handle = archive.extractfile(member)
                if handle is not None:
                    out[_clean(member.name)] = handle.read(member.size + 1)[: member.size]
    except (tarfile.TarError, OSError, EOFError) as err:
        raise InvalidDocument(
            f"The bundle is not a readable tar.gz or zip file ({err}); pack it with "
            "`tar czf app.tar.gz -C FOLDER .` or let `wasmfleet app push FOLDER` do it."
        ) from None
    return out


def _zip(data: bytes, max_bytes: int) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    total = 0
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_MEMBERS:
                raise _too_many()
            for info in infos:
                if info.is_dir():
                    continue
                with archive.open(info) as handle:
                    content = handle.read(max_bytes - total + 1)
                total += len(content)
                if total > max_bytes:
                    raise _too_large(max_bytes)
                out[_clean(info.filename)] = content
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as err:
        raise InvalidDocument(f"The bundle is not a readable zip file ({err}).") from None
    return out


def _clean(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name.lstrip("/")


def _strip_top_folder(files: dict[str, bytes]) -> dict[str, bytes]:
    """Files inside one common top folder, as if they were at the root."""
    tops = {name.split("/", 1)[0] for name in files if "/" in name}
    if len(tops) == 1 and all("/" in name for name in files):
        top = tops.pop() + "/"
        return {name[len(top) :]: content for name, content in files.items()}
    return files
