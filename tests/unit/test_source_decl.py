"""The @wasmfleet declarations: what they parse to, and the sentences for what is wrong."""

from __future__ import annotations

import pytest

from wasmfleet.core.errors import InvalidDocument
from wasmfleet.core.source_decl import (
    DeclarationError,
    ParamDecl,
    Where,
    declaration_text,
    parse_sources,
)

ALARM = """\
#include "wasmiot.h"

// @wasmfleet module alarm 1.2.0
// @wasmfleet function check
// @wasmfleet summary 1 when the temperature is above the limit.
// @wasmfleet param limit f32
// @wasmfleet returns i32
WASMIOT_EXPORT("check") int32_t check(float limit);

/*
 * @wasmfleet function hot
 * @wasmfleet param reading bytes application/json
 * @wasmfleet returns bytes application/json
 */
"""


def problems(text: str, name: str = "m.c") -> list[str]:
    """The problems parse_sources reports for one file."""
    with pytest.raises(DeclarationError) as info:
        parse_sources({name: text})
    return list(info.value.problems)


@pytest.mark.parametrize(
    ("line", "rest"),
    [
        ("// @wasmfleet function f", " function f"),
        ("   /// @wasmfleet function f", " function f"),
        ("//! @wasmfleet function f", " function f"),
        (" * @wasmfleet function f", " function f"),
        ("/* @wasmfleet function f */", " function f"),
        ("/** @wasmfleet function f */", " function f"),
        ("// a comment about @wasmfleet", None),
        ("int x = 0; // @wasmfleet function f", None),
        ('"@wasmfleet function f"', None),
        ("*/", None),
    ],
)
def test_declaration_lines_are_comment_lines_starting_with_the_mark(
    line: str, rest: str | None
) -> None:
    assert declaration_text(line) == rest


def test_a_module_parses_to_its_functions_in_source_order() -> None:
    module = parse_sources({"src/alarm.c": ALARM})
    assert (module.name, module.version) == ("alarm", "1.2.0")
    check, hot = module.functions
    assert check.name == "check" and check.where == Where("src/alarm.c", 4)
    assert check.summary == "1 when the temperature is above the limit."
    assert check.params == (ParamDecl("limit", "f32", None, Where("src/alarm.c", 6)),)
    assert (check.returns, check.returns_media, check.http_method) == ("i32", None, "GET")
    assert hot.body == ParamDecl("reading", "bytes", "application/json", Where("src/alarm.c", 12))
    assert (hot.returns, hot.returns_media, hot.http_method) == (
        "bytes",
        "application/json",
        "POST",
    )


def test_defaults_no_result_get_and_octet_stream_media() -> None:
    module = parse_sources(
        {
            "a.c": "// @wasmfleet function tick\n"
            "// @wasmfleet function load\n// @wasmfleet mount model.bin deployment\n"
            "// @wasmfleet function raw\n// @wasmfleet param data bytes\n"
        }
    )
    tick, load, raw = module.functions
    assert (tick.returns, tick.params, tick.mounts, tick.http_method) == ("none", (), (), "GET")
    assert load.mounts[0].media_type == "application/octet-stream"
    assert load.http_method == "GET"  # a deployment mount needs no body
    assert raw.body is not None and raw.body.media_type == "application/octet-stream"
    assert (module.name, module.version) == (None, None)


def test_an_execution_mount_makes_post_and_method_may_be_declared() -> None:
    module = parse_sources(
        {
            "a.c": "// @wasmfleet function f\n// @wasmfleet mount in.jpg execution image/jpeg\n"
            "// @wasmfleet function g\n// @wasmfleet method post\n"
            "// @wasmfleet function h\n// @wasmfleet method GET\n"
        }
    )
    assert [f.http_method for f in module.functions] == ["POST", "POST", "GET"]


def test_functions_spread_over_files_keep_file_order() -> None:
    module = parse_sources(
        {"b.c": "// @wasmfleet function second\n", "a.c": "// @wasmfleet function first\n"}
    )
    assert [f.name for f in module.functions] == ["second", "first"]
    assert module.functions[0].where == Where("b.c", 1)


def test_no_declarations_is_an_empty_module() -> None:
    assert parse_sources({"a.c": "int main(void) { return 0; }\n"}).functions == ()


