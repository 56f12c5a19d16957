"""The ``wasmfleet`` command: one typer sub-app per noun."""
