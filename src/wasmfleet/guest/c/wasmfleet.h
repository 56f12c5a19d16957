/*
 * wasmfleet.h - the wasmfleet host imports and the bytes ABI (version 1).
 *
 * Devices offer the `wasmfleet` import namespace function by function:
 *   - wasmfleet_publish and wasmfleet_message_topic only where the supervisor has an MQTT
 *     broker (`wasmfleet supervisor --broker mqtt://host:1883`);
 *   - wasmfleet_image_decode and wasmfleet_image_encode wherever Pillow is installed
 *     (it is a dependency of wasmfleet, so normally everywhere), broker or not;
 *   - wasmfleet_qoa_report, wasmfleet_thing_read, wasmfleet_thing_send and wasmfleet_param
 *     on every device (the last three answer an app install's things and parameters).
 * A device that lacks what a function needs refuses a module importing it (422
 * missing_imports, saying what to install or start), and the orchestrator places such
 * modules only on devices that list every function they import among their interfaces.
 *
 * The bytes ABI (for functions triggered by MQTT messages, see docs/module-authors.md):
 *   - export `alloc(i32 len) -> i32`;
 *   - a function `f(i32 ptr, i32 len)` gets the message payload in a buffer the host
 *     allocated with `alloc` (ptr 0, len 0 for an empty payload); free() it when done;
 *   - if `f` returns i64, the result is an output buffer packed by wasmfleet_output()
 *     (the host copies it and publishes it when the step has `publish`); 0 means no
 *     output, a negative value rejects the input (the message goes to the dead-letter
 *     topic). Other result types are plain scalars, published as text.
 */
#ifndef WASMFLEET_H
#define WASMFLEET_H

#include <stdint.h>
#include <stdlib.h>

#include "wasmiot.h"

#define WASMFLEET_IMPORT(fn) __attribute__((import_module("wasmfleet"), import_name(fn)))

/* Results of wasmfleet_publish(). */
enum {
    WASMFLEET_OK = 0,
    WASMFLEET_ENOBROKER = -1,     /* this device has no MQTT broker configured */
    WASMFLEET_ETOPIC = -2,        /* empty, not UTF-8, > 65535 bytes, or has + # or NUL */
    WASMFLEET_EQOS = -3,          /* qos is not 0, 1 or 2 */
    WASMFLEET_ETOOBIG = -4,       /* payload over MQTT's 268435455 bytes */
    WASMFLEET_EBUSY = -5,         /* too many messages waiting to be sent; retry later */
    WASMFLEET_EDISCONNECTED = -6, /* broker unreachable and qos 0 (qos 1/2 wait for it) */
};

/*
 * wasmfleet.publish(i32 topic_ptr, i32 topic_len, i32 data_ptr, i32 data_len, i32 qos) -> i32
 * Publishes data_len bytes to the topic (a name, no wildcards). 0 when the message was
 * handed to the device's MQTT connection, else a negative WASMFLEET_E* code. Within a
 * triggered call, the triggering message is acknowledged only after the broker has it.
 */
WASMFLEET_IMPORT("publish")
int32_t wasmfleet_publish(const char *topic, uint32_t topic_len, const uint8_t *data,
                          uint32_t data_len, int32_t qos);

/*
 * wasmfleet.message_topic(i32 buf_ptr, i32 buf_len) -> i32
 * Copies the topic of the message that triggered the current call into buf (at most
 * buf_len bytes, UTF-8, not NUL-terminated) and returns the topic's full length in
 * bytes (more than buf_len: it was cut short), or -1 outside a triggered call.
 */
WASMFLEET_IMPORT("message_topic")
int32_t wasmfleet_message_topic(char *buf, uint32_t buf_len);

/* Results of wasmfleet_image_decode() and wasmfleet_image_encode() when they fail. */
enum {
    WASMFLEET_IMAGE_EFORMAT = -1,   /* not a JPEG/PNG/BMP/GIF/WebP/PPM/PGM image, or corrupt */
    WASMFLEET_IMAGE_EARGS = -2,     /* bad channels, max_side, size or quality */
    WASMFLEET_IMAGE_ETOOLARGE = -4, /* more than 4096*4096 pixels */
    WASMFLEET_IMAGE_EALLOC = -5,    /* the module exports no alloc(), or alloc() returned 0 */
};

/*
 * wasmfleet.image_decode(i32 src_ptr, i32 src_len, i32 channels, i32 max_side,
 *                        i32 info_ptr) -> i32
 * Decodes the src_len bytes at src (JPEG, PNG, BMP, GIF first frame, WebP, PPM/PGM),
 * applies the EXIF orientation and converts to channels = 1 (grey) or 3 (RGB). With
 * max_side > 0, a larger image is shrunk (bilinear, aspect kept) so its longer side is
 * max_side. The host gets the pixel buffer from the module's exported alloc(), writes
 * width*height*channels bytes there row-major, sets info = {pixels_ptr, width, height}
 * and returns width*height*channels. The buffer is the module's: free() it. On error a
 * negative WASMFLEET_IMAGE_E* code, nothing allocated, info untouched.
 */
