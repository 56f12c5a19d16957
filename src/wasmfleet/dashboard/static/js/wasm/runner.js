// One module instance in the browser, called the way the supervisor calls it
// (supervisor/calls.py + runtime/instance.py): one instance per module, kept across calls so
// module state persists; _initialize once; execution mounts written into the instance's
// directory before the call; the output mount (or the file the call wrote) read after it;
// errors in the supervisor's words.

import { bindArguments, describeFunctions, formatResult, InvalidArgument } from "./abi.js";
import { readSignatures } from "./binary.js";
import { hostImports, NotOnThisLayer } from "./hosts.js";
import { createWasi, MemFS, ProcExit, wasiImport } from "./wasi.js";

const INTERNAL = new Set(["_initialize", "_start", "alloc", "memory", "__heap_base", "__data_end", "__indirect_function_table"]);

/** A call failed: `code` like the supervisor's (invalid_argument, invalid_mount, wasm_trap, ...). */
export class CallFailed extends Error {
  constructor(message, code, field = null) {
    super(message);
    this.name = "CallFailed";
    this.code = code;
    this.field = field;
  }
}

function extensionsOf(mediaType) {
  const base = mediaType.split(";")[0].trim().toLowerCase();
  const known = {
    "image/jpeg": [".jpg", ".jpeg", ".jpe"], "image/png": [".png"], "image/gif": [".gif"],
    "text/plain": [".txt"], "text/csv": [".csv"], "application/json": [".json"],
    "application/octet-stream": [".bin"], "image/bmp": [".bmp"], "image/webp": [".webp"],
  };
  return known[base] ?? [];
}

export class ModuleRunner {
  /** `events.print(stream, line)`, `events.qoa(report)` receive what the guest emits. */
  constructor({ name, wasm, description, dataFiles = {}, events }) {
    this.name = name;
    this.fs = new MemFS();
    for (const [file, data] of Object.entries(dataFiles)) this.fs.write(file, new Uint8Array(data));
    this.functions = describeFunctions(description);
    this.signatures = readSignatures(wasm);
    this.events = events;
    this.ctx = {
      instance: null,
      camera: null,
      deadline: Infinity,
      hostError: null,
      print: (stream, line) => events.print(stream, line),
      qoa: (report) => events.qoa({ ...report, function: this.current }),
    };
    const hosts = hostImports(this.signatures.imports, this.ctx);
    const wasi = createWasi({
      fs: this.fs,
      argv: [name],
      onOutput: (stream, line) => events.print(stream, line),
      memory: () => this.ctx.instance.exports.memory,
    });
    this.flush = wasi.flush;
    const imports = { ...hosts.table };
    const unsupported = [];
    for (const imp of this.signatures.imports) {
      if (imp.module === "wasi_snapshot_preview1" && imp.kind === "func") {
        (imports.wasi_snapshot_preview1 ??= {})[imp.name] = wasiImport(wasi.imports, imp.name);
      } else if (imp.kind !== "func") {
        unsupported.push(`${imp.module}.${imp.name} (${imp.kind} imports are not provided)`);
      }
    }
    if (unsupported.length) {
      throw new CallFailed(`Module ${JSON.stringify(name)} needs imports no layer provides: ${unsupported.join(", ")}.`, "invalid_wasm");
    }
    this.imports = imports;
    this.offered = hosts.offered;
    this.absent = hosts.absent;
    this.wasm = wasm;
  }

  /** Compile and instantiate, then run _initialize (the WASI reactor convention). */
  async start() {
    const module = await WebAssembly.compile(this.wasm);
    this.ctx.instance = await WebAssembly.instantiate(module, this.imports);
    if (typeof this.ctx.instance.exports._initialize === "function") {
      this.current = "_initialize";
      try {
        this.ctx.instance.exports._initialize();
      } catch (err) {
        const reason = this.classify(err, "_initialize");
        throw new CallFailed(`Module ${JSON.stringify(this.name)} failed while starting (_initialize): ${reason.message}`, "invalid_wasm");
      }
    }
    return this;
  }

  /** The functions a user can call: described ones that the binary exports. */
  callable() {
    return Object.values(this.functions).filter((f) => this.signatures.exports[f.name]?.kind === "func" && !INTERNAL.has(f.name));
  }

  /** What the supervisor's _check_files does: the files to write, or CallFailed. */
  checkFiles(fn, files) {
    const declared = new Set(fn.mounts.filter((m) => m.stage === "execution").map((m) => m.name));
    const names = Object.keys(files);
    const where = `${this.name}.${fn.name}`;
    if (names.length === 1 && declared.size === 1 && !declared.has(names[0])) {
      return { [[...declared][0]]: files[names[0]] };
    }
    for (const name of names) {
      if (!declared.has(name)) {
        const accepts = [...declared].sort().join(", ") || "no files";
        throw new CallFailed(`File ${JSON.stringify(name).replace(/"/g, "'")} is not an execution mount of ${where} (it accepts: ${accepts}).`, "invalid_mount", name);
      }
    }
    const missing = [...declared].filter((m) => !(m in files)).sort();
    if (missing.length) {
      throw new CallFailed(
        `${where} needs the file(s) ${missing.map((m) => `'${m}'`).join(", ")} as multipart parts (e.g. curl -F ${missing[0]}=@./${missing[0]}).`,
        "invalid_mount",
        missing[0],
      );
    }
    return files;
  }

