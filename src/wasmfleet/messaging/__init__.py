"""Reserved for the messaging (see docs/architecture.md); empty until its issue lands."""
