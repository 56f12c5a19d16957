/*
 * __NAME__: a wasmfleet module in C.
 *
 * `wasmfleet build` compiles this file to build/__NAME__.wasm (a wasm32-wasi reactor) and
 * turns the @wasmfleet comments into build/description.json: each declares an exported
 * function, its parameters in Wasm order and its result (docs/declarations.md).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "wasmfleet.h"        /* WASMIOT_EXPORT, the host functions, wasmfleet_output */
#include "wasmfleet_buffer.h" /* WasmfleetBuffer: a growing output buffer */

/* alloc(i32 len) -> i32: the host copies each request body into a buffer from it. */
WASMFLEET_EXPORT_ALLOC

// @wasmfleet function fahrenheit
// @wasmfleet summary Degrees Fahrenheit of a temperature in degrees Celsius.
// @wasmfleet param celsius f32
// @wasmfleet returns f32
WASMIOT_EXPORT("fahrenheit")
float fahrenheit(float celsius) {
    return celsius * 9.0f / 5.0f + 32.0f;
}

/* The output of shout: the module keeps owning it, the host copies it out after the call. */
static WasmfleetBuffer out = WASMFLEET_BUFFER(64 * 1024);

// @wasmfleet function shout
// @wasmfleet summary The text it is given, in upper case (at most 64 KiB).
// @wasmfleet param text bytes text/plain
// @wasmfleet returns bytes text/plain
WASMIOT_EXPORT("shout")
int64_t shout(uint8_t *text, int32_t len) {
    out.len = 0;
    int full = len > 0 ? wasmfleet_append(&out, (const char *)text, (size_t)len) : 0;
    free(text); /* the request body is ours to free */
    if (full != 0) {
        return -1; /* a negative result rejects the input */
    }
    for (size_t i = 0; i < out.len; i++) {
        if (out.data[i] >= 'a' && out.data[i] <= 'z') {
            out.data[i] = (char)(out.data[i] - 'a' + 'A');
        }
    }
    return wasmfleet_output(out.data, (uint32_t)out.len); /* empty text: no output */
}
