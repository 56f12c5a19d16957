"""Descriptions generated from @wasmfleet declarations read back like the hand-written ones.

Two example modules (counter: scalars; stamp: all three mount stages) get declarations added
to a copy of their C source; what core/openapi.py reads from the generated description must
be what it reads from the committed description.json. The bytes shape is checked by itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import wasmtime

from wasmfleet.core.describe import ExportInfo, describe_module
from wasmfleet.core.describe_gen import describe_declarations, is_textual
from wasmfleet.core.openapi import (
    description_operations,
    operation_mounts,
    operation_params,
    operation_response,
)
from wasmfleet.core.source_decl import parse_sources

MODULES = Path(__file__).resolve().parents[2] / "modules"

DECLARATIONS = {
    "counter": {
        "count": ["summary Adds one and returns the new value.", "returns i32"],
        "reset": ["returns i32"],
        "add": ["param n i32", "returns i32"],
    },
    "stamp": {
        "stamp": [
            "summary Write output.txt = prefix.txt + input.txt in upper case.",
            "mount prefix.txt deployment text/plain",
            "mount input.txt execution text/plain",
            "mount output.txt output text/plain",
            "returns i32",
        ],
    },
}


def declared_copy(module: str) -> str:
    """The module's C source with `// @wasmfleet` lines above each described export."""
    lines: list[str] = []
    for line in (MODULES / module / f"{module}.c").read_text().splitlines():
        for function, declarations in DECLARATIONS[module].items():
            if line.strip() == f'WASMIOT_EXPORT("{function}")':
                lines.append(f"// @wasmfleet function {function}")
                lines.extend(f"// @wasmfleet {d}" for d in declarations)
        lines.append(line)
    return "\n".join(lines) + "\n"


def read_back(doc: dict[str, Any]) -> dict[str, Any]:
    """What core/openapi.py reads from a description, per function (schema types only)."""
    found = {}
    for name, (method, op) in description_operations(doc).items():
        media, schema = operation_response(op)
        found[name] = {
            "method": method,
            "params": [(p.name, p.schema_type) for p in operation_params(op, name)],
            "response": (media, schema.get("type"), schema.get("format") == "binary"),
            "mounts": operation_mounts(op, name),
        }
    return found


def exports_of(module: str) -> dict[str, ExportInfo]:
    """The exported functions of the committed binary, as core.describe takes them."""
    engine = wasmtime.Engine()
    wasm = wasmtime.Module(engine, (MODULES / module / f"{module}.wasm").read_bytes())
    found = {}
    for export in wasm.exports:
        if isinstance(export.type, wasmtime.FuncType):
            ty = export.type
            found[export.name] = ExportInfo(
                export.name, tuple(map(str, ty.params)), tuple(map(str, ty.results))
            )
    return found


@pytest.mark.parametrize("module", sorted(DECLARATIONS))
def test_generated_description_reads_back_as_the_hand_written_one(module: str) -> None:
    text = declared_copy(module)
    assert text.count("@wasmfleet function") == len(DECLARATIONS[module])
    declared = parse_sources({f"{module}.c": text})
    generated = describe_declarations(declared, module, "1.0.0")
    hand_written = json.loads((MODULES / module / "description.json").read_text())
    assert read_back(generated) == read_back(hand_written)
    assert list(read_back(generated)) == list(DECLARATIONS[module])  # source order


@pytest.mark.parametrize("module", sorted(DECLARATIONS))
def test_generated_description_is_accepted_by_the_upload_check(module: str) -> None:
    declared = parse_sources({f"{module}.c": declared_copy(module)})
    generated = describe_declarations(declared, module, "1.0.0")
    data_files = {"prefix.txt"} if module == "stamp" else set()
    checked = describe_module(module, generated, exports_of(module), data_files)
    assert set(description_operations(checked)) == set(DECLARATIONS[module])


