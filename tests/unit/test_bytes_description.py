"""Reading a bytes-ABI function's raw body from its description (core/openapi.py
``operation_bytes``) and carrying it into the deployment (core/deploy_doc.py)."""

from __future__ import annotations

from typing import Any

import pytest

from wasmfleet.core.deploy_doc import complete_from_description, parse_deployment
from wasmfleet.core.errors import InvalidDocument
from wasmfleet.core.openapi import operation_bytes, raw_body_media
from wasmfleet.runtime.call_io import bytes_output_name, is_textual


def op(body: str | None, response: str = "application/json", schema: str = "object") -> Any:
    made: dict[str, Any] = {
        "responses": {"200": {"content": {response: {"schema": {"type": schema}}}}}
    }
    if body is not None:
        made["requestBody"] = {"content": {body: {"schema": {"type": "string"}}}}
    return made


def test_x_bytes_says_both_media_types() -> None:
    declared = {**op(None), "x-bytes": {"input": "text/plain", "output": "image/png"}}
    assert operation_bytes(declared, "f") == ("text/plain", "image/png")
    declared = {**op(None), "x-bytes": {"input": "application/json", "output": None}}
    assert operation_bytes(declared, "f") == ("application/json", None)


@pytest.mark.parametrize(
    "bad", [["application/json"], {"output": "x"}, {"input": 3}, {"input": "a", "output": 5}]
)
def test_a_malformed_x_bytes_is_refused_with_a_sentence(bad: Any) -> None:
    with pytest.raises(InvalidDocument, match=r"x-bytes"):
        operation_bytes({**op(None), "x-bytes": bad}, "thermo.check")


def test_a_raw_request_body_without_x_bytes() -> None:
    assert operation_bytes(op("application/json"), "f") == ("application/json", "application/json")
    assert operation_bytes(op("text/plain", schema="number"), "f") == ("text/plain", None)
    assert operation_bytes(op("image/jpeg", "image/png", "string"), "f") == (
        "image/jpeg",
        "image/png",
    )


def test_forms_and_plain_operations_are_not_bytes() -> None:
    assert operation_bytes(op("multipart/form-data"), "f") == (None, None)
    assert operation_bytes(op("application/x-www-form-urlencoded"), "f") == (None, None)
    assert operation_bytes(op(None), "f") == (None, None)
    assert raw_body_media("multipart/form-data; boundary=x") is None
    assert raw_body_media("") is None
    assert raw_body_media("application/json") == "application/json"


def test_readme_deployment_and_description_carry_the_raw_body() -> None:
    check = {**op(None), "x-bytes": {"input": "application/json", "output": "application/json"}}
    body = {
        "deploymentId": "d",
        "modules": [{"id": "m", "name": "thermo", "urls": {"binary": "http://127.0.0.1/t.wasm"}}],
        "instructions": {"modules": {"thermo": {"check": {"paths": {"": {"post": check}}}}}},
    }
    fn = parse_deployment(body).functions[0]
    assert (fn.bytes_input, fn.bytes_output) == ("application/json", "application/json")
    # an orchestrator-shape endpoint says the input; the description adds the output
    orchestrator = {
        "deploymentId": "d",
        "modules": [{"id": "m", "name": "thermo", "urls": {"binary": "http://127.0.0.1/t.wasm"}}],
        "endpoints": {
            "thermo": {
                "check": {
                    "url": "http://127.0.0.1:1",
                    "path": "/d/modules/thermo/check",
                    "method": "POST",
                    "request": {"request_body": {"media_type": "text/plain"}},
                    "response": {"media_type": "image/png"},
                }
            }
        },
        "instructions": {"modules": {"thermo": {"check": {}}}},
    }
    spec = parse_deployment(orchestrator)
    assert (spec.functions[0].bytes_input, spec.functions[0].bytes_output) == ("text/plain", None)
    described = {
        "paths": {
            "/{deployment}/modules/thermo/check": {
                "post": {**op("text/plain", "image/png", "string")}
            }
        }
    }
    fn = complete_from_description(spec, "thermo", described).functions[0]
    assert (fn.bytes_input, fn.bytes_output) == ("text/plain", "image/png")


def test_textual_media_and_output_file_names() -> None:
    assert is_textual("application/json") and is_textual("text/csv; charset=utf-8")
    assert is_textual("application/ld+json")
    assert not is_textual("image/png") and not is_textual(None)
    check = parse_deployment(
        {
            "deploymentId": "d",
            "modules": [{"id": "m", "name": "t", "urls": {"binary": "http://127.0.0.1/t.wasm"}}],
            "instructions": {
                "modules": {
                    "t": {
                        "snap": {
                            "paths": {"": {"post": op("application/json", "image/jpeg", "string")}}
                        }
                    }
                }
            },
        }
    ).functions[0]
    assert bytes_output_name(check, None) == "snap.out.jpg"
    assert bytes_output_name(check, "frame.jpg") == "frame.jpg"
