// The wasmiot and wasmfleet host functions that make sense in a browser, in JavaScript, with
// the supervisor's semantics (runtime/host/functions.py, qoa.py): sys.* (console panel),
// camera.* (a picture taken before the call: an uploaded image or a webcam frame),
// communication.rpcCall (no transport here: status 1, as on a device without one),
// wasmfleet.qoa_report, env.abort (AssemblyScript's abort, runtime/host/abort.py). Every other
// import traps with "not on this layer: module.name".

/** A host function failed: the call traps with this message (GuestContext.fail). */
export class HostCallError extends Error {
  constructor(message) {
    super(message);
    this.name = "HostCallError";
  }
}

/** An import the browser does not offer: calling it traps with this message. */
export class NotOnThisLayer extends Error {
  constructor(qualified) {
    super(`not on this layer: ${qualified}`);
    this.name = "NotOnThisLayer";
  }
}

const E_QOA_VALUE = -1;
const sig = (imp) => `${imp.params.join(" ")}->${imp.results.join(" ")}`;
const wrapI32 = (n) => ((n + 2 ** 31) % 2 ** 32 + 2 ** 32) % 2 ** 32 - 2 ** 31;

/** The import object's host part: {module: {name: fn}} for `imports` (from binary.js), plus
 * `offered`: qualified names this layer implements, `absent`: those that trap. */
export function hostImports(imports, ctx) {
  const table = {};
  const offered = [];
  const absent = [];
  const fail = (fn, message) => {
    const text = `host function ${fn} failed: ${message}`;
    ctx.hostError ??= text;
    return new HostCallError(text);
  };
  const mem = () => ctx.instance.exports.memory;
  const u8 = () => new Uint8Array(mem().buffer);
  const dv = () => new DataView(mem().buffer);
  const read = (ptr, len) => u8().slice(ptr >>> 0, (ptr >>> 0) + (len >>> 0));
  const cstring = (ptr) => {
    const m = u8();
    let end = ptr >>> 0;
    while (end < m.length && m[end] !== 0 && end - ptr < 65536) end++;
    return m.slice(ptr >>> 0, end);
  };
  const text = (b) => new TextDecoder().decode(b);
  // An AssemblyScript string: UTF-16LE, its byte length the u32 before it (abort.py).
  const asString = (ptr) => {
    ptr >>>= 0;
    if (ptr < 4) return "";
    const len = dv().getUint32(ptr - 4, true);
    const cut = new TextDecoder("utf-16le").decode(read(ptr, Math.min(len, 4096) & ~1));
    return len > 4096 ? `${cut}…` : cut;
  };
  const picture = (fn) => {
    if (!ctx.camera) throw fail(fn, "no picture on this layer: choose an image file or allow the webcam first");
    return ctx.camera;
  };

  const builders = {
    "sys.millis": (imp) => (imp.results[0] === "i64" ? () => BigInt(Date.now()) : () => wrapI32(Date.now())),
    "sys.delay": () => (ms) => {
      const wanted = Math.max(0, ms);
      const left = Math.max(0, ctx.deadline - performance.now());
      const until = performance.now() + Math.min(wanted, left);
      while (performance.now() < until) {
        /* a worker cannot sleep synchronously without shared memory: wait actively */
      }
      if (wanted > left) throw fail(`sys.delay`, `sys.delay(${ms}) would run past the call's time limit`);
    },
    "sys.print": () => (ptr, len) => ctx.print("sys.print", text(read(ptr, len))),
    "sys.println": (imp) =>
      imp.params.length === 1
        ? (ptr) => ctx.print("sys.println", text(cstring(ptr)))
        : (ptr, len) => ctx.print("sys.println", text(read(ptr, len))),
    "sys.printInt": () => (value) => ctx.print("sys.printInt", String(value)),
    "camera.takeImageDynamicSize": () => (outPtrPtr, outLenPtr) => {
      const fn = "camera.takeImageDynamicSize";
      const image = picture(fn);
      const alloc = ctx.instance.exports.alloc;
      if (typeof alloc !== "function") throw fail(fn, "the module does not export alloc(len) -> ptr");
      const ptr = alloc(image.length);
      if (!ptr) throw fail(fn, `the module's alloc(${image.length}) returned ${ptr}`);
      u8().set(image, ptr >>> 0);
      dv().setUint32(outPtrPtr >>> 0, ptr >>> 0, true);
      dv().setUint32(outLenPtr >>> 0, image.length, true);
    },
    "camera.takeImageStaticSize": () => (outPtr, sizePtr) => {
      const limit = dv().getUint32(sizePtr >>> 0, true);
      const image = picture("camera.takeImageStaticSize").subarray(0, limit);
      u8().set(image, outPtr >>> 0);
      dv().setUint32(sizePtr >>> 0, image.length, true);
    },
    "communication.rpcCall": (imp) => (...args) => {
      const target = `${text(read(args[0], args[1]))}.${text(read(args[2], args[3]))}`;
      ctx.print("warning", `rpcCall of ${target}: no transport on this layer`);
      if (imp.results.length) return 1;
      throw fail("communication.rpcCall", `call of ${target} failed`);
    },
    "wasmfleet.qoa_report": () => (latencyMs, confidence) => {
      const valid = Number.isFinite(latencyMs) && Number.isFinite(confidence) && latencyMs >= 0 && confidence >= 0 && confidence <= 1;
      if (!valid) return E_QOA_VALUE;
      ctx.qoa({ latency_ms: latencyMs, confidence });
      return 0;
    },
    "env.abort": () => (msg, file, line, col) => {
      const where = `${asString(file) || "(unknown file)"}:${line >>> 0}:${col >>> 0}`;
      const failure = `abort: ${asString(msg) || "(no message)"} at ${where}`;
      ctx.hostError ??= failure;
      throw new HostCallError(failure);
    },
  };
  const signatures = {
    "sys.millis": ["->i32", "->i64"],
    "sys.delay": ["i32->"],
    "sys.print": ["i32 i32->"],
    "sys.println": ["i32 i32->", "i32->"],
    "sys.printInt": ["i32->", "i64->"],
    "camera.takeImageDynamicSize": ["i32 i32->"],
    "camera.takeImageStaticSize": ["i32 i32->"],
    "communication.rpcCall": ["i32 i32 i32 i32 i32 i32->i32", "i32 i32 i32 i32 i32 i32->", "i32 i32 i32 i32->"],
    "wasmfleet.qoa_report": ["f32 f32->i32"],
    "env.abort": ["i32 i32 i32 i32->"],
  };

  for (const imp of imports) {
    if (imp.kind !== "func" || imp.module === "wasi_snapshot_preview1") continue;
    const qualified = `${imp.module}.${imp.name}`;
    const build = builders[qualified];
    let fn;
    if (build && signatures[qualified].includes(sig(imp))) {
      const impl = build(imp);
      fn = (...args) => {
        try {
          return impl(...args);
        } catch (err) {
          if (err instanceof HostCallError) throw err;
          throw fail(qualified, `${err.name}: ${err.message}`);
        }
      };
      offered.push(qualified);
    } else {
      fn = () => {
        const err = new NotOnThisLayer(qualified);
        ctx.hostError ??= err.message;
        throw err;
      };
      absent.push(qualified);
    }
    (table[imp.module] ??= {})[imp.name] = fn;
  }
  return { table, offered, absent };
}
