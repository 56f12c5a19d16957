// The package's entry: asc 0.28 resolves `import ... from "wasmfleet"` to this file.
export * from "./assembly/index";
