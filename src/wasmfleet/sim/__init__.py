"""A device simulator: many lightweight devices in one process that speak the real protocol."""
