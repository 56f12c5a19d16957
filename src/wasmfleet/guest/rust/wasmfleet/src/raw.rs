//! The host imports exactly as the supervisor offers them: one `extern` declaration per
//! function, with its Wasm signature (pointers and lengths are `i32` on wasm32). The C
//! headers (`guest/c/wasmiot.h`, `wasmfleet.h`, `wasi_nn.h`) are the reference; the safe
//! wrappers in the other modules of this crate are what modules normally call.
//!
//! A module imports only the functions it calls: declaring them here costs nothing.

/// A WASI-NN graph builder as it lies in wasm32 memory: `{u32 ptr, u32 len}`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct GraphBuilder {
    pub buf: *const u8,
    pub len: u32,
}

/// A WASI-NN tensor as it lies in wasm32 memory, 20 bytes: dims pointer and length, the
/// element type (a byte, then 3 bytes of padding), data pointer and length in bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Tensor {
    pub dims: *const u32,
    pub dims_len: u32,
    pub tensor_type: u8,
    pub data: *const u8,
    pub data_len: u32,
}

#[cfg(target_arch = "wasm32")]
const _: () = {
    assert!(core::mem::size_of::<Tensor>() == 20);
    assert!(core::mem::size_of::<GraphBuilder>() == 8);
};

#[link(wasm_import_module = "sys")]
extern "C" {
    /// sys.millis() -> i32: milliseconds from an arbitrary origin (wraps).
    pub fn millis() -> i32;
    /// sys.delay(i32 ms): blocks the calling module for `ms` milliseconds.
    pub fn delay(ms: i32);
    /// sys.print(i32 ptr, i32 len): `len` bytes of UTF-8 to the device log.
    pub fn print(text: *const u8, len: u32);
    /// sys.println(i32 ptr, i32 len): like `print`, followed by a newline.
    pub fn println(text: *const u8, len: u32);
    /// sys.printInt(i32 value): a decimal integer to the device log.
    #[link_name = "printInt"]
    pub fn print_int(value: i32);
}

#[link(wasm_import_module = "camera")]
extern "C" {
    /// camera.takeImageDynamicSize(i32 outPtrPtr, i32 outLenPtr): the host calls the
    /// module's exported `alloc(len)`, writes the JPEG there and stores its address and
    /// length (little-endian u32 each).
    #[link_name = "takeImageDynamicSize"]
    pub fn take_image_dynamic_size(out_ptr: *mut *mut u8, out_len: *mut u32);
    /// camera.takeImageStaticSize(i32 outPtr, i32 sizePtr): at most `*size` JPEG bytes at
    /// `out`; the number written is stored back at `size`.
    #[link_name = "takeImageStaticSize"]
    pub fn take_image_static_size(out: *mut u8, size: *mut u32);
}

#[link(wasm_import_module = "dht")]
extern "C" {
    /// dht.getTemperature() -> f32: degrees Celsius.
    #[link_name = "getTemperature"]
    pub fn get_temperature() -> f32;
    /// dht.getHumidity() -> f32: relative humidity in percent.
    #[link_name = "getHumidity"]
    pub fn get_humidity() -> f32;
}

#[link(wasm_import_module = "communication")]
extern "C" {
    /// communication.rpcCall(i32 modPtr, i32 modLen, i32 funcPtr, i32 funcLen, i32 dataPtr,
    /// i32 dataLen) -> i32: calls `func` of `mod` with the data bytes; 0 on success (the
    /// answer is copied over the data buffer, at most dataLen bytes), else 1.
    #[link_name = "rpcCall"]
    pub fn rpc_call(
        module: *const u8,
        module_len: u32,
        function: *const u8,
        function_len: u32,
        data: *mut u8,
        data_len: u32,
    ) -> i32;
}

#[link(wasm_import_module = "wasmfleet")]
extern "C" {
    /// wasmfleet.publish(i32 topic_ptr, i32 topic_len, i32 data_ptr, i32 data_len, i32 qos) -> i32
    pub fn publish(
        topic: *const u8,
        topic_len: u32,
        data: *const u8,
        data_len: u32,
        qos: i32,
    ) -> i32;
    /// wasmfleet.message_topic(i32 buf_ptr, i32 buf_len) -> i32
    pub fn message_topic(buf: *mut u8, buf_len: u32) -> i32;
    /// wasmfleet.image_decode(i32 src_ptr, i32 src_len, i32 channels, i32 max_side,
    /// i32 info_ptr) -> i32; `info` = {pixels_ptr, width, height}
    pub fn image_decode(
        src: *const u8,
        src_len: u32,
        channels: i32,
        max_side: i32,
        info: *mut u32,
    ) -> i32;
    /// wasmfleet.image_encode(i32 pixels_ptr, i32 width, i32 height, i32 channels,
    /// i32 quality, i32 out_info_ptr) -> i32; `out` = {jpeg_ptr, jpeg_len}
    pub fn image_encode(
        pixels: *const u8,
        width: i32,
        height: i32,
        channels: i32,
        quality: i32,
        out: *mut u32,
    ) -> i32;
    /// wasmfleet.qoa_report(f32 latency_ms, f32 confidence) -> i32
    pub fn qoa_report(latency_ms: f32, confidence: f32) -> i32;
    /// wasmfleet.thing_read(i32 name_ptr, i32 name_len, i32 buf_ptr, i32 buf_len) -> i32
    pub fn thing_read(name: *const u8, name_len: u32, buf: *mut u8, buf_len: u32) -> i32;
    /// wasmfleet.thing_send(i32 name_ptr, i32 name_len, i32 data_ptr, i32 data_len) -> i32
    pub fn thing_send(name: *const u8, name_len: u32, data: *const u8, data_len: u32) -> i32;
    /// wasmfleet.param(i32 name_ptr, i32 name_len, i32 buf_ptr, i32 buf_len) -> i32
    pub fn param(name: *const u8, name_len: u32, buf: *mut u8, buf_len: u32) -> i32;
}

#[link(wasm_import_module = "wasi_ephemeral_nn")]
extern "C" {
    /// wasi_ephemeral_nn.load(i32 builders_ptr, i32 builders_len, i32 encoding, i32 target,
    /// i32 graph_out) -> i32
    pub fn load(
        builders: *const GraphBuilder,
        builders_len: u32,
        encoding: i32,
        target: i32,
        graph: *mut u32,
    ) -> i32;
    /// wasi_ephemeral_nn.load_by_name(i32 name_ptr, i32 name_len, i32 graph_out) -> i32
    pub fn load_by_name(name: *const u8, name_len: u32, graph: *mut u32) -> i32;
    /// wasi_ephemeral_nn.init_execution_context(i32 graph, i32 ctx_out) -> i32
    pub fn init_execution_context(graph: u32, context: *mut u32) -> i32;
    /// wasi_ephemeral_nn.set_input(i32 ctx, i32 index, i32 tensor_ptr) -> i32
    pub fn set_input(context: u32, index: u32, tensor: *const Tensor) -> i32;
    /// wasi_ephemeral_nn.compute(i32 ctx) -> i32
    pub fn compute(context: u32) -> i32;
    /// wasi_ephemeral_nn.get_output(i32 ctx, i32 index, i32 out_ptr, i32 out_max_bytes,
    /// i32 bytes_written_out) -> i32
    pub fn get_output(
        context: u32,
        index: u32,
        out: *mut u8,
        out_max_bytes: u32,
        bytes_written: *mut u32,
    ) -> i32;
}
