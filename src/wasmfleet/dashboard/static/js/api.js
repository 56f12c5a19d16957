// The API client every page uses: the bearer token from sessionStorage, JSON in and out,
// errors as ApiError carrying the API's own sentence (and the field it names, if any).

export const TOKEN_KEY = "wasmfleet.token";

export class ApiError extends Error {
  constructor(status, code, message, field = null, body = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.field = field;
    this.body = body;
  }
}

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

function headers(extra = {}) {
  const token = getToken();
  return token ? { ...extra, Authorization: `Bearer ${token}` } : extra;
}

// The field an error names: an explicit "field", else a quoted name at the start of the
// sentence ("'level' must be ...") or before a colon ("name: field required").
function fieldOf(error) {
  if (!error) return null;
  if (error.field) return String(error.field);
  const quoted = /^'([\w.\[\]-]+)'/.exec(error.message || "");
  if (quoted) return quoted[1];
  const colon = /^The request is not valid: ([\w.]+):/.exec(error.message || "");
  return colon ? colon[1].split(".").pop() : null;
}

export function errorFrom(status, body, fallback) {
  const error = body && typeof body === "object" ? body.error : null;
  if (error && typeof error === "object") {
    return new ApiError(status, error.code || "error", error.message || fallback, fieldOf(error), body);
  }
  const text = typeof body === "string" && body.trim() ? body.trim().slice(0, 300) : fallback;
  return new ApiError(status, "error", text, null, body);
}

async function parse(response) {
  const type = response.headers.get("content-type") || "";
  if (response.status === 204) return null;
  if (type.includes("json")) return response.json();
  return response.text();
}

async function request(method, path, { json, body, signal } = {}) {
  const init = { method, headers: headers(), signal };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["Content-Type"] = "application/json";
  } else if (body !== undefined) {
    init.body = body;
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw new ApiError(0, "unreachable", "The orchestrator does not answer; check the connection.");
  }
  const parsed = await parse(response).catch(() => null);
  if (!response.ok) throw errorFrom(response.status, parsed, `${method} ${path} answered ${response.status}.`);
  return parsed;
}

export const api = {
  get: (path, opts) => request("GET", path, opts),
  post: (path, json, opts) => request("POST", path, { ...opts, json }),
  put: (path, json, opts) => request("PUT", path, { ...opts, json }),
  del: (path, opts) => request("DELETE", path, opts),
  // A body of another type (YAML text, say) with its content type.
  send: (method, path, text, type) =>
    request(method, path, { body: new Blob([text], { type }) }),
  // multipart with upload progress (XMLHttpRequest: fetch has no upload progress)
  form(path, formData, { onProgress, method = "POST" } = {}) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open(method, path);
      const token = getToken();
      if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
      xhr.responseType = "text";
      if (onProgress) {
        xhr.upload.onprogress = (e) => onProgress(e.lengthComputable ? e.loaded / e.total : null, e);
      }
      xhr.onerror = () => reject(new ApiError(0, "unreachable", "The upload did not reach the orchestrator."));
      xhr.onload = () => {
        let parsed = xhr.responseText;
        try {
          parsed = JSON.parse(xhr.responseText);
        } catch {
          /* a text answer */
        }
        if (xhr.status >= 200 && xhr.status < 300) resolve(parsed);
        else reject(errorFrom(xhr.status, parsed, `${method} ${path} answered ${xhr.status}.`));
      };
      xhr.send(formData);
    });
  },
  async blob(path) {
    let response;
    try {
      response = await fetch(path, { headers: headers() });
    } catch {
      throw new ApiError(0, "unreachable", "The orchestrator does not answer; check the connection.");
    }
    if (!response.ok) {
      const parsed = await parse(response).catch(() => null);
      throw errorFrom(response.status, parsed, `GET ${path} answered ${response.status}.`);
    }
    return response.arrayBuffer();
  },
  // The raw fetch with the token (the event streams read its body).
  raw: (path, init = {}) => fetch(path, { ...init, headers: headers(init.headers || {}) }),
};
