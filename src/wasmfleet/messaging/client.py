"""One way to build an MQTT client for a broker address: paho-mqtt 2 (its own network thread).

``paho_client`` applies credentials and TLS from a ``BrokerAddress``; callers set their own
callbacks, ``connect`` and ``loop_start``. MQTT 3.1.1 by default (every broker speaks it);
``protocol=5`` asks for MQTT 5. ``speaks_mqtt5`` asks a broker whether it speaks 5 (one
short connection), for clients that cannot fall back on their own (bridges).
"""

from __future__ import annotations

import ssl
import threading
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from wasmfleet.core.broker_url import BrokerAddress


def paho_client(
    broker: BrokerAddress,
    *,
    client_id: str | None = None,
    clean_session: bool = True,
    protocol: int = 4,
) -> mqtt.Client:
    """A configured, not yet connected paho client (``client_id`` random when None)."""
    version = mqtt.MQTTv5 if protocol == 5 else mqtt.MQTTv311
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id or f"wasmfleet-{uuid.uuid4().hex[:12]}",
        clean_session=clean_session if version != mqtt.MQTTv5 else None,
        protocol=version,
    )
    if broker.username is not None:
        client.username_pw_set(broker.username, broker.password)
    if broker.tls:
        context = ssl.create_default_context(cafile=broker.ca_file)
        if broker.cert_file and broker.key_file:
            context.load_cert_chain(broker.cert_file, broker.key_file)
        if broker.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        client.tls_set_context(context)
    return client


def speaks_mqtt5(broker: BrokerAddress, timeout: float = 3.0) -> bool | None:
    """Whether the broker accepts an MQTT 5 connection: True, False (it refused the version
    or did not answer within ``timeout``: 3.1.1 is the safe guess), None (unreachable).

    The CONNECT is bare (no will, no properties): amqtt answers that one with "unsupported
    protocol version", but says nothing at all to an MQTT 5 CONNECT with a will."""
    client = paho_client(broker, protocol=5)
    answer: list[bool] = []
    done = threading.Event()

    def on_connect(_c: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        answer.append(not getattr(reason, "is_failure", True))
        done.set()

    client.on_connect = on_connect
    try:
        client.connect(broker.host, broker.port, keepalive=10)
    except (OSError, ValueError):
        return None
    client.loop_start()
    try:
        done.wait(timeout)
    finally:
        client.disconnect()  # also closes a connection that never answered
        client.loop_stop()
    return bool(answer and answer[0])
