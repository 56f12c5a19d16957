"""What the supervisor and the orchestrator share, so that neither imports the other.

- ``http``: JSON responses, bodies read within a ``BodyLimit``, the error shape and handlers
- ``lifespan``: start and stop a service with its ASGI app, and know its phase
- ``probes``: ``/livez`` and ``/readyz``, with checks run off the event loop
- ``logs``: one text/JSON formatter on stderr for our records and every library's
- ``mdns``: the wasmiot service type and which interfaces zeroconf binds to
- ``net``: this machine's addresses
- ``backoff``: exponential backoff with jitter, for every retry loop
- ``settings``: settings declared once (flag, variables, config-file key), one loader with one
  precedence: flag > environment > config file > default
- ``setting_values``: parsers of sizes, durations, labels, capacity and model lists, and the
  kinds of settings built on them

The two services talk over HTTP and MQTT; the typed wire contract they speak lives in
``core/protocol.py``.
"""