def test_a_declaration_error_is_a_bad_request_naming_file_and_line() -> None:
    with pytest.raises(InvalidDocument) as info:
        parse_sources({"src/x.c": "\n\n// @wasmfleet functoin f\n"})
    assert info.value.status == 400
    assert "src/x.c:3: unknown keyword 'functoin' (did you mean function?)" in info.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("// @wasmfleet fucntion f", "m.c:1: unknown keyword 'fucntion' (did you mean function?)"),
        ("// @wasmfleet function f\n// @wasmfleet parm n i32", "(did you mean param?)"),
        ("// @wasmfleet function f\n// @wasmfleet return i32", "(did you mean returns?)"),
        ("// @wasmfleet function f\n// @wasmfleet param n float", "'float' (did you mean f32?)"),
        ("// @wasmfleet function f\n// @wasmfleet param n double", "(did you mean f64?)"),
        ("// @wasmfleet function f\n// @wasmfleet param n i33", "'i33' (did you mean i32?)"),
        ("// @wasmfleet function f\n// @wasmfleet returns void", "'void' (did you mean none?)"),
        (
            "// @wasmfleet function f\n// @wasmfleet mount a.txt exec",
            "unknown stage 'exec' (did you mean execution?)",
        ),
        ("// @wasmfleet function f\n// @wasmfleet method put", "m.c:2: write 'method get' or"),
        ("// @wasmfleet\n", "m.c:1: @wasmfleet needs a keyword"),
        ("// @wasmfleet:function f\n", "m.c:1: write a space after @wasmfleet"),
        ("// @wasmfleet param n i32\n", "m.c:1: 'param' must follow a '@wasmfleet function NAME'"),
        ("// @wasmfleet function f-g\n", "function name 'f-g' must be letters"),
        ("// @wasmfleet function\n", "write 'function NAME'"),
        ("// @wasmfleet function f\n// @wasmfleet function f\n", "m.c:2: function f is already "),
        (
            "// @wasmfleet function f\n// @wasmfleet param n i32\n// @wasmfleet param n i64",
            "m.c:3: f already has a parameter n.",
        ),
        ("// @wasmfleet function f\n// @wasmfleet param n i32 text/plain", "only bytes and mounts"),
        (
            "// @wasmfleet function f\n// @wasmfleet param b bytes json",
            "'json' is not a media type",
        ),
        ("// @wasmfleet function f\n// @wasmfleet mount ../x execution", "plain file name"),
        ("// @wasmfleet function f\n// @wasmfleet summary", "'summary' needs a sentence"),
        (
            "// @wasmfleet function f\n// @wasmfleet returns i32\n// @wasmfleet returns i64",
            "m.c:3: f already returns at m.c:2.",
        ),
        (
            "// @wasmfleet module a\n// @wasmfleet module b",
            "m.c:2: the module is already declared at m.c:1.",
        ),
        ("// @wasmfleet module a/b", "module name 'a/b'"),
        ("// @wasmfleet module a 1 2", "write 'module NAME [VERSION]'"),
    ],
)
def test_each_mistake_gets_a_sentence(text: str, expected: str) -> None:
    assert any(expected in problem for problem in problems(text)), problems(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "// @wasmfleet function f\n// @wasmfleet param b bytes\n// @wasmfleet param n i32",
            "m.c:2: f takes bytes, so it can have no other parameter",
        ),
        (
            "// @wasmfleet function f\n// @wasmfleet param b bytes\n"
            "// @wasmfleet mount x.jpg execution",
            "f takes bytes and execution mount(s) x.jpg",
        ),
        ("// @wasmfleet function f\n// @wasmfleet returns bytes", "m.c:1: f returns bytes, which"),
        (
            "// @wasmfleet function f\n// @wasmfleet param b bytes\n"
            "// @wasmfleet returns bytes\n// @wasmfleet mount o.txt output",
            "f returns bytes and has output mount o.txt",
        ),
        (
            "// @wasmfleet function f\n// @wasmfleet mount a output\n// @wasmfleet mount b output",
            "m.c:3: f has a second output mount",
        ),
        (
            "// @wasmfleet function f\n// @wasmfleet method get\n// @wasmfleet mount a execution",
            "m.c:2: f takes execution mounts (multipart), which only POST carries",
        ),
    ],
)
def test_rules_over_a_whole_function(text: str, expected: str) -> None:
    assert any(expected in problem for problem in problems(text)), problems(text)


def test_every_problem_is_reported_in_line_order() -> None:
    found = problems(
        "// @wasmfleet function f\n// @wasmfleet method get\n// @wasmfleet param b bytes\n"
        "// @wasmfleet param x flaot\n"
    )
    assert [p.split(":")[1] for p in found] == ["2", "4"]


def test_declarations_of_a_function_stay_in_its_file() -> None:
    with pytest.raises(DeclarationError) as info:
        parse_sources({"a.c": "// @wasmfleet function f\n", "b.c": "// @wasmfleet returns i32\n"})
    assert info.value.problems[0].startswith("b.c:1: 'returns' must follow")


def test_a_long_list_of_problems_is_cut_short() -> None:
    with pytest.raises(DeclarationError) as info:
        parse_sources({"a.c": "// @wasmfleet nope\n" * 50})
    assert len(info.value.problems) == 50
    assert "50 problems" in info.value.message and "... and 30 more" in info.value.message
