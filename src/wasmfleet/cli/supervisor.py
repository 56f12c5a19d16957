"""``wasmfleet supervisor``: run the device service (options: supervisor/settings.py)."""

from __future__ import annotations

from wasmfleet.cli.settings_command import settings_command
from wasmfleet.supervisor.settings import SupervisorSettings


def _serve(settings: SupervisorSettings) -> None:
    from wasmfleet.supervisor.server import serve

    warning = settings.exposure()  # safe defaults: ConfigurationError (exit 2) when unsafe
    serve(settings, warning)


supervisor = settings_command(
    SupervisorSettings,
    _serve,
    name="supervisor",
    doc=(
        "Run a supervisor: deploy Wasm modules here and call their functions over HTTP.\n\n"
        "Every option is also a WASMFLEET_* environment variable (the wasmiot names "
        "WASMIOT_SUPERVISOR_NAME, WASMIOT_SUPERVISOR_PORT, WASMIOT_ORCHESTRATOR_URL and "
        "WASMIOT_LOGGING_ENDPOINT work too) and a key of the --config file, named like the "
        "flag without '--'. A flag wins over the environment, the environment over the "
        "config file (docs/configuration.md)."
    ),
)
