//! WASI-NN preview1 (`wasi_ephemeral_nn`): inference by the device's backend.
//!
//! Devices whose supervisor has a WASI-NN backend offer it; models are usually loaded by
//! the name the device registered them under (`wasmfleet supervisor --nn-model NAME=PATH`):
//!
//! ```ignore
//! use wasmfleet::nn;
//! let context = nn::load_by_name("face")?.context()?;
//! context.set_input(0, nn::TensorType::F32, &[1, 128, 128, 3], &pixels)?;
//! context.compute()?;
//! let mut out = vec![0u8; 4 * 896];
//! let written = context.get_output(0, &mut out)?;
//! ```

use std::fmt;

use crate::raw;

/// A WASI-NN error (witx `nn_errno`): 1 invalid argument, 2 invalid encoding, 3 missing
/// memory, 4 busy, 5 runtime error, 6 unsupported operation, 7 too large, 8 not found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NnError(pub i32);

impl NnError {
    /// invalid_argument: bad pointer, index, dimensions or type.
    pub const INVALID_ARGUMENT: NnError = NnError(1);
    /// invalid_encoding: no backend for this graph encoding.
    pub const INVALID_ENCODING: NnError = NnError(2);
    /// missing_memory: the module exports no memory.
    pub const MISSING_MEMORY: NnError = NnError(3);
    /// busy: device or resource busy.
    pub const BUSY: NnError = NnError(4);
    /// runtime_error: the backend failed.
    pub const RUNTIME_ERROR: NnError = NnError(5);
    /// unsupported_operation.
    pub const UNSUPPORTED: NnError = NnError(6);
    /// too_large: e.g. an output over the buffer given.
    pub const TOO_LARGE: NnError = NnError(7);
    /// not_found: no model of that name, no such handle.
    pub const NOT_FOUND: NnError = NnError(8);
}

impl fmt::Display for NnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self.0 {
            1 => "invalid argument",
            2 => "invalid encoding",
            3 => "missing memory",
            4 => "busy",
            5 => "runtime error",
            6 => "unsupported operation",
            7 => "too large",
            8 => "not found",
            _ => "unknown error",
        };
        write!(f, "WASI-NN: {} (errno {})", text, self.0)
    }
}

fn check(errno: i32) -> Result<(), NnError> {
    if errno == 0 {
        Ok(())
    } else {
        Err(NnError(errno))
    }
}

/// Graph encodings (witx `graph_encoding`; `Ggml` is WasmEdge's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Encoding {
    /// OpenVINO IR (XML and weights: two builders).
    Openvino = 0,
    /// ONNX.
    Onnx = 1,
    /// TensorFlow.
    Tensorflow = 2,
    /// PyTorch.
    Pytorch = 3,
    /// TensorFlow Lite.
    Tensorflowlite = 4,
    /// Let the host tell.
    Autodetect = 5,
    /// GGML.
    Ggml = 6,
}

/// Execution targets (witx `execution_target`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Target {
    /// The CPU.
    Cpu = 0,
    /// A GPU.
    Gpu = 1,
    /// A TPU.
    Tpu = 2,
}

/// Tensor element types as in wasmtime's witx (f16 and f32 agree everywhere; check the
/// runtime before sending u8 or i32 tensors to others).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum TensorType {
    /// 16-bit float.
    F16 = 0,
    /// 32-bit float.
    F32 = 1,
    /// 64-bit float.
    F64 = 2,
    /// Unsigned byte.
    U8 = 3,
    /// 32-bit integer.
    I32 = 4,
    /// 64-bit integer.
    I64 = 5,
}

/// A loaded model (a graph handle).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Graph(pub u32);

/// An execution context of a graph: inputs, compute, outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Context(pub u32);

/// Loads the model the device registered under `name`.
pub fn load_by_name(name: &str) -> Result<Graph, NnError> {
    let mut graph = 0u32;
    check(unsafe { raw::load_by_name(name.as_ptr(), name.len() as u32, &mut graph) })?;
    Ok(Graph(graph))
}

/// Builds a graph from the model's bytes (one buffer for TFLite and ONNX; OpenVINO takes
/// its XML and its weights).
pub fn load(parts: &[&[u8]], encoding: Encoding, target: Target) -> Result<Graph, NnError> {
    let builders: Vec<raw::GraphBuilder> = parts
        .iter()
        .map(|part| raw::GraphBuilder {
            buf: part.as_ptr(),
            len: part.len() as u32,
        })
        .collect();
    let mut graph = 0u32;
    check(unsafe {
        raw::load(
            builders.as_ptr(),
            builders.len() as u32,
            encoding as i32,
            target as i32,
            &mut graph,
        )
    })?;
    Ok(Graph(graph))
}

impl Graph {
    /// A new execution context of this graph.
    pub fn context(self) -> Result<Context, NnError> {
        let mut context = 0u32;
        check(unsafe { raw::init_execution_context(self.0, &mut context) })?;
        Ok(Context(context))
    }
}

impl Context {
    /// Sets input `index` to a tensor of `dims` holding `data` (row-major bytes).
    pub fn set_input(
        self,
        index: u32,
        tensor_type: TensorType,
        dims: &[u32],
        data: &[u8],
    ) -> Result<(), NnError> {
        let tensor = raw::Tensor {
            dims: dims.as_ptr(),
            dims_len: dims.len() as u32,
            tensor_type: tensor_type as u8,
            data: data.as_ptr(),
            data_len: data.len() as u32,
        };
        check(unsafe { raw::set_input(self.0, index, &tensor) })
    }

    /// Runs the graph on the inputs set.
    pub fn compute(self) -> Result<(), NnError> {
        check(unsafe { raw::compute(self.0) })
    }

    /// Copies output `index` (raw bytes, row-major) into `out`; the number of bytes
    /// written (`TOO_LARGE` when `out` is too small).
    pub fn get_output(self, index: u32, out: &mut [u8]) -> Result<usize, NnError> {
        let mut written = 0u32;
        check(unsafe {
            raw::get_output(
                self.0,
                index,
                out.as_mut_ptr(),
                out.len() as u32,
                &mut written,
            )
        })?;
        Ok(written as usize)
    }

    /// Output `index` as `f32` values (little-endian, as Wasm stores them).
    pub fn get_output_f32(self, index: u32, max_values: usize) -> Result<Vec<f32>, NnError> {
        let mut bytes = vec![0u8; max_values * 4];
        let written = self.get_output(index, &mut bytes)?;
        Ok(bytes[..written - written % 4]
            .chunks(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
}
