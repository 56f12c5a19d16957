/*
 * wasi_nn.h - WASI-NN preview1, the `wasi_ephemeral_nn` import module, for C guests.
 *
 * The "ephemeral" witx ABI that wasmtime, WasmEdge and WAMR implement: the values are
 * those of wasmtime's crates/wasi-nn/witx/wasi-nn.witx (what the wasmfleet supervisor
 * implements, src/wasmfleet/runtime/nn/abi.py), the lowering (pointer + length pairs, the
 * result through a last out-pointer) that of bytecodealliance/wasi-nn's generated Rust
 * bindings. Every function returns a wasi_nn_errno (0: success); handles (graph,
 * execution context) are u32. Devices whose supervisor has a WASI-NN backend list these
 * functions among their interfaces, so the orchestrator places a module importing them
 * only there; elsewhere deploying it is refused (422 missing_imports). Models are usually
 * loaded by the name the device registered them under (`wasmfleet supervisor --nn-model
 * NAME=PATH`), e.g. load_by_name("face").
 *
 * Typical use (see modules/face/face.c):
 *
 *     wasi_nn_graph g; wasi_nn_context ctx;
 *     wasi_nn_load_by_name("face", 4, &g);
 *     wasi_nn_init_execution_context(g, &ctx);
 *     uint32_t dims[4] = {1, 128, 128, 3};
 *     wasi_nn_tensor in = {dims, 4, WASI_NN_TYPE_F32, (uint8_t *)pixels, sizeof pixels};
 *     wasi_nn_set_input(ctx, 0, &in);
 *     wasi_nn_compute(ctx);
 *     uint32_t written; wasi_nn_get_output(ctx, 0, (uint8_t *)out, sizeof out, &written);
 */
#ifndef WASI_NN_H
#define WASI_NN_H

#include <stddef.h>
#include <stdint.h>

#define WASI_NN_IMPORT(fn) __attribute__((import_module("wasi_ephemeral_nn"), import_name(fn)))

/* Error codes (witx $nn_errno, u16, returned as i32; WasmEdge adds 100..103 for LLMs). */
typedef int32_t wasi_nn_errno;
enum {
    WASI_NN_SUCCESS = 0,
    WASI_NN_EINVAL = 1,       /* invalid_argument: bad pointer, index, dimensions or type */
    WASI_NN_EENCODING = 2,    /* invalid_encoding: no backend for this graph encoding */
    WASI_NN_EMEMORY = 3,      /* missing_memory: the module exports no memory */
    WASI_NN_EBUSY = 4,        /* busy: device or resource busy */
    WASI_NN_ERUNTIME = 5,     /* runtime_error: the backend failed */
    WASI_NN_EUNSUPPORTED = 6, /* unsupported_operation */
    WASI_NN_ETOOLARGE = 7,    /* too_large: e.g. an output over the buffer given */
    WASI_NN_ENOTFOUND = 8,    /* not_found: no model of that name, no such handle */
};

/* Graph encodings (witx $graph_encoding, u8; ggml is WasmEdge's extension). */
enum {
    WASI_NN_ENCODING_OPENVINO = 0,
    WASI_NN_ENCODING_ONNX = 1,
    WASI_NN_ENCODING_TENSORFLOW = 2,
    WASI_NN_ENCODING_PYTORCH = 3,
    WASI_NN_ENCODING_TENSORFLOWLITE = 4,
    WASI_NN_ENCODING_AUTODETECT = 5,
    WASI_NN_ENCODING_GGML = 6,
};

/* Execution targets (witx $execution_target, u8). */
enum {
    WASI_NN_TARGET_CPU = 0,
    WASI_NN_TARGET_GPU = 1,
    WASI_NN_TARGET_TPU = 2,
};

/*
 * Tensor element types (witx $tensor_type, u8), as in wasmtime's witx. Older witx files
 * and WasmEdge number them f16 0, f32 1, u8 2, i32 3: f16 and f32 agree everywhere, the
 * others do not, so check the runtime before sending u8 or i32 tensors elsewhere.
 */
