"""The settings tables of docs/configuration.md, generated from the declarations.

``python -m wasmfleet.cli.settings_doc [docs/configuration.md]`` rewrites every block between
``<!-- settings:NAME -->`` and ``<!-- /settings:NAME -->`` (NAME: supervisor, orchestrator,
client); tests/unit/test_settings_config.py fails when the file is not up to date.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from wasmfleet.service.settings import Setting, declared


def _classes() -> dict[str, type]:
    from wasmfleet.cli.client import ClientSettings
    from wasmfleet.orchestrator.settings import OrchestratorSettings
    from wasmfleet.supervisor.settings import SupervisorSettings

    return {
        "supervisor": SupervisorSettings,
        "orchestrator": OrchestratorSettings,
        "client": ClientSettings,
    }


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _meaning(item: Setting) -> str:
    if item.choices and not all(choice in item.help for choice in item.choices):
        listed = ", ".join(item.choices[:-1]) + f" or {item.choices[-1]}"
        return f"{item.help} One of {listed}."
    return item.help


def settings_table(cls: type) -> str:
    """A Markdown table of every declared setting of ``cls``."""
    rows = [
        "| config key | flag | environment | default | meaning |",
        "|---|---|---|---|---|",
    ]
    for item in declared(cls):
        flag = f"`{item.flag}`" + (f" / `{item.off_flag}`" if item.off_flag else "")
        if item.repeatable:
            flag += " (repeatable)"
        variables = "<br>".join(f"`{name}`" for name in item.env)
        default = f"`{item.default_text}`" if item.default_is_value else item.default_text
        cells = [f"`{item.key}`", flag, variables, _cell(default), _cell(_meaning(item))]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def render(text: str) -> str:
    """``text`` with every settings block replaced by the current table."""
    for name, cls in _classes().items():
        pattern = re.compile(
            rf"(<!-- settings:{name} -->\n)(?:.*?\n)?(<!-- /settings:{name} -->)", re.DOTALL
        )
        if not pattern.search(text):
            raise ValueError(f"no <!-- settings:{name} --> block")
        block = settings_table(cls) + "\n"
        text = pattern.sub(lambda m: m.group(1) + block + m.group(2), text)  # noqa: B023
    return text


def main(argv: list[str]) -> int:
    """Rewrite the tables of the given file (default docs/configuration.md)."""
    path = Path(argv[0] if argv else "docs/configuration.md")
    before = path.read_text()
    after = render(before)
    if after != before:
        path.write_text(after)
        print(f"updated the settings tables of {path}")
    else:
        print(f"{path} is up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
