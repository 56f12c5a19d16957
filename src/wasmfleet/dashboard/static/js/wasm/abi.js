// What the supervisor does around a call, in JavaScript, so that the browser gives the same
// answer for the same input: reading a function's description (core/openapi.py), binding and
// casting HTTP arguments to Wasm parameters and formatting results (core/args.py).

const HTTP_METHODS = ["get", "post", "put", "delete", "patch", "head", "options", "trace"];
const JSON_MEDIA_TYPES = new Set(["application/json", "text/json"]);
const RANGES = {
  i32: [-(2n ** 31n), 2n ** 32n - 1n, 2n ** 32n],
  i64: [-(2n ** 63n), 2n ** 64n - 1n, 2n ** 64n],
};
const KIND = { i32: "an integer", i64: "an integer", f32: "a number", f64: "a number" };

/** An argument error: the same sentence the supervisor answers with a 400; `field` names the input. */
export class InvalidArgument extends Error {
  constructor(message, field = null) {
    super(message);
    this.name = "InvalidArgument";
    this.code = "invalid_argument";
    this.field = field;
  }
}

const obj = (v) => (v && typeof v === "object" && !Array.isArray(v) ? v : {});

function pickOperation(pathItem) {
  const ops = Object.entries(obj(pathItem)).filter(([m]) => HTTP_METHODS.includes(m.toLowerCase()));
  if (!ops.length) return null;
  ops.sort((a, b) => HTTP_METHODS.indexOf(a[0].toLowerCase()) - HTTP_METHODS.indexOf(b[0].toLowerCase()));
  const [method, op] = ops[0];
  return op && typeof op === "object" ? [method.toUpperCase(), op] : null;
}

function operationMounts(op) {
  if (Array.isArray(op["x-mounts"])) {
    return op["x-mounts"]
      .filter((m) => m && typeof m === "object")
      .map((m) => ({
        name: String(m.name ?? m.path ?? ""),
        stage: String(m.stage ?? ""),
        media_type: String(m.media_type ?? m.mediaType ?? "application/octet-stream"),
      }))
      .filter((m) => m.name);
  }
  const mounts = [];
  const multipart = obj(obj(obj(op.requestBody).content)["multipart/form-data"]);
  const encoding = obj(multipart.encoding);
  for (const name of Object.keys(obj(obj(multipart.schema).properties))) {
    mounts.push({ name, stage: "execution", media_type: String(obj(encoding[name]).contentType ?? "application/octet-stream") });
  }
  for (const item of Array.isArray(op.parameters) ? op.parameters : []) {
    const p = obj(item);
    if (p.in === "requestBody" && p.name && !mounts.some((m) => m.name === p.name)) {
      mounts.push({ name: String(p.name), stage: "execution", media_type: "application/octet-stream" });
    }
  }
  return mounts;
}

/** The functions of a module description: {name: {name, method, summary, params:
 * [{name, type, required, description, example}], mounts, responseMediaType, responseSchema,
 * returnsFile, example}} — as the supervisor reads them (core/openapi.py). */
export function describeFunctions(description) {
  const found = {};
  for (const [path, item] of Object.entries(obj(obj(description).paths))) {
    const segments = String(path).split("/").filter(Boolean);
    if (!segments.length || segments[segments.length - 1].startsWith("{")) continue;
    if (segments.includes("modules") && segments.indexOf("modules") !== segments.length - 3) continue;
    const picked = pickOperation(item);
    if (!picked) continue;
    const [method, op] = picked;
    const name = segments[segments.length - 1];
    const params = (Array.isArray(op.parameters) ? op.parameters : [])
      .filter((p) => p && typeof p.name === "string" && (p.in ?? "query") === "query")
      .map((p) => ({
        name: p.name,
        type: String(obj(p.schema).type ?? ""),
        required: p.required ?? true,
        description: p.description ?? "",
        example: obj(op["x-example"])[p.name],
      }));
    const content = obj(obj(obj(op.responses)["200"]).content);
    const [media, spec] = Object.entries(content)[0] ?? ["", {}];
    const base = String(media).split(";")[0].trim().toLowerCase();
    found[name] = {
      name,
      method,
      summary: op.summary ?? op.description ?? "",
      params,
      mounts: operationMounts(op),
      responseMediaType: String(media),
      responseSchema: obj(obj(spec).schema),
      responseDescription: obj(obj(op.responses)["200"]).description ?? "",
      returnsFile: Boolean(base) && !JSON_MEDIA_TYPES.has(base),
      example: obj(op["x-example"]),
    };
  }
  return found;
}

function pyReprStr(text) {
  const s = String(text);
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = "";
  for (const ch of s) {
    const c = ch.codePointAt(0);
    if (ch === "\\") out += "\\\\";
    else if (ch === quote) out += "\\" + ch;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (c < 0x20 || c === 0x7f) out += "\\x" + c.toString(16).padStart(2, "0");
    else out += ch;
  }
  return quote + out + quote;
}

/** Python's repr() of an argument value (a string, or a JSON number). */
export function pyRepr(value) {
  if (typeof value === "string") return pyReprStr(value);
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : pyFloat(value);
  if (typeof value === "boolean") return value ? "True" : "False";
  return String(value);
}

function asInt(value) {
  if (typeof value === "boolean") return null;
  if (typeof value === "bigint") return value;
  if (typeof value === "number") return Number.isInteger(value) ? BigInt(value) : null;
  const text = String(value).trim();
  if (/^[+-]?\d+(_\d+)*$/.test(text)) return BigInt(text.replace(/_/g, ""));
  const real = asFloatText(text);
  if (real === null) return null;
  return Number.isInteger(real) && Math.abs(real) < 2 ** 64 ? BigInt(real) : null;
}

