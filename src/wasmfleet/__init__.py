"""wasmfleet: run the same WebAssembly module on every device of an IoT fleet."""

__version__ = "0.1.0"
