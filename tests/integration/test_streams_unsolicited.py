"""Messages a broker sends on topics the supervisor never subscribed to are dropped, not counted.

amqtt (the demo's embedded broker) sends a connecting client the retained messages of every
*other* client's subscriptions. A supervisor acknowledges such a message, counts it as
``unsolicited`` and runs nothing: ``received`` stays what its triggers asked for.
"""

from __future__ import annotations

from pathlib import Path

from tests.streams_support import Listener, Start, publish, streams, thermo, wait_subscribed
from tests.support import FileServer, wait_until
from wasmfleet.messaging.embedded import BrokerThread


def test_retained_messages_of_another_clients_subscription_are_dropped(
    start_supervisor: Start, files: FileServer, tmp_path: Path
) -> None:
    with BrokerThread(port=0, log_path=tmp_path / "amqtt.log") as broker:
        other = Listener(broker.url, "elsewhere/#")  # another client's subscription
        try:
            publish(broker.url, "elsewhere/reading", b"21.5", retain=True)
            sup = start_supervisor("edge", args=["--broker", broker.url])
            body = thermo(files, "t", {"check": {"trigger": "site/+/temperature"}})
            assert sup.deploy(body).status_code == 200
            wait_subscribed(sup, "site/+/temperature")
            publish(broker.url, "site/lab/temperature", b"35.5")

            assert wait_until(lambda: streams(sup)["triggers"]["t/thermo/check"]["handled"] == 1)
            assert wait_until(lambda: streams(sup)["unsolicited"] >= 1), streams(sup)
            status = streams(sup)
            assert status["received"] == 1, status  # the reading; not the retained one
            assert status["unmatched"] == 0, status
        finally:
            other.close()
