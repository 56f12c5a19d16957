"""The device service: HTTP API, deployments, calls, chaining, advertising, heartbeats."""
