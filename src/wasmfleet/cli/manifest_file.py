"""Reading a manifest file for ``wasmfleet deploy``: YAML or JSON, ``${NAME}`` expanded."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from wasmfleet.cli.client import fail
from wasmfleet.core.errors import ConfigurationError
from wasmfleet.core.variables import expand

YAML_SUFFIXES = (".yaml", ".yml")


def read_manifest(path: Path) -> tuple[bytes, str, Any]:
    """(body, content type, parsed) of a manifest file; YAML by suffix, else JSON.

    ``${NAME}`` and ``${NAME:-default}`` are replaced from the environment first
    (core/variables.py). The file is parsed here so that a typo is reported with the
    file's name; the orchestrator then receives the text as written (once expanded).
    """
    try:
        raw = path.read_bytes()
    except OSError as err:
        fail(f"Cannot read the manifest {path}: {err.strerror or err}.", 2)
    is_yaml = path.suffix.lower() in YAML_SUFFIXES
    try:
        text = expand(raw.decode("utf-8"), os.environ, where=f"The manifest {path}")
        parsed = yaml.safe_load(text) if is_yaml else json.loads(text)
    except UnicodeDecodeError:
        fail(f"The manifest {path} is not UTF-8 text.", 2)
    except ConfigurationError as err:
        fail(err.message, 2)
    except (yaml.YAMLError, ValueError) as err:
        kind = "YAML" if is_yaml else "JSON (use .yaml or .yml for YAML)"
        fail(f"The manifest {path} is not valid {kind}: {err}", 2)
    if not isinstance(parsed, dict):
        fail(f"The manifest {path} must be a mapping with a name and steps.", 2)
    return text.encode("utf-8"), ("application/yaml" if is_yaml else "application/json"), parsed
