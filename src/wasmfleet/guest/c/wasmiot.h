/*
 * wasmiot.h - host imports available to wasmfleet guest modules (the wasmiot set).
 *
 * Include this one header from a module's C source. Every function below is an
 * import of the WebAssembly module: the supervisor provides it at instantiation
 * time. A module only imports what it actually calls, so including the header
 * costs nothing.
 *
 * Pointers are wasm32 linear-memory offsets, so every pointer and length is an
 * i32 at the Wasm level; the Wasm signature of each import is given in its
 * comment.
 *
 * Build (Debian): wasmfleet build (docs/guest-c.md), or by hand from any folder:
 *   clang --target=wasm32-wasi -mexec-model=reactor -O2 -I "$(wasmfleet guest-path c)" ...
 */
#ifndef WASMIOT_H
#define WASMIOT_H

#include <stdint.h>

#define WASMIOT_IMPORT(mod, fn) __attribute__((import_module(mod), import_name(fn)))

/* Export a C function under NAME, e.g. `WASMIOT_EXPORT("fibo") int64_t fibo(int64_t n)`. */
#define WASMIOT_EXPORT(name) __attribute__((export_name(name)))

/* ---- camera ------------------------------------------------------------ */

/*
 * camera.takeImageDynamicSize(i32 outPtrPtr, i32 outLenPtr) -> ()
 * The host calls the module's exported `alloc(len)`, writes the JPEG there and
 * stores the buffer's address at *out_ptr and its length at *out_len
 * (little-endian u32 each). The module owns the buffer (free() it).
 * A module importing this MUST export `alloc(i32) -> i32`.
 */
WASMIOT_IMPORT("camera", "takeImageDynamicSize")
void takeImageDynamicSize(uint8_t **out_ptr, uint32_t *out_len);

/*
 * camera.takeImageStaticSize(i32 outPtr, i32 sizePtr) -> ()
 * The host reads the buffer capacity (u32) at *size, writes at most that many
 * JPEG bytes at out and stores the number of bytes written back at *size.
 */
WASMIOT_IMPORT("camera", "takeImageStaticSize")
void takeImageStaticSize(uint8_t *out, uint32_t *size);

/* ---- sys --------------------------------------------------------------- */

/* sys.millis() -> i32: milliseconds from an arbitrary origin (wraps). */
WASMIOT_IMPORT("sys", "millis")
int32_t millis(void);

/* sys.delay(i32 ms) -> (): blocks the calling module for ms milliseconds. */
WASMIOT_IMPORT("sys", "delay")
void delay(int32_t ms);

/* sys.print(i32 ptr, i32 len) -> (): writes len bytes (UTF-8) to the device log. */
WASMIOT_IMPORT("sys", "print")
void print(const char *text, uint32_t len);

/* sys.println(i32 ptr, i32 len) -> (): like print, followed by a newline. */
WASMIOT_IMPORT("sys", "println")
void println(const char *text, uint32_t len);

/* sys.printInt(i32 value) -> (): writes a decimal integer to the device log. */
WASMIOT_IMPORT("sys", "printInt")
void printInt(int32_t value);

/* ---- dht (temperature / humidity sensor) ------------------------------- */

/* dht.getTemperature() -> f32: degrees Celsius. */
WASMIOT_IMPORT("dht", "getTemperature")
float getTemperature(void);

/* dht.getHumidity() -> f32: relative humidity in percent. */
WASMIOT_IMPORT("dht", "getHumidity")
float getHumidity(void);

/* ---- communication ----------------------------------------------------- */

/*
 * communication.rpcCall(i32 modPtr, i32 modLen, i32 funcPtr, i32 funcLen,
 *                       i32 dataPtr, i32 dataLen) -> i32
 * Calls function `func` of module `mod` with data bytes; returns a status code.
 */
WASMIOT_IMPORT("communication", "rpcCall")
int32_t rpcCall(const char *mod, uint32_t mod_len, const char *func, uint32_t func_len,
                const uint8_t *data, uint32_t data_len);

#endif /* WASMIOT_H */
