// nn.ts - WASI-NN preview1 (`wasi_ephemeral_nn`), offered by devices whose supervisor has an
// inference backend (ONNX Runtime or LiteRT). Values as in guest/c/wasi_nn.h.
import * as raw from "./raw";

export const SUCCESS: i32 = 0;
export const EINVAL: i32 = 1;
export const EENCODING: i32 = 2;
export const EMEMORY: i32 = 3;
export const EBUSY: i32 = 4;
export const ERUNTIME: i32 = 5;
export const EUNSUPPORTED: i32 = 6;
export const ETOOLARGE: i32 = 7;
export const ENOTFOUND: i32 = 8;

export const ENCODING_OPENVINO: i32 = 0;
export const ENCODING_ONNX: i32 = 1;
export const ENCODING_TENSORFLOW: i32 = 2;
export const ENCODING_PYTORCH: i32 = 3;
export const ENCODING_TENSORFLOWLITE: i32 = 4;
export const ENCODING_AUTODETECT: i32 = 5;
export const ENCODING_GGML: i32 = 6;

export const TARGET_CPU: i32 = 0;
export const TARGET_GPU: i32 = 1;
export const TARGET_TPU: i32 = 2;

/** Tensor element types as wasmtime's witx numbers them (f16 and f32 agree everywhere). */
export const TYPE_F16: i32 = 0;
export const TYPE_F32: i32 = 1;
export const TYPE_F64: i32 = 2;
export const TYPE_U8: i32 = 3;
export const TYPE_I32: i32 = 4;
export const TYPE_I64: i32 = 5;

/** An errno and, when it is SUCCESS, a value: a graph or context handle, or a byte count. */
export class Result {
  constructor(public errno: i32, public value: u32) {}

  /** True when errno is SUCCESS. */
  get ok(): bool {
    return this.errno == SUCCESS;
  }
}

/** The u32 the host stores a handle or a count into. */
const out = memory.data(4, 4);
/** A tensor as it lies in wasm32 memory: dims ptr, dims len, type (u8, 3 bytes padding),
 * data ptr, data len (20 bytes). */
const tensor = memory.data(20, 4);

function answer(errno: i32): Result {
  return new Result(errno, errno == SUCCESS ? load<u32>(out) : 0);
}

/** A graph the device registered under `name` (wasmfleet supervisor --nn-model NAME=PATH). */
export function loadByName(name: string): Result {
  const n = String.UTF8.encode(name);
  return answer(raw.wasi_nn_load_by_name(changetype<usize>(n), <u32>n.byteLength, out));
}

/** A graph built from the buffers of its encoding (one for ONNX and TFLite): wasi-nn `load`. */
export function loadGraph(builders: Uint8Array[], encoding: i32, target: i32 = TARGET_CPU): Result {
  const pairs = new Uint32Array(builders.length * 2);
  for (let i = 0; i < builders.length; i++) {
    pairs[i * 2] = <u32>builders[i].dataStart;
    pairs[i * 2 + 1] = <u32>builders[i].length;
  }
  return answer(raw.wasi_nn_load(pairs.dataStart, <u32>builders.length, encoding, target, out));
}

/** A new execution context of a graph. */
export function initExecutionContext(graph: u32): Result {
  return answer(raw.wasi_nn_init_execution_context(graph, out));
}

/** Sets input `index` to a tensor of the given dimensions and element type; data is its
 * bytes, row-major. */
export function setInput(ctx: u32, index: u32, dims: u32[], type: i32, data: Uint8Array): i32 {
  const d = new Uint32Array(dims.length);
  for (let i = 0; i < dims.length; i++) d[i] = dims[i];
  store<u32>(tensor, <u32>d.dataStart);
  store<u32>(tensor, <u32>d.length, 4);
  store<u32>(tensor, <u32>(type & 0xff), 8);
  store<u32>(tensor, <u32>data.dataStart, 12);
  store<u32>(tensor, <u32>data.length, 16);
  return raw.wasi_nn_set_input(ctx, index, tensor);
}

/** Runs the graph on the inputs set. */
export function compute(ctx: u32): i32 {
  return raw.wasi_nn_compute(ctx);
}

/** Copies output `index` into `into` (at most into.length bytes); value: the bytes copied. */
export function getOutput(ctx: u32, index: u32, into: Uint8Array): Result {
  return answer(raw.wasi_nn_get_output(ctx, index, into.dataStart, <u32>into.length, out));
}
