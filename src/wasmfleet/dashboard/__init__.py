"""Reserved for the dashboard (see docs/architecture.md); empty until its issue lands."""
