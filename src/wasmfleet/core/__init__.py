"""Pure logic of wasmfleet: models, document parsing, argument binding, errors. No I/O here."""