function asFloatText(text) {
  const t = text.trim();
  if (/^[+-]?(inf|infinity)$/i.test(t)) return t.startsWith("-") ? -Infinity : Infinity;
  if (/^[+-]?nan$/i.test(t)) return NaN;
  const plain = t.replace(/(\d)_(?=\d)/g, "$1");
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(plain)) return Number(plain);
  return null;
}

function asFloat(value) {
  if (typeof value === "boolean") return null;
  if (typeof value === "number") return value;
  if (typeof value === "bigint") return Number(value);
  return asFloatText(String(value));
}

/** Cast one argument to a Wasm value (BigInt for i64, Number otherwise); ints wrap unsigned input. */
export function castArgument(name, value, wasmType) {
  if (wasmType in RANGES) {
    let number = asInt(value);
    const [low, high, modulus] = RANGES[wasmType];
    if (number === null) {
      throw new InvalidArgument(`Argument ${pyReprStr(name)} must be ${KIND[wasmType]} (${wasmType}), got ${pyRepr(value)}.`, name);
    }
    if (number < low || number > high) {
      throw new InvalidArgument(`Argument ${pyReprStr(name)} = ${number} does not fit in ${wasmType} (allowed ${low} .. ${high}).`, name);
    }
    if (number >= modulus / 2n) number -= modulus;
    return wasmType === "i64" ? number : Number(number);
  }
  const real = asFloat(value);
  if (real === null) {
    throw new InvalidArgument(`Argument ${pyReprStr(name)} must be ${KIND[wasmType]} (${wasmType}), got ${pyRepr(value)}.`, name);
  }
  return real;
}

function signatureText(declared, wasmParams) {
  if (declared.length && declared.length === wasmParams.length) {
    return declared.map((n, i) => `${n}: ${wasmParams[i]}`).join(", ");
  }
  return wasmParams.join(", ") || "none";
}

/** The Wasm argument list for a call (core/args.bind_arguments): `given` is [[name, value]]. */
export function bindArguments(moduleName, fn, wasmParams, given) {
  const declared = fn.params.map((p) => p.name);
  const positional = given.length > 0 && given.every(([n]) => /^\d+$/.test(n));
  let values;
  if (declared.length && declared.length === wasmParams.length && !positional) {
    const byName = new Map(given);
    values = declared.map((name) => {
      if (!byName.has(name)) {
        const example = declared.map((n) => `${n}=1`).join("&");
        const got = given.map(([n]) => n).join(", ") || "nothing";
        throw new InvalidArgument(
          `Missing argument ${pyReprStr(name)} for ${moduleName}.${fn.name} (${signatureText(declared, wasmParams)}); got ${got}. Example: ?${example}`,
          name,
        );
      }
      return [name, byName.get(name)];
    });
  } else {
    if (given.length !== wasmParams.length) {
      throw new InvalidArgument(
        `${moduleName}.${fn.name} takes ${wasmParams.length} argument(s) (${signatureText(declared, wasmParams)}), got ${given.length}.`,
      );
    }
    values = given;
  }
  return values.map(([name, value], i) => castArgument(name, value, wasmParams[i]));
}

/** Python's repr() of a float: shortest round trip, '1.0', '1e+16', '1e-05', 'nan', 'inf'. */
export function pyFloat(value) {
  if (Number.isNaN(value)) return "nan";
  if (!Number.isFinite(value)) return value > 0 ? "inf" : "-inf";
  if (value === 0) return Object.is(value, -0) ? "-0.0" : "0.0";
  const [mant, expText] = value.toExponential().split("e");
  const exp = Number(expText);
  const negative = mant.startsWith("-");
  const digits = mant.replace("-", "").replace(".", "");
  let out;
  if (exp >= -5 + 1 && exp < 16) {
    if (exp >= 0) {
      const intPart = digits.slice(0, exp + 1).padEnd(exp + 1, "0");
      const frac = digits.slice(exp + 1);
      out = `${intPart}.${frac || "0"}`;
    } else {
      out = `0.${"0".repeat(-exp - 1)}${digits}`;
    }
  } else {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const e = Math.abs(exp).toString().padStart(2, "0");
    out = `${m}e${exp < 0 ? "-" : "+"}${e}`;
  }
  return (negative ? "-" : "") + out;
}

function shortestF32(value) {
  for (let digits = 6; digits < 10; digits++) {
    const text = Number(value.toPrecision(digits));
    if (Math.fround(text) === value) return pyFloat(text);
  }
  return pyFloat(value);
}

/** The wasmiot text form of a scalar result (core/args.format_scalar): "13", "21.5", "nan". */
export function formatScalar(value, wasmType) {
  if (typeof value === "bigint") return value.toString();
  if (wasmType === "i32" || wasmType === "i64") return String(value);
  if (Number.isNaN(value) || !Number.isFinite(value)) return pyFloat(value);
  return wasmType === "f32" ? shortestF32(value) : pyFloat(value);
}

/** The result the supervisor would put in the history entry for `value` (supervisor/call_job.py format_result). */
export function formatResult(value, results) {
  if (value === undefined || value === null || !results.length) return null;
  if (results.length === 1) return formatScalar(value, results[0]);
  return value.map((v, i) => formatScalar(v, results[i]));
}
