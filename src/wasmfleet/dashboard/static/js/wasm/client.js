// The page's side of an in-browser module: loads the .wasm into a Worker (worker.js), calls
// its functions and enforces the call's time limit by terminating the worker (a new one is
// started, and the module re-instantiated, on the next call — its state is lost, as on a
// device whose instance was stopped).

const WORKER_URL = new URL("./worker.js", import.meta.url);
export const CALL_TIMEOUT_S = 10; // the supervisor's default call_timeout_s

/** A module's failure in the browser: {code, message, field} like an ApiError. */
export class BrowserCallError extends Error {
  constructor({ code, message, field }) {
    super(message);
    this.name = "BrowserCallError";
    this.code = code;
    this.field = field ?? null;
  }
}

export class BrowserModule {
  /** `onPrint(stream, line)` and `onQoa(report)` receive what the guest emits. */
  constructor({ name, wasm, description, dataFiles = {}, onPrint = () => {}, onQoa = () => {} }) {
    this.spec = { name, wasm, description, dataFiles };
    this.onPrint = onPrint;
    this.onQoa = onQoa;
    this.worker = null;
    this.pending = new Map();
    this.nextId = 1;
    this.info = null;
  }

  _spawn() {
    const worker = new Worker(WORKER_URL, { type: "module" });
    worker.onmessage = (event) => {
      const msg = event.data;
      if (msg.op === "print") return this.onPrint(msg.stream, msg.line);
      if (msg.op === "qoa") return this.onQoa(msg.report);
      const waiter = this.pending.get(msg.id);
      if (!waiter) return;
      this.pending.delete(msg.id);
      clearTimeout(waiter.timer);
      if (msg.ok) waiter.resolve(msg);
      else waiter.reject(new BrowserCallError(msg.error));
    };
    worker.onerror = (event) => {
      event.preventDefault();
      this._fail({ code: "worker_error", message: `The browser's module worker failed: ${event.message || "unknown error"}.` });
    };
    this.worker = worker;
  }

  _fail(error) {
    for (const waiter of this.pending.values()) {
      clearTimeout(waiter.timer);
      waiter.reject(new BrowserCallError(error));
    }
    this.pending.clear();
    if (this.worker) this.worker.terminate();
    this.worker = null;
    this.info = null;
  }

  _send(message, timeoutMs, onTimeout, transfer = []) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this._fail(onTimeout()), timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.worker.postMessage({ ...message, id }, transfer);
    });
  }

  /** Instantiate (once per worker): {functions, exports, offered, absent}. */
  async load() {
    if (this.info) return this.info;
    this._spawn();
    const { name, wasm, description, dataFiles } = this.spec;
    this.info = await this._send(
      { op: "load", name, wasm: wasm.slice(0), description, dataFiles },
      CALL_TIMEOUT_S * 1000 * 3,
      () => ({ code: "call_timeout", message: `Module ${JSON.stringify(name)} took longer than ${CALL_TIMEOUT_S * 3} s to start in the browser and was stopped.` }),
    );
    return this.info;
  }

  /** Run a function: args [[name, value]], files {mount: ArrayBuffer}, camera ArrayBuffer|null.
   * Resolves to {result, output: {name, media_type, bytes} | null, ms}. */
  async call(fn, args, files = {}, camera = null) {
    await this.load();
    const timeoutMs = CALL_TIMEOUT_S * 1000;
    const where = `${this.spec.name}.${fn}`;
    return this._send(
      { op: "call", fn, args, files, camera, timeoutMs },
      timeoutMs + 500,
      () => ({ code: "call_timeout", message: `${where} ran longer than its ${CALL_TIMEOUT_S} s limit and was stopped; other calls were not affected.` }),
    );
  }

  /** Stop the worker (the page went away). */
  close() {
    this._fail({ code: "closed", message: "The preview was closed." });
  }
}
