/*
 * wasmfleet.h - the wasmfleet host imports and the bytes ABI (version 1).
 *
 * The `wasmfleet` import namespace is offered only by devices whose supervisor has an
 * MQTT broker (`wasmfleet supervisor --broker mqtt://host:1883`); a device without one
 * refuses a module importing it (422 missing_imports), and the orchestrator places such
 * modules only on devices that list `wasmfleet.publish` among their interfaces.
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

/* Packs an output buffer as the i64 result of a bytes-ABI function. */
static inline int64_t wasmfleet_output(const void *ptr, uint32_t len) {
    return (int64_t)(((uint64_t)(uintptr_t)ptr << 32) | (uint64_t)len);
}

#endif /* WASMFLEET_H */
