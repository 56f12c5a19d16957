"""A bridge forwards only its own topics, whatever else the source broker sends it.

amqtt (the demo's embedded broker) sends a connecting client the retained messages of every
filter *any* client subscribed to. In ``wasmfleet up`` that was a supervisor's retained
``wasmfleet/presence/...``: the camera uplink bridge stored and forwarded it to the cloud, and
its ``forwarded`` count came out one or two above what was published on its topics (a race
with the supervisors' presence probes, about one run in three). Here the race is made certain:
another client holds a subscription to a retained topic when the bridge connects.
"""

from __future__ import annotations

from pathlib import Path

from tests.streams_support import Listener, publish
from tests.support import wait_until
from wasmfleet.core.broker_url import parse_broker_url
from wasmfleet.messaging.bridge import Bridge, BridgeSettings
from wasmfleet.messaging.embedded import BrokerThread


def test_retained_messages_of_other_clients_subscriptions_are_not_bridged(
    tmp_path: Path,
) -> None:
    with (
        BrokerThread(port=0, log_path=tmp_path / "edge.log") as edge,
        BrokerThread(port=0, log_path=tmp_path / "cloud.log") as cloud,
    ):
        publish(edge.url, "wasmfleet/presence/someone", b'{"state": "online"}', retain=True)
        other = Listener(edge.url, "wasmfleet/presence/#")  # another client's subscription
        seen = Listener(cloud.url, "#")
        bridge = Bridge(
            BridgeSettings(
                source=parse_broker_url(edge.url),
                destination=parse_broker_url(cloud.url),
                topics=("detections/#", "alerts/#"),
                client_id="test-bridge-unsolicited",
                outbox=tmp_path / "outbox.sqlite",
            )
        )
        bridge.start()
        try:
            assert wait_until(lambda: bridge.counters()["source_connected"], 10)
            # Publish until one crosses: the bridge has subscribed by then.
            assert wait_until(
                lambda: publish(edge.url, "detections/motion", b"m") or seen.on("detections/"),
                20,
            ), seen.messages
            publish(edge.url, "alerts/temperature", b"a")
            seen.wait("alerts/", 1)
            published = len(seen.on("detections/")) + 1
            assert wait_until(lambda: bridge.counters()["forwarded"] == published, 10), (
                bridge.counters()
            )
            assert seen.on("wasmfleet/") == [], seen.messages  # never reached the cloud
            counters = bridge.counters()
            assert counters["unsolicited"] == 1, counters  # amqtt did send it; it was dropped
            assert counters["received"] == published and counters["waiting"] == 0, counters
        finally:
            bridge.stop(drain=1.0)
            other.close()
            seen.close()
