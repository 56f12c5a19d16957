/*
 * hot: a reading such as "31.5" in; {"topic", "celsius"} out when it is over 30 °C, also
 * published to audit/hot with wasmfleet.publish. Anything that is not a number is rejected.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasmfleet.h"

static char out[256]; /* the output buffer: the module keeps owning it */

WASMFLEET_EXPORT_ALLOC

// @wasmfleet function hot
// @wasmfleet summary An alert (JSON) when a reading is over 30 °C; no output otherwise.
// @wasmfleet param reading bytes text/plain
// @wasmfleet returns bytes application/json
WASMIOT_EXPORT("hot")
int64_t hot(char *data, int32_t len) {
    char text[32];
    if (len <= 0 || len >= (int32_t)sizeof text) {
        free(data);
        return -1; /* rejected: dead-lettered */
    }
    memcpy(text, data, (size_t)len);
    text[len] = '\0';
    free(data); /* the input buffer is ours to free */
    char *end;
    double celsius = strtod(text, &end);
    if (end == text || *end != '\0') {
        return -1;
    }
    if (celsius <= 30.0) {
        return 0; /* no output: nothing is published */
    }
    char topic[128];
    int32_t n = wasmfleet_message_topic(topic, sizeof topic);
    if (n < 0 || n > (int32_t)sizeof topic) {
        n = 0; /* not triggered, or cut short */
    }
    int size = snprintf(out, sizeof out, "{\"topic\":\"%.*s\",\"celsius\":%g}", (int)n, topic,
                        celsius);
    static const char audit[] = "audit/hot";
    wasmfleet_publish(audit, sizeof audit - 1, (const uint8_t *)out, (uint32_t)size, 1);
    return wasmfleet_output(out, (uint32_t)size);
}
