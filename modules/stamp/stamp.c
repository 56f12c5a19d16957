/*
 * stamp: files in and out through WASI mounts.
 *
 *   prefix.txt  deployment-stage mount (a data file shipped with the deployment)
 *   input.txt   execution-stage mount  (uploaded with each call)
 *   output.txt  output mount           (returned as the call's result)
 *
 * The supervisor preopens the module's own directory as ".", so plain relative
 * paths work with stdio.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "wasmiot.h"

enum { ERR_PREFIX = -1, ERR_INPUT = -2, ERR_OUTPUT = -3 };

/* Reads a whole file into a malloc'd buffer; NULL when it cannot be opened or read. */
static uint8_t *read_file(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        return NULL;
    }
    size_t cap = 4096, used = 0;
    uint8_t *buf = malloc(cap);
    while (buf != NULL) {
        used += fread(buf + used, 1, cap - used, fp);
        if (used < cap) {
            break;
        }
        uint8_t *bigger = realloc(buf, cap * 2);
        if (bigger == NULL) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    if (buf != NULL && ferror(fp)) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    *len = used;
    return buf;
}

/* Buffer allocator for the host (the wasmfleet bytes-in ABI). */
WASMIOT_EXPORT("alloc")
int32_t alloc(int32_t len) {
    return (int32_t)(uintptr_t)malloc((size_t)len);
}

/* Writes output.txt = prefix.txt + upper-cased input.txt; returns bytes written or -1/-2/-3. */
WASMIOT_EXPORT("stamp")
int32_t stamp(void) {
    size_t prefix_len = 0, input_len = 0;
    uint8_t *prefix = read_file("./prefix.txt", &prefix_len);
    if (prefix == NULL) {
        return ERR_PREFIX;
    }
    uint8_t *input = read_file("./input.txt", &input_len);
    if (input == NULL) {
        free(prefix);
        return ERR_INPUT;
    }
    for (size_t i = 0; i < input_len; i++) {
        if (input[i] >= 'a' && input[i] <= 'z') {
            input[i] = (uint8_t)(input[i] - 'a' + 'A');
        }
    }
    int32_t result = ERR_OUTPUT;
    FILE *out = fopen("./output.txt", "wb");
    if (out != NULL) {
        size_t written = fwrite(prefix, 1, prefix_len, out);
        written += fwrite(input, 1, input_len, out);
        int closed = fclose(out);
        if (closed == 0 && written == prefix_len + input_len) {
            result = (int32_t)written;
        }
    }
    free(prefix);
    free(input);
    return result;
}
