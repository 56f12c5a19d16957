// Reads the signatures a browser's WebAssembly API does not report: the types of a
// module's imported and exported functions (WebAssembly.Module.imports/exports give names
// and kinds only). Parses the type, import, function and export sections; the rest is skipped.

const VALTYPES = { 0x7f: "i32", 0x7e: "i64", 0x7d: "f32", 0x7c: "f64", 0x7b: "v128", 0x70: "funcref", 0x6f: "externref" };
const KINDS = ["func", "table", "memory", "global", "tag"];

class Reader {
  constructor(bytes) {
    this.bytes = bytes;
    this.pos = 0;
  }
  byte() {
    if (this.pos >= this.bytes.length) throw new Error("the module ends in the middle of a section");
    return this.bytes[this.pos++];
  }
  u32() {
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 5; i++) {
      const b = this.byte();
      result |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result >>> 0;
      shift += 7;
    }
    throw new Error("a LEB128 number is longer than 5 bytes");
  }
  u64() {
    // memory64 limits: read and keep as a Number (only sizes are read this way)
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return result;
      scale *= 128;
    }
    throw new Error("a LEB128 number is longer than 10 bytes");
  }
  name() {
    const len = this.u32();
    const slice = this.bytes.subarray(this.pos, this.pos + len);
    this.pos += len;
    return new TextDecoder().decode(slice);
  }
  valtype() {
    const code = this.byte();
    const type = VALTYPES[code];
    if (!type) throw new Error(`unknown value type 0x${code.toString(16)}`);
    return type;
  }
  limits() {
    const flags = this.byte();
    const wide = (flags & 4) !== 0;
    const min = wide ? this.u64() : this.u32();
    const max = flags & 1 ? (wide ? this.u64() : this.u32()) : null;
    return { min, max, shared: (flags & 2) !== 0 };
  }
}

/** Signatures of a module: {imports: [{module, name, kind, params, results}],
 * exports: {name: {kind, params, results}}}; params/results are "i32"|"i64"|"f32"|"f64". */
export function readSignatures(buffer) {
  const bytes = buffer instanceof Uint8Array ? buffer : new Uint8Array(buffer);
  const r = new Reader(bytes);
  const magic = [0x00, 0x61, 0x73, 0x6d];
  for (const m of magic) {
    if (r.byte() !== m) throw new Error("not a WebAssembly module (no \\0asm header)");
  }
  r.pos = 8;
  const types = [];
  const imports = [];
  const funcTypes = []; // type index per function index (imports first)
  const exports = {};
  let sections = 0;
  while (r.pos < bytes.length && sections++ < 10000) {
    const id = r.byte();
    const size = r.u32();
    const end = r.pos + size;
    if (id === 1) {
      const count = r.u32();
      for (let i = 0; i < count; i++) {
        const form = r.byte();
        if (form !== 0x60) throw new Error(`type ${i} is not a function type`);
        const params = Array.from({ length: r.u32() }, () => r.valtype());
        const results = Array.from({ length: r.u32() }, () => r.valtype());
        types.push({ params, results });
      }
    } else if (id === 2) {
      const count = r.u32();
      for (let i = 0; i < count; i++) {
        const module = r.name();
        const name = r.name();
        const kind = KINDS[r.byte()] || "unknown";
        const entry = { module, name, kind, params: [], results: [] };
        if (kind === "func") {
          const t = types[r.u32()] || { params: [], results: [] };
          entry.params = t.params;
          entry.results = t.results;
          funcTypes.push(t);
        } else if (kind === "table") {
          r.valtype();
          r.limits();
        } else if (kind === "memory") {
          r.limits();
        } else if (kind === "global") {
          r.valtype();
          r.byte();
        } else if (kind === "tag") {
          r.byte();
          r.u32();
        }
        imports.push(entry);
      }
    } else if (id === 3) {
      const count = r.u32();
      for (let i = 0; i < count; i++) funcTypes.push(types[r.u32()] || { params: [], results: [] });
    } else if (id === 7) {
      const count = r.u32();
      for (let i = 0; i < count; i++) {
        const name = r.name();
        const kind = KINDS[r.byte()] || "unknown";
        const index = r.u32();
        const t = kind === "func" ? funcTypes[index] || { params: [], results: [] } : { params: [], results: [] };
        exports[name] = { kind, params: t.params, results: t.results };
      }
    }
    r.pos = end;
  }
  return { imports, exports };
}
