"""Host functions offered to guest modules (the wasmiot set: camera, sys, communication, dht)."""
