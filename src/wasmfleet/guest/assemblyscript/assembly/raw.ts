// raw.ts - every host function wasmfleet offers, with its exact Wasm signature.
//
// These are the imports of src/wasmfleet/guest/c/wasmiot.h, wasmfleet.h and wasi_nn.h (the
// reference), declared for AssemblyScript: pointers are `usize` (i32 in wasm32), lengths
// `u32`. A module imports only what it calls, so declaring them all costs nothing. Most
// modules use the typed wrappers instead (sys, camera, dht, communication, mqtt, images,
// qoa, things, nn in index.ts); these are for what the wrappers do not cover.

// ---- sys ----------------------------------------------------------------------------

/** sys.millis() -> i32: milliseconds from an arbitrary origin (wraps). */
@external("sys", "millis")
export declare function millis(): i32;

/** sys.delay(i32 ms): blocks the calling module for ms milliseconds. */
@external("sys", "delay")
export declare function delay(ms: i32): void;

/** sys.print(i32 ptr, i32 len): writes len bytes (UTF-8) to the device log. */
@external("sys", "print")
export declare function print(text: usize, len: u32): void;

/** sys.println(i32 ptr, i32 len): like print, followed by a newline. */
@external("sys", "println")
export declare function println(text: usize, len: u32): void;

/** sys.printInt(i32 value): writes a decimal integer to the device log. */
@external("sys", "printInt")
export declare function printInt(value: i32): void;

// ---- camera -------------------------------------------------------------------------

/** camera.takeImageDynamicSize(i32 outPtrPtr, i32 outLenPtr): the host calls the module's
 * exported alloc(len), writes the JPEG there and stores its address and length (u32 LE). */
@external("camera", "takeImageDynamicSize")
export declare function takeImageDynamicSize(outPtr: usize, outLen: usize): void;

/** camera.takeImageStaticSize(i32 outPtr, i32 sizePtr): at most *size bytes of JPEG at
 * out; the number written is stored back at *size. */
@external("camera", "takeImageStaticSize")
export declare function takeImageStaticSize(out: usize, size: usize): void;

// ---- dht ----------------------------------------------------------------------------

/** dht.getTemperature() -> f32: degrees Celsius. */
@external("dht", "getTemperature")
export declare function getTemperature(): f32;

/** dht.getHumidity() -> f32: relative humidity in percent. */
@external("dht", "getHumidity")
export declare function getHumidity(): f32;

// ---- communication ------------------------------------------------------------------

/** communication.rpcCall(modPtr, modLen, funcPtr, funcLen, dataPtr, dataLen) -> i32: calls
 * function `func` of module `mod` with the data; the answer is written back over the data
 * (at most dataLen bytes). 0 on success. */
@external("communication", "rpcCall")
export declare function rpcCall(
  mod: usize, modLen: u32, func: usize, funcLen: u32, data: usize, dataLen: u32,
): i32;

// ---- wasmfleet ----------------------------------------------------------------------

/** wasmfleet.publish(topicPtr, topicLen, dataPtr, dataLen, qos) -> i32: 0 or a negative code
 * (mqtt.ENOBROKER ...). Offered by devices whose supervisor has --broker. */
@external("wasmfleet", "publish")
export declare function wasmfleet_publish(
  topic: usize, topicLen: u32, data: usize, dataLen: u32, qos: i32,
): i32;

/** wasmfleet.message_topic(bufPtr, bufLen) -> i32: the triggering message's topic, its full
 * length in bytes, or -1 outside a triggered call. */
@external("wasmfleet", "message_topic")
export declare function wasmfleet_message_topic(buf: usize, bufLen: u32): i32;

/** wasmfleet.image_decode(srcPtr, srcLen, channels, maxSide, infoPtr) -> i32: pixels from the
 * module's alloc(), info = {pixelsPtr, width, height}; returns width*height*channels or a
 * negative images.E* code. */
@external("wasmfleet", "image_decode")
export declare function wasmfleet_image_decode(
  src: usize, srcLen: u32, channels: i32, maxSide: i32, info: usize,
): i32;

/** wasmfleet.image_encode(pixelsPtr, width, height, channels, quality, outInfoPtr) -> i32:
 * a JPEG in a buffer from alloc(), out = {jpegPtr, jpegLen}; its length or a negative code. */
@external("wasmfleet", "image_encode")
export declare function wasmfleet_image_encode(
  pixels: usize, width: i32, height: i32, channels: i32, quality: i32, out: usize,
): i32;

/** wasmfleet.qoa_report(f32 latencyMs, f32 confidence) -> i32: 0, or -1 (nothing recorded). */
@external("wasmfleet", "qoa_report")
export declare function wasmfleet_qoa_report(latencyMs: f32, confidence: f32): i32;

/** wasmfleet.thing_read(namePtr, nameLen, bufPtr, bufLen) -> i32: the sensor's latest reading
 * as JSON, its full length, or a negative things.E* code. */
@external("wasmfleet", "thing_read")
export declare function wasmfleet_thing_read(
  name: usize, nameLen: u32, buf: usize, bufLen: u32,
): i32;

/** wasmfleet.thing_send(namePtr, nameLen, dataPtr, dataLen) -> i32: 0 or a negative code. */
@external("wasmfleet", "thing_send")
export declare function wasmfleet_thing_send(
  name: usize, nameLen: u32, data: usize, dataLen: u32,
): i32;

/** wasmfleet.param(namePtr, nameLen, bufPtr, bufLen) -> i32: the app parameter as JSON text,
 * its full length, or things.EUNBOUND. */
@external("wasmfleet", "param")
export declare function wasmfleet_param(name: usize, nameLen: u32, buf: usize, bufLen: u32): i32;

// ---- wasi_ephemeral_nn (WASI-NN preview1) --------------------------------------------

/** load(buildersPtr, buildersLen, encoding, target, graphOut) -> errno. */
@external("wasi_ephemeral_nn", "load")
export declare function wasi_nn_load(
  builders: usize, buildersLen: u32, encoding: i32, target: i32, graph: usize,
): i32;

/** load_by_name(namePtr, nameLen, graphOut) -> errno. */
@external("wasi_ephemeral_nn", "load_by_name")
export declare function wasi_nn_load_by_name(name: usize, nameLen: u32, graph: usize): i32;

/** init_execution_context(graph, ctxOut) -> errno. */
@external("wasi_ephemeral_nn", "init_execution_context")
export declare function wasi_nn_init_execution_context(graph: u32, ctx: usize): i32;

/** set_input(ctx, index, tensorPtr) -> errno; the tensor is 20 bytes (see nn.ts). */
@external("wasi_ephemeral_nn", "set_input")
export declare function wasi_nn_set_input(ctx: u32, index: u32, tensor: usize): i32;

/** compute(ctx) -> errno. */
@external("wasi_ephemeral_nn", "compute")
export declare function wasi_nn_compute(ctx: u32): i32;

/** get_output(ctx, index, outPtr, outMaxBytes, bytesWrittenOut) -> errno. */
@external("wasi_ephemeral_nn", "get_output")
export declare function wasi_nn_get_output(
  ctx: u32, index: u32, out: usize, outMaxBytes: u32, bytesWritten: usize,
): i32;
