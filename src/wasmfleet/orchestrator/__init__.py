"""The control plane: devices, modules, placement, deployments, executions, healing, logs.

``app`` serves the versioned ``/api/v1`` and the wasmiot dialect over the ``service`` object
(``Orchestrator``), which wires the registry, monitor, healer, deployment and execution
services to the ``store`` (SQLite or PostgreSQL). Decisions are pure code in ``core/``;
see docs/orchestrator.md.
"""