enum {
    WASI_NN_TYPE_F16 = 0,
    WASI_NN_TYPE_F32 = 1,
    WASI_NN_TYPE_F64 = 2,
    WASI_NN_TYPE_U8 = 3,
    WASI_NN_TYPE_I32 = 4,
    WASI_NN_TYPE_I64 = 5,
};

typedef uint32_t wasi_nn_graph;
typedef uint32_t wasi_nn_context;

/* One buffer of a graph's encoding (witx $graph_builder = list u8): {u32 ptr, u32 len}. */
typedef struct {
    const uint8_t *buf;
    uint32_t len;
} wasi_nn_graph_builder;

/*
 * A tensor (witx $tensor) as it lies in wasm32 memory, 20 bytes:
 *   offset 0 dims_ptr (u32), 4 dims_len (u32), 8 type (u8, then 3 bytes of padding),
 *   12 data_ptr (u32), 16 data_len (u32: bytes, row-major).
 */
typedef struct {
    const uint32_t *dims;
    uint32_t dims_len;
    uint8_t type;
    const uint8_t *data;
    uint32_t data_len;
} wasi_nn_tensor;

#if defined(__wasm32__)
_Static_assert(sizeof(wasi_nn_tensor) == 20, "wasi_nn_tensor is 20 bytes in wasm32");
_Static_assert(offsetof(wasi_nn_tensor, type) == 8, "tensor type at offset 8");
_Static_assert(offsetof(wasi_nn_tensor, data) == 12, "tensor data at offset 12");
_Static_assert(sizeof(wasi_nn_graph_builder) == 8, "a graph builder is {ptr, len}");
#endif

/*
 * wasi_ephemeral_nn.load(i32 builders_ptr, i32 builders_len, i32 encoding, i32 target,
 *                        i32 graph_out) -> i32
 * Builds a graph from builders_len buffers (one for TFLite and ONNX; OpenVINO takes its
 * XML and its weights), stores its handle at *graph.
 */
WASI_NN_IMPORT("load")
wasi_nn_errno wasi_nn_load(const wasi_nn_graph_builder *builders, uint32_t builders_len,
                           int32_t encoding, int32_t target, wasi_nn_graph *graph);

/*
 * wasi_ephemeral_nn.load_by_name(i32 name_ptr, i32 name_len, i32 graph_out) -> i32
 * A graph the host has registered under a name (UTF-8, not NUL-terminated).
 */
WASI_NN_IMPORT("load_by_name")
wasi_nn_errno wasi_nn_load_by_name(const char *name, uint32_t name_len, wasi_nn_graph *graph);

/* wasi_ephemeral_nn.init_execution_context(i32 graph, i32 ctx_out) -> i32 */
WASI_NN_IMPORT("init_execution_context")
wasi_nn_errno wasi_nn_init_execution_context(wasi_nn_graph graph, wasi_nn_context *ctx);

/* wasi_ephemeral_nn.set_input(i32 ctx, i32 index, i32 tensor_ptr) -> i32 */
WASI_NN_IMPORT("set_input")
wasi_nn_errno wasi_nn_set_input(wasi_nn_context ctx, uint32_t index, const wasi_nn_tensor *tensor);

/* wasi_ephemeral_nn.compute(i32 ctx) -> i32 */
WASI_NN_IMPORT("compute")
wasi_nn_errno wasi_nn_compute(wasi_nn_context ctx);

/*
 * wasi_ephemeral_nn.get_output(i32 ctx, i32 index, i32 out_ptr, i32 out_max_bytes,
 *                              i32 bytes_written_out) -> i32
 * Copies output `index` (its raw bytes, row-major) into out, at most out_max_bytes, and
 * stores the number of bytes copied at *bytes_written.
 */
WASI_NN_IMPORT("get_output")
wasi_nn_errno wasi_nn_get_output(wasi_nn_context ctx, uint32_t index, uint8_t *out,
                                 uint32_t out_max_bytes, uint32_t *bytes_written);

#endif /* WASI_NN_H */
