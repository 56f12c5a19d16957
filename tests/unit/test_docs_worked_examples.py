"""The worked examples of docs/module-authors.md show the example modules as they are: every
line of each code block is a line of its source file, in the same order (a block may leave
lines out, never change one), so the doc and the modules the tests build cannot drift apart."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "module-authors.md"
SOURCES = {
    ("alarm", "c"): "modules/alarm/c/src/alarm.c",
    ("alarm", "rust"): "modules/alarm/rust/src/lib.rs",
    ("alarm", "ts"): "modules/alarm/assemblyscript/assembly/index.ts",
    ("hot", "c"): "modules/hot/c/src/hot.c",
    ("hot", "rust"): "modules/hot/rust/src/lib.rs",
    ("hot", "ts"): "modules/hot/assemblyscript/assembly/index.ts",
}
SECTIONS = {
    "alarm": "## Worked example: a temperature alarm",
    "hot": "### Worked example: hot readings",
}


def _blocks(section: str) -> dict[str, str]:
    text = DOC.read_text()
    start = text.index(SECTIONS[section])
    end = text.find("\n## ", start + 1)
    body = text[start : end if end > 0 else len(text)]
    return {lang: code for lang, code in re.findall(r"```(c|rust|ts)\n(.*?)```", body, re.S)}


def _in_order(block: str, source: str) -> str | None:
    """The first line of ``block`` not found (after the previous one) in ``source``."""
    lines = [line.rstrip() for line in source.splitlines()]
    at = 0
    for line in (line.rstrip() for line in block.splitlines()):
        if not line.strip():
            continue
        try:
            at = lines.index(line, at) + 1
        except ValueError:
            return line
    return None


@pytest.mark.parametrize(("example", "lang"), sorted(SOURCES))
def test_a_worked_example_block_is_its_module_source(example: str, lang: str) -> None:
    blocks = _blocks(example)
    assert lang in blocks, f"{example}: no {lang} block in docs/module-authors.md"
    missing = _in_order(blocks[lang], (REPO / SOURCES[(example, lang)]).read_text())
    assert missing is None, f"{SOURCES[(example, lang)]} has no line {missing!r} (in this order)"