  /** Run `fnName` with `args` ([[name, value]] as a form sends them) and `files` ({mount: bytes}).
   * Returns {result, output: {name, media_type, bytes} | null, ms}. */
  call(fnName, args, files = {}, { camera = null, timeoutMs = 10000 } = {}) {
    const fn = this.functions[fnName];
    const sigs = this.signatures.exports[fnName];
    if (!fn || !sigs || sigs.kind !== "func") {
      const names = this.callable().map((f) => f.name).sort().join(", ") || "none";
      throw new CallFailed(`Module ${JSON.stringify(this.name)} exposes no function ${JSON.stringify(fnName)} (functions: ${names}).`, "not_found");
    }
    const mountNames = new Set(fn.mounts.filter((m) => m.stage === "execution").map((m) => m.name));
    const given = [];
    const fileMap = { ...files };
    for (const [name, value] of args) {
      if (mountNames.has(name) && !(name in fileMap)) fileMap[name] = new TextEncoder().encode(String(value));
      else given.push([name, value]);
    }
    const checked = this.checkFiles(fn, fileMap);
    let wasmArgs;
    try {
      wasmArgs = bindArguments(this.name, fn, sigs.params, given);
    } catch (err) {
      if (err instanceof InvalidArgument) throw new CallFailed(err.message, err.code, err.field);
      throw err;
    }
    for (const [name, data] of Object.entries(checked)) this.fs.write(name, new Uint8Array(data));
    const outputs = fn.mounts.filter((m) => m.stage === "output");
    const outputMount = outputs.length ? outputs[0].name : null;
    const before = fn.returnsFile && !outputMount ? this.fs.snapshot() : null;
    if (fn.returnsFile && outputMount) this.fs.remove(outputMount);
    this.ctx.camera = camera ? new Uint8Array(camera) : null;
    this.ctx.hostError = null;
    this.ctx.deadline = performance.now() + timeoutMs;
    this.current = fnName;
    const started = performance.now();
    let value;
    try {
      value = this.ctx.instance.exports[fnName](...wasmArgs);
    } catch (err) {
      throw this.classify(err, fnName);
    } finally {
      this.flush();
    }
    const ms = Math.round((performance.now() - started) * 1000) / 1000;
    if (!fn.returnsFile) return { result: formatResult(value, sigs.results), output: null, ms };
    const output = outputMount ?? this.writtenFile(before, fn.responseMediaType);
    const bytes = output ? this.fs.read(output) : null;
    if (!bytes) {
      throw new CallFailed(
        `${this.name}.${fnName} returned ${formatResult(value, sigs.results)} but did not write its output file ${output ?? "(" + fn.responseMediaType + ")"}.`,
        "execution_failed",
      );
    }
    const media = outputs.length ? outputs[0].media_type : fn.responseMediaType;
    return { result: formatResult(value, sigs.results), output: { name: output, media_type: media, bytes }, ms };
  }

  writtenFile(before, mediaType) {
    let changed = [...this.fs.mtimes].filter(([name, t]) => before.get(name) !== t).map(([name]) => name);
    if (changed.length > 1) {
      const exts = extensionsOf(mediaType);
      const matching = changed.filter((n) => exts.some((e) => n.toLowerCase().endsWith(e)));
      changed = matching.length ? matching : changed;
    }
    return changed.sort()[0] ?? null;
  }

  /** A thrown error as the supervisor would word it (WasmInstance._classify). */
  classify(err, fnName) {
    const where = `${this.name}.${fnName}`;
    if (err instanceof ProcExit) return new CallFailed(`${where} exited instead of returning (exit status ${err.code}).`, "wasm_trap");
    if (err instanceof NotOnThisLayer) return new CallFailed(`${where} trapped: ${err.message}`, "not_on_this_layer");
    if (this.ctx.hostError) return new CallFailed(`${where} trapped: ${this.ctx.hostError}`, "wasm_trap");
    if (err instanceof WebAssembly.RuntimeError) return new CallFailed(`${where} trapped: wasm trap: ${err.message}`, "wasm_trap");
    if (err instanceof RangeError) return new CallFailed(`${where} trapped: ${err.message}`, "wasm_trap");
    return new CallFailed(`${where} failed: ${err && err.message ? err.message : String(err)}`, "wasm_trap");
  }
}
