"""``${NAME}`` in manifest files: values that differ per fleet (broker URLs, hosts, sizes).

``wasmfleet deploy FILE`` replaces ``${NAME}`` with the environment variable ``NAME`` and
``${NAME:-default}`` with ``default`` when ``NAME`` is unset or empty, as a shell would,
before the file is parsed or sent. ``$${`` stays a literal ``${``. A variable that is unset
with no default is an error naming every such variable, so a manifest is never deployed
with a hole in it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from wasmfleet.core.errors import ConfigurationError

_REFERENCE = re.compile(r"\$(\$)?\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand(text: str, env: Mapping[str, str], where: str = "the manifest") -> str:
    """``text`` with every ``${NAME}`` / ``${NAME:-default}`` replaced from ``env``."""
    missing: list[str] = []

    def value(match: re.Match[str]) -> str:
        escaped, name, default = match.group(1), match.group(2), match.group(3)
        if escaped:
            return match.group(0)[1:]
        found = env.get(name)
        if found:
            return found
        if default is not None:
            return default
        if name not in missing:
            missing.append(name)
        return ""

    result = _REFERENCE.sub(value, text)
    if missing:
        names = ", ".join(missing)
        raise ConfigurationError(
            f"{where} uses ${{{missing[0]}}}, but {names} "
            f"{'is' if len(missing) == 1 else 'are'} not set: export {missing[0]}=... "
            f"(or write ${{{missing[0]}:-default}} in the file)."
        )
    return result
