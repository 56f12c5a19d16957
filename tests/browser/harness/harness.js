// Test harness for the preview's modules until the dashboard shell (H3) is merged: a stand-in
// for api.js with the same contract (bearer token from sessionStorage "wasmfleet.token";
// get/post/form/blob; rejects with {status, code, message, field}) and three routes:
// #/preview/MODULE, #/executions[/ID] (the shell's routes), #/waterfall (a fixed trace of the documented shape).

class ApiError extends Error {
  constructor(status, code, message, field = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

async function request(method, path, body, json = true) {
  const headers = {};
  const token = sessionStorage.getItem("wasmfleet.token");
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload = body;
  if (body !== undefined && !(body instanceof FormData)) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const answer = await fetch(path, { method, headers, body: payload });
  if (!answer.ok) {
    let error = {};
    try {
      error = (await answer.json()).error ?? {};
    } catch {
      /* not JSON */
    }
    throw new ApiError(answer.status, error.code ?? "error", error.message ?? `${method} ${path} answered ${answer.status}.`, error.field ?? null);
  }
  return json ? answer.json() : answer.arrayBuffer();
}

const api = {
  get: (path) => request("GET", path),
  post: (path, json) => request("POST", path, json),
  put: (path, json) => request("PUT", path, json),
  del: (path) => request("DELETE", path),
  form: (path, formData) => request("POST", path, formData),
  blob: (path) => request("GET", path, undefined, false),
};
const listeners = new Map();
const ctx = {
  api,
  session: { user: "harness", role: "admin", can: () => true },
  events: {
    on(kind, fn) {
      if (!listeners.has(kind)) listeners.set(kind, new Set());
      listeners.get(kind).add(fn);
      return () => listeners.get(kind).delete(fn);
    },
  },
  toast: (message, kind) => console.info(`[toast ${kind}] ${message}`),
};

const SAMPLE_TRACE = {
  trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
  execution: "sample",
  deployment: "pipeline",
  started_at_ms: 1700000000000,
  duration_ms: 42.5,
  spans: [
    { span_id: "a000000000000001", parent_span_id: null, name: "execute pipeline", kind: "orchestrator", device: null, start_ms: 0, duration_ms: 42.5, self_ms: 3.1, success: true, error: null },
    { span_id: "b000000000000002", parent_span_id: "a000000000000001", name: "camera.take_image", kind: "step", device: "cam", start_ms: 2.0, duration_ms: 38.0, self_ms: 9.5, success: true, error: null },
    { span_id: "c000000000000003", parent_span_id: "b000000000000002", name: "imginfo.pixels", kind: "step", device: "edge", start_ms: 13.0, duration_ms: 25.5, self_ms: 4.2, success: true, error: null },
    { span_id: "d000000000000004", parent_span_id: "c000000000000003", name: "fibo.fibo", kind: "step", device: "cloud", start_ms: 19.0, duration_ms: 6.0, self_ms: null, success: false, error: "fibo.fibo trapped: wasm trap: unreachable" },
  ],
};

let cleanup = null;
async function route() {
  if (typeof cleanup === "function") cleanup();
  cleanup = null;
  const root = document.getElementById("root");
  root.replaceChildren();
  const [page, arg] = location.hash.replace(/^#\/?/, "").split("/");
  document.body.dataset.ready = "false";
  if (page === "preview") {
    const module = await api.get(`/api/v1/modules/${encodeURIComponent(arg)}`);
    const { mountPreview } = await import("/ui/static/js/preview.js");
    cleanup = mountPreview(root, module, ctx);
  } else if (page === "executions") {
    const { render } = await import("/ui/static/js/pages/executions.js");
    cleanup = await render(root, ctx, arg ? { id: decodeURIComponent(arg) } : {});
  } else if (page === "waterfall") {
    const { renderWaterfall } = await import("/ui/static/js/waterfall.js");
    renderWaterfall(root, SAMPLE_TRACE);
  }
  document.body.dataset.ready = "true";
}
window.addEventListener("hashchange", () => route().catch((err) => console.error(err)));
route().catch((err) => console.error(err));
