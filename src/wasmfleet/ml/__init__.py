"""Reserved for the ml (see docs/architecture.md); empty until its issue lands."""
