"""The wasmtime adapter: one engine per process, compile cache, instances, limits, host functions."""
