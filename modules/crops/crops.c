/*
 * crops: the cloud side of the camera uplink. Unpacks a detector's report, stores each crop.
 *
 *   unpack(ptr, len) -> i64   bytes ABI: a report of modules/motion ({"camera", "frame",
 *                             "objects": [{..., "jpeg": "<base64>"}]}) in. Each crop is
 *                             checked (it must decode as an image) and published on its
 *                             own, as JPEG bytes, to store/crops/<camera> with QoS 1 (an
 *                             object-store sink subscribed to store/# keeps it). Out: a
 *                             summary {"camera", "frame", "stored", "bytes", "objects":
 *                             [{"width", "height", "brightness"}]}. Error codes: -1 not a
 *                             report, -2 a crop is not base64 or not an image, -3 a crop
 *                             could not be handed to the broker (the whole report then goes
 *                             to the dead-letter topic; crops sent before stay sent).
 *   stored() -> i32           crops stored since the instance started
 *
 * Only the fields above are read, by plain scanning: the reports come from modules/motion,
 * whose output never contains a quote inside a string.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasmfleet.h"

enum { ERR_REPORT = -1, ERR_CROP = -2, ERR_PUBLISH = -3 };

#define MAX_OBJECTS 32

static int32_t stored_total = 0;
static char summary[4096];

WASMIOT_EXPORT("alloc")
int32_t alloc(int32_t len) {
    return (int32_t)(uintptr_t)malloc((size_t)(len > 0 ? len : 1));
}

static int b64_value(char ch) {
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '+') return 62;
    if (ch == '/') return 63;
    return -1;
}

/* Decodes base64 text[0..len) into out (room for len*3/4 bytes); the length, or -1. */
static int32_t b64_decode(const char *text, size_t len, uint8_t *out) {
    if (len % 4 != 0) {
        return -1;
    }
    int32_t n = 0;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        for (int k = 0; k < 4; k++) {
            char ch = text[i + k];
            v[k] = ch == '=' && i + 4 == len && k >= 2 ? 0 : b64_value(ch);
            if (v[k] < 0) return -1;
        }
        uint32_t bits = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | v[3];
        out[n++] = (uint8_t)(bits >> 16);
        if (text[i + 2] != '=') out[n++] = (uint8_t)(bits >> 8);
        if (text[i + 3] != '=') out[n++] = (uint8_t)bits;
    }
    return n;
}

/* The string value of "key" in text (not unescaped), copied into value; 0 when found. */
static int string_field(const char *text, const char *end, const char *key, char *value,
                        size_t size) {
    const char *at = strstr(text, key);
    if (at == NULL || at >= end) return -1;
    at += strlen(key);
    const char *close = memchr(at, '"', (size_t)(end - at));
    if (close == NULL || (size_t)(close - at) >= size) return -1;
    memcpy(value, at, (size_t)(close - at));
    value[close - at] = '\0';
    return 0;
}

/* Mean brightness of a JPEG, decoded small by the host; -1 when it is not an image. */
static int32_t brightness(const uint8_t *jpeg, uint32_t len, uint32_t *width, uint32_t *height) {
    uint32_t info[3] = {0, 0, 0};
    /* full size first, only for the dimensions; then a 32 px copy for the mean */
    int32_t n = wasmfleet_image_decode(jpeg, len, 1, 0, info);
    if (n < 0) return -1;
    free((void *)(uintptr_t)info[0]);
    *width = info[1];
    *height = info[2];
    n = wasmfleet_image_decode(jpeg, len, 1, 32, info);
    if (n <= 0) return -1;
    const uint8_t *gray = (const uint8_t *)(uintptr_t)info[0];
    uint64_t sum = 0;
    for (int32_t i = 0; i < n; i++) sum += gray[i];
    free((void *)(uintptr_t)info[0]);
    return (int32_t)(sum / (uint64_t)n);
}

WASMIOT_EXPORT("unpack")
int64_t unpack(int32_t ptr, int32_t len) {
    char *text = (char *)(uintptr_t)ptr;
    if (len <= 0) {
        free(text);
        return ERR_REPORT;
    }
    text = realloc(text, (size_t)len + 1); /* NUL-terminate for the scanning below */
    if (text == NULL) return ERR_REPORT;
    text[len] = '\0';
    const char *end = text + len;
    char camera[64];
    const char *objects = strstr(text, "\"objects\":[");
    if (string_field(text, end, "\"camera\":\"", camera, sizeof camera) != 0 || objects == NULL) {
        free(text);
        return ERR_REPORT;
    }
    const char *frame_at = strstr(text, "\"frame\":");
    long frame = frame_at ? strtol(frame_at + 8, NULL, 10) : 0;
    char topic[96];
    snprintf(topic, sizeof topic, "store/crops/%s", camera);
    int used = snprintf(summary, sizeof summary, "{\"camera\":\"%s\",\"frame\":%ld,\"objects\":[",
                        camera, frame);
    int32_t count = 0;
    uint32_t total = 0;
    int32_t result = 0;
    const char *p = objects;
    while (result == 0 && count < MAX_OBJECTS && (p = strstr(p, "\"jpeg\":\"")) != NULL) {
        p += 8;
        const char *close = strchr(p, '"');
        if (close == NULL) {
            result = ERR_CROP;
            break;
        }
        size_t b64_len = (size_t)(close - p);
        uint8_t *jpeg = malloc(b64_len / 4 * 3 + 3);
        int32_t jpeg_len = jpeg ? b64_decode(p, b64_len, jpeg) : -1;
        uint32_t width = 0, height = 0;
        int32_t mean = jpeg_len > 0 ? brightness(jpeg, (uint32_t)jpeg_len, &width, &height) : -1;
        if (mean < 0) {
            result = ERR_CROP;
        } else if (wasmfleet_publish(topic, (uint32_t)strlen(topic), jpeg, (uint32_t)jpeg_len, 1)
                   != WASMFLEET_OK) {
            result = ERR_PUBLISH;
        } else {
            used += snprintf(summary + used, sizeof summary - (size_t)used,
                             "%s{\"width\":%u,\"height\":%u,\"brightness\":%d}",
                             count ? "," : "", width, height, mean);
            count++;
            total += (uint32_t)jpeg_len;
        }
        free(jpeg);
        p = close + 1;
    }
    free(text);
    if (result != 0) return result;
    if (count == 0) return ERR_REPORT;
    stored_total += count;
    used += snprintf(summary + used, sizeof summary - (size_t)used,
                     "],\"stored\":%d,\"bytes\":%u}", count, total);
    if (used >= (int)sizeof summary) return ERR_REPORT;
    return wasmfleet_output(summary, (uint32_t)used);
}

WASMIOT_EXPORT("stored")
int32_t stored(void) {
    return stored_total;
}
