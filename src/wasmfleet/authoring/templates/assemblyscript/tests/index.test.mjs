// Tests of __NAME__ with Node's own test runner: `wasmfleet build`, then `npm test`.
// The module runs here with stand-ins for the host functions it imports; on a device the
// supervisor provides the real ones (and `wasmfleet run` a simulated device).
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";

const wasm = await readFile(new URL("../build/__NAME__.wasm", import.meta.url));

async function start() {
  const log = [];
  let memory;
  const text = (ptr, len) => new TextDecoder().decode(new Uint8Array(memory.buffer, ptr, len));
  const { instance } = await WebAssembly.instantiate(wasm, {
    env: {
      abort() {
        throw new Error("the module aborted");
      },
    },
    sys: {
      println: (ptr, len) => log.push(text(ptr, len)),
      print: (ptr, len) => log.push(text(ptr, len)),
    },
  });
  memory = instance.exports.memory;
  instance.exports._initialize?.();
  return { exports: instance.exports, log };
}

// Calls a bytes-ABI export as the supervisor does: alloc, copy in, call, unpack (ptr << 32) | len.
function callBytes(exports, name, input) {
  const data = new TextEncoder().encode(input);
  const ptr = data.length ? exports.alloc(data.length) : 0;
  new Uint8Array(exports.memory.buffer, ptr, data.length).set(data);
  const packed = exports[name](ptr, data.length);
  if (packed < 0n) return { rejected: Number(packed) };
  const at = Number(packed >> 32n);
  const len = Number(packed & 0xffffffffn);
  return { text: new TextDecoder().decode(new Uint8Array(exports.memory.buffer, at, len)) };
}

test("add sums and counts its calls", async () => {
  const { exports } = await start();
  assert.equal(exports.add(2, 3), 5);
  assert.equal(exports.add(-7, 7), 0);
  assert.equal(exports.count(), 2);
});

test("greet answers a greeting and logs it", async () => {
  const { exports, log } = await start();
  assert.deepEqual(callBytes(exports, "greet", "Ada"), { text: "Hello, Ada!" });
  assert.deepEqual(log, ["greeting Ada"]);
  assert.deepEqual(callBytes(exports, "greet", ""), { rejected: -1 });
});
