"""Streams: MQTT client glue, the embedded broker, triggers, bridges and sinks."""
