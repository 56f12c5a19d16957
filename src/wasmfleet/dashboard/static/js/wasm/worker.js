// The Web Worker a module runs in, so that a call that never returns can be stopped
// (terminate) like the supervisor's wall-clock limit, without freezing the page.
// Messages in: {id, op: "load"|"call", ...}; out: {id, ok, ...} and {op: "print"|"qoa"}.

import { ModuleRunner } from "./runner.js";

let runner = null;

const events = {
  print: (stream, line) => postMessage({ op: "print", stream, line }),
  qoa: (report) => postMessage({ op: "qoa", report }),
};

function failure(err) {
  return { code: err.code ?? "error", message: err.message ?? String(err), field: err.field ?? null };
}

onmessage = async (event) => {
  const msg = event.data;
  try {
    if (msg.op === "load") {
      runner = new ModuleRunner({ name: msg.name, wasm: msg.wasm, description: msg.description, dataFiles: msg.dataFiles, events });
      await runner.start();
      postMessage({
        id: msg.id,
        ok: true,
        functions: runner.callable(),
        exports: runner.signatures.exports,
        offered: runner.offered,
        absent: runner.absent,
      });
    } else if (msg.op === "call") {
      if (!runner) throw new Error("no module is loaded in this worker");
      const answer = runner.call(msg.fn, msg.args, msg.files, { camera: msg.camera, timeoutMs: msg.timeoutMs });
      const transfer = answer.output ? [answer.output.bytes.buffer] : [];
      postMessage({ id: msg.id, ok: true, ...answer }, transfer);
    }
  } catch (err) {
    postMessage({ id: msg.id, ok: false, error: failure(err) });
  }
};
