"""Reserved for the orchestrator (see docs/architecture.md); empty until its issue lands."""
