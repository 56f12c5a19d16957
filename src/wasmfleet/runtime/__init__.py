"""The wasmtime adapter: engine and compile cache, instances, limits, host functions."""
