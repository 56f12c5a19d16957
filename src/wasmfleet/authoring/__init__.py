"""Writing modules: scaffolds (``wasmfleet new``), builds, declarations and the local runner."""