WASMFLEET_IMPORT("image_decode")
int32_t wasmfleet_image_decode(const uint8_t *src, uint32_t src_len, int32_t channels,
                               int32_t max_side, uint32_t info[3]);

/*
 * wasmfleet.image_encode(i32 pixels_ptr, i32 width, i32 height, i32 channels, i32 quality,
 *                        i32 out_info_ptr) -> i32
 * Encodes width*height*channels bytes (channels 1 or 3, row-major) as a JPEG of quality
 * 1..95 (0: 85), written to a buffer from the module's alloc(); sets out = {jpeg_ptr,
 * jpeg_len} and returns jpeg_len. The buffer is the module's: free() it. On error
 * (WASMFLEET_IMAGE_EARGS: a side <= 0 or > 65535, more than 4096*4096 pixels, bad channels
 * or quality; WASMFLEET_IMAGE_EALLOC) nothing is allocated and out is untouched.
 */
WASMFLEET_IMPORT("image_encode")
int32_t wasmfleet_image_encode(const uint8_t *pixels, int32_t width, int32_t height,
                               int32_t channels, int32_t quality, uint32_t out[2]);

/*
 * wasmfleet.qoa_report(f32 latency_ms, f32 confidence) -> i32
 * Reports the quality of analytics of one inference of the function being called: how
 * long the inference took (ms, >= 0) and how confident its result is (0..1). The
 * supervisor keeps per-function aggregates (count, p50/p99 latency, mean confidence),
 * served in GET /health and GET /api/v1/status under "qoa". Returns 0, or -1 (nothing
 * recorded) when a value is NaN, infinite or negative, or the confidence is over 1.
 */
WASMFLEET_IMPORT("qoa_report")
int32_t wasmfleet_qoa_report(float latency_ms, float confidence);

/* Results of wasmfleet_thing_read(), wasmfleet_thing_send() and wasmfleet_param(). */
enum {
    WASMFLEET_THING_EUNBOUND = -1,     /* the function has no thing (or parameter) by that name */
    WASMFLEET_THING_EKIND = -2,        /* read of a controller, or send to a sensor */
    WASMFLEET_THING_ENOREADING = -3,   /* no reading yet (nothing on its topic, no driver) */
    WASMFLEET_THING_EINVALID = -4,     /* the command (or reading) does not fit the thing */
    WASMFLEET_THING_EBUSY = -5,        /* too many messages waiting to be sent; retry later */
    WASMFLEET_THING_EDISCONNECTED = -6, /* the broker is unreachable right now */
    WASMFLEET_THING_ENOBROKER = -7,    /* a topic controller on a device without a broker */
};

/*
 * wasmfleet.thing_read(i32 name_ptr, i32 name_len, i32 buf_ptr, i32 buf_len) -> i32
 * Copies the latest reading of the sensor the app binds as `name` (e.g. "room_temp") into
 * buf as a JSON object of the sensor's declared outputs (e.g. {"celsius":21.5}, UTF-8, not
 * NUL-terminated) and returns its full length (more than buf_len: it was cut short), or a
 * negative WASMFLEET_THING_E* code.
 */
WASMFLEET_IMPORT("thing_read")
int32_t wasmfleet_thing_read(const char *name, uint32_t name_len, char *buf, uint32_t buf_len);

/*
 * wasmfleet.thing_send(i32 name_ptr, i32 name_len, i32 data_ptr, i32 data_len) -> i32
 * Sends a command (a JSON object such as {"speed":2}) to the controller the app binds as
 * `name`, after checking it against the controller's declared inputs. 0 when it was handed
 * on (published to the controller's topic, or applied by the device's driver), else a
 * negative WASMFLEET_THING_E* code.
 */
WASMFLEET_IMPORT("thing_send")
int32_t wasmfleet_thing_send(const char *name, uint32_t name_len, const char *data,
                             uint32_t data_len);

/*
 * wasmfleet.param(i32 name_ptr, i32 name_len, i32 buf_ptr, i32 buf_len) -> i32
 * Copies the app install's parameter `name` into buf as JSON text (26, 0.5, true, "eco")
 * and returns its full length, or WASMFLEET_THING_EUNBOUND when there is no such parameter.
 */
WASMFLEET_IMPORT("param")
int32_t wasmfleet_param(const char *name, uint32_t name_len, char *buf, uint32_t buf_len);

/* Packs an output buffer as the i64 result of a bytes-ABI function. */
static inline int64_t wasmfleet_output(const void *ptr, uint32_t len) {
    return (int64_t)(((uint64_t)(uintptr_t)ptr << 32) | (uint64_t)len);
}

/*
 * WASMFLEET_EXPORT_ALLOC, written once at file scope, defines the module's exported
 * `alloc(i32 len) -> i32` (malloc; 0 when out of memory): the bytes ABI copies a payload
 * there, and host functions that hand a buffer to the module (camera, images) call it.
 * The buffers it returns are the module's: free() them.
 */
#define WASMFLEET_EXPORT_ALLOC                                                              \
    WASMIOT_EXPORT("alloc") int32_t alloc(int32_t len) {                                    \
        return (int32_t)(uintptr_t)malloc(len > 0 ? (size_t)len : 1);                       \
    }

#endif /* WASMFLEET_H */
