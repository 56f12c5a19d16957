"""``wasmfleet orchestrator``: run the control plane (options: orchestrator/settings.py)."""

from __future__ import annotations

from wasmfleet.cli.settings_command import settings_command
from wasmfleet.orchestrator.settings import OrchestratorSettings


def _serve(settings: OrchestratorSettings) -> None:
    from wasmfleet.orchestrator.server import serve

    warning = settings.exposure()  # safe defaults: ConfigurationError (exit 2) when unsafe
    serve(settings, warning)


orchestrator = settings_command(
    OrchestratorSettings,
    _serve,
    name="orchestrator",
    doc=(
        "Run an orchestrator: discover devices, keep modules, place and run pipelines.\n\n"
        "Every option is also a WASMFLEET_ORCHESTRATOR_* environment variable "
        "(WASMFLEET_DATABASE_URL for the database) and a key of the --config file, named "
        "like the flag without '--'. A flag wins over the environment, the environment over "
        "the config file (docs/configuration.md). The API is documented at /docs."
    ),
)
