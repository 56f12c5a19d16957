"""A supervisor serving HTTPS says so: its own URL, its registration body and mDNS TXT."""

from __future__ import annotations

from pathlib import Path

from wasmfleet.supervisor.registration import registration_body
from wasmfleet.supervisor.settings import SupervisorSettings


def test_a_supervisor_with_a_certificate_announces_https() -> None:
    plain = SupervisorSettings(name="cam", host="127.0.0.1", port=5001)
    assert plain.base_url == "http://127.0.0.1:5001" and not plain.tls
    assert registration_body(plain)["properties"]["tls"] == "0"
    tls = SupervisorSettings(
        name="cam", host="127.0.0.1", port=5001, tls_cert=Path("c.pem"), tls_key=Path("k.pem")
    )
    assert tls.tls and tls.base_url == "https://127.0.0.1:5001"
    assert registration_body(tls)["properties"] == {
        "path": "/",
        "tls": "1",
        "address": "127.0.0.1",
    }
    half = SupervisorSettings(name="cam", tls_cert=Path("c.pem"))
    assert not half.tls  # refused at start by validate(); never half HTTPS
