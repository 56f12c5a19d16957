/*
 * wasmfleet_buffer.h - a growing output buffer for bytes-ABI results: text, JSON, base64.
 *
 *   static WasmfleetBuffer out = WASMFLEET_BUFFER(1024 * 1024);   // at most 1 MiB
 *   out.len = 0;                                                   // start a result
 *   wasmfleet_append(&out, "{\"n\":", 5);                          // 0, or -1 when full
 *   wasmfleet_append_base64(&out, bytes, n);                       // standard alphabet, padded
 *   return wasmfleet_output(out.data, (uint32_t)out.len);         // wasmfleet.h
 *
 * The buffer keeps its memory between calls (the host copies the output out before the
 * next call), doubling from 4 KiB up to its maximum.
 */
#ifndef WASMFLEET_BUFFER_H
#define WASMFLEET_BUFFER_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *data;
    size_t len, cap, max;
} WasmfleetBuffer;

#define WASMFLEET_BUFFER(max_bytes) {NULL, 0, 0, (max_bytes)}

/* Appends len bytes; 0, or -1 when the buffer would pass its maximum or memory ran out. */
static inline int wasmfleet_append(WasmfleetBuffer *b, const char *data, size_t len) {
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len) {
            cap *= 2;
        }
        if (cap > b->max) {
            return -1;
        }
        char *grown = realloc(b->data, cap);
        if (grown == NULL) {
            return -1;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

/* Appends data as base64 (RFC 4648, with padding); 0 or -1 as wasmfleet_append. */
static inline int wasmfleet_append_base64(WasmfleetBuffer *b, const uint8_t *data, uint32_t len) {
    static const char digits[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char chunk[4];
    for (uint32_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16;
        if (i + 1 < len) v |= (uint32_t)data[i + 1] << 8;
        if (i + 2 < len) v |= data[i + 2];
        chunk[0] = digits[(v >> 18) & 63];
        chunk[1] = digits[(v >> 12) & 63];
        chunk[2] = i + 1 < len ? digits[(v >> 6) & 63] : '=';
        chunk[3] = i + 2 < len ? digits[v & 63] : '=';
        if (wasmfleet_append(b, chunk, 4) != 0) {
            return -1;
        }
    }
    return 0;
}

#endif /* WASMFLEET_BUFFER_H */