def test_paths_and_schemas_have_the_hand_written_shape() -> None:
    declared = parse_sources({"counter.c": declared_copy("counter")})
    doc = describe_declarations(declared, "counter", "2.1.0", "Counts.")
    assert doc["openapi"] == "3.0.3"
    assert doc["info"] == {"title": "counter", "version": "2.1.0", "description": "Counts."}
    item = doc["paths"]["/{deployment}/modules/{module}/add"]
    assert [p["name"] for p in item["parameters"]] == ["deployment", "module"]
    op = item["get"]
    assert op["operationId"] == "add"
    assert op["parameters"] == [
        {"name": "n", "in": "query", "required": True, "schema": {"type": "integer"}}
    ]
    assert op["responses"]["200"]["content"] == {
        "application/json": {"schema": {"type": "integer"}}
    }
    assert op["x-mounts"] == []
    assert "x-bytes" not in op and "requestBody" not in op


BYTES = """\
// @wasmfleet function check
// @wasmfleet summary An alert when a reading is over the limit.
// @wasmfleet param reading bytes application/json
// @wasmfleet returns bytes application/json
// @wasmfleet function celsius
// @wasmfleet param reading bytes text/plain
// @wasmfleet returns f32
// @wasmfleet function thumbnail
// @wasmfleet param image bytes image/png
// @wasmfleet returns bytes image/jpeg
// @wasmfleet function store
// @wasmfleet param data bytes
"""


def test_bytes_functions_have_a_raw_request_body_and_x_bytes() -> None:
    doc = describe_declarations(parse_sources({"t.c": BYTES}), "t", "1.0.0")
    ops = description_operations(doc)
    check = ops["check"][1]
    assert ops["check"][0] == "POST"
    assert check["parameters"] == []
    assert check["requestBody"] == {
        "required": True,
        "content": {"application/json": {"schema": {"type": "string"}}},
    }
    assert check["x-bytes"] == {"input": "application/json", "output": "application/json"}
    assert check["x-wasmfleet-abi"] == "bytes"
    assert check["responses"]["200"]["content"] == {
        "application/json": {"schema": {"type": "string"}}
    }
    assert check["summary"] == "An alert when a reading is over the limit."
    celsius = ops["celsius"][1]
    assert celsius["x-bytes"] == {"input": "text/plain", "output": None}
    assert celsius["responses"]["200"]["content"] == {
        "application/json": {"schema": {"type": "number"}}
    }
    thumbnail = ops["thumbnail"][1]
    assert thumbnail["requestBody"]["content"] == {
        "image/png": {"schema": {"type": "string", "format": "binary"}}
    }
    assert thumbnail["responses"]["200"]["content"] == {
        "image/jpeg": {"schema": {"type": "string", "format": "binary"}}
    }
    store = ops["store"][1]
    assert store["x-bytes"] == {"input": "application/octet-stream", "output": None}
    assert "content" not in store["responses"]["200"]
    # core/openapi.py sees no query parameters and no mounts (the body is not multipart)
    for _, op in ops.values():
        assert operation_params(op, "f") == ()
        assert operation_mounts(op, "f") == ()


def test_an_output_mount_is_the_response() -> None:
    doc = describe_declarations(
        parse_sources(
            {
                "c.c": "// @wasmfleet function snap\n// @wasmfleet returns i32\n"
                "// @wasmfleet mount image.jpeg output image/jpeg\n"
            }
        ),
        "c",
        "1.0.0",
    )
    method, op = description_operations(doc)["snap"]
    assert method == "GET"
    assert operation_response(op) == ("image/jpeg", {"type": "string", "format": "binary"})


@pytest.mark.parametrize(
    ("media", "textual"),
    [
        ("text/plain", True),
        ("text/csv; charset=utf-8", True),
        ("application/json", True),
        ("application/ld+json", True),
        ("image/jpeg", False),
        ("application/octet-stream", False),
    ],
)
def test_textual_media(media: str, textual: bool) -> None:
    assert is_textual(media) is textual
