/*
 * thermo: temperature readings from MQTT, alerts over a threshold.
 *
 * A reading is a number ("31.5") or a JSON object with a "temperature" (or "celsius")
 * number field ({"sensor": "s1", "temperature": 31.5}). Anything else is malformed.
 *
 *   check(ptr, len) -> i64    bytes ABI: an alert (JSON) when the reading is over the
 *                             threshold, no output otherwise, error code -1 (malformed)
 *                             or -2 (below absolute zero)
 *   celsius(ptr, len) -> f32  bytes ABI: the reading as a number; traps when malformed
 *   annotate(ptr, len) -> i32 publishes {"topic", "celsius"} to thermo/readings with the
 *                             wasmfleet.publish host function; returns its result code
 *                             (0 = sent); traps when malformed
 *   over() -> i32             execution mount reading.json: 1 over the threshold, 0 not;
 *                             traps when malformed or missing
 *   set_threshold(f32) -> f32, threshold() -> f32   the alert threshold (default 30 °C)
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasmfleet.h"

enum { ERR_MALFORMED = -1, ERR_IMPOSSIBLE = -2 };

static float limit = 30.0f;
static char out[768];

WASMIOT_EXPORT("alloc")
int32_t alloc(int32_t len) {
    return (int32_t)(uintptr_t)malloc((size_t)(len > 0 ? len : 1));
}

static const char *skip_space(const char *p) {
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
        p++;
    }
    return p;
}

/* Parses a whole string as a finite number; 0 on success. */
static int parse_number(const char *text, double *value, const char **end) {
    char *stop = NULL;
    double v = strtod(text, &stop);
    if (stop == text || !isfinite(v)) {
        return -1;
    }
    *value = v;
    *end = stop;
    return 0;
}

/* Finds "key": <number> in a JSON object's text; 0 on success. */
static int json_field(const char *text, const char *key, double *value) {
    char quoted[32];
    snprintf(quoted, sizeof quoted, "\"%s\"", key);
    const char *at = strstr(text, quoted);
    if (at == NULL) {
        return -1;
    }
    const char *p = skip_space(at + strlen(quoted));
    if (*p != ':') {
        return -1;
    }
    const char *end = NULL;
    if (parse_number(skip_space(p + 1), value, &end) != 0) {
        return -1;
    }
    end = skip_space(end);
    return (*end == ',' || *end == '}') ? 0 : -1;
}

/* A reading from len bytes at data: 0, ERR_MALFORMED or ERR_IMPOSSIBLE. */
static int parse_reading(const uint8_t *data, int32_t len, double *celsius) {
    if (len <= 0) {
        return ERR_MALFORMED;
    }
    char *text = malloc((size_t)len + 1);
    if (text == NULL) {
        return ERR_MALFORMED;
    }
    memcpy(text, data, (size_t)len);
    text[len] = '\0';
    int rc = ERR_MALFORMED;
    const char *start = skip_space(text);
    if (strlen(text) != (size_t)len) {
        rc = ERR_MALFORMED; /* a NUL inside the payload */
    } else if (*start == '{') {
        const char *last = start + strlen(start);
        while (last > start && (last[-1] == ' ' || last[-1] == '\n' || last[-1] == '\r')) {
            last--;
        }
        if (last > start && last[-1] == '}' && (json_field(start, "temperature", celsius) == 0 ||
                                                json_field(start, "celsius", celsius) == 0)) {
            rc = 0;
        }
    } else {
        const char *end = NULL;
        if (parse_number(start, celsius, &end) == 0 && *skip_space(end) == '\0') {
            rc = 0;
        }
    }
    free(text);
    if (rc == 0 && *celsius < -273.15) {
        rc = ERR_IMPOSSIBLE;
    }
    return rc;
}

/* The triggering message's topic as a JSON string body (escaped), or "" outside one. */
static void message_topic_json(char *buf, size_t size) {
    char topic[256];
    int32_t n = wasmfleet_message_topic(topic, sizeof topic);
    if (n < 0) {
        n = 0;
    }
    if (n > (int32_t)sizeof topic) {
        n = sizeof topic;
    }
    size_t used = 0;
    for (int32_t i = 0; i < n && used + 7 < size; i++) {
        unsigned char c = (unsigned char)topic[i];
        if (c == '"' || c == '\\') {
            buf[used++] = '\\';
            buf[used++] = (char)c;
        } else if (c < 0x20) {
            used += (size_t)snprintf(buf + used, size - used, "\\u%04x", c);
        } else {
            buf[used++] = (char)c;
        }
    }
    buf[used] = '\0';
}

WASMIOT_EXPORT("check")
int64_t check(uint8_t *data, int32_t len) {
    double celsius = 0;
    int rc = parse_reading(data, len, &celsius);
    free(data);
    if (rc != 0) {
        return rc;
    }
    if (celsius <= limit) {
        return 0;
    }
    char topic[600];
    message_topic_json(topic, sizeof topic);
    int n = snprintf(out, sizeof out,
                     "{\"alert\":\"over-threshold\",\"topic\":\"%s\",\"celsius\":%g,"
                     "\"threshold\":%g}",
                     topic, celsius, (double)limit);
    if (n < 0 || (size_t)n >= sizeof out) {
        return ERR_MALFORMED;
    }
    return wasmfleet_output(out, (uint32_t)n);
}

WASMIOT_EXPORT("celsius")
float celsius(uint8_t *data, int32_t len) {
    double value = 0;
    int rc = parse_reading(data, len, &value);
    free(data);
    if (rc != 0) {
        __builtin_trap();
    }
    return (float)value;
}

WASMIOT_EXPORT("annotate")
int32_t annotate(uint8_t *data, int32_t len) {
    double value = 0;
    int rc = parse_reading(data, len, &value);
    free(data);
    if (rc != 0) {
        __builtin_trap();
    }
    char topic[600];
    message_topic_json(topic, sizeof topic);
    int n = snprintf(out, sizeof out, "{\"topic\":\"%s\",\"celsius\":%g}", topic, value);
    if (n < 0 || (size_t)n >= sizeof out) {
        __builtin_trap();
    }
    static const char target[] = "thermo/readings";
    return wasmfleet_publish(target, sizeof target - 1, (const uint8_t *)out, (uint32_t)n, 1);
}

WASMIOT_EXPORT("over")
int32_t over(void) {
    FILE *fp = fopen("./reading.json", "rb");
    if (fp == NULL) {
        __builtin_trap();
    }
    static uint8_t buf[4096];
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    double value = 0;
    if (n == sizeof buf || parse_reading(buf, (int32_t)n, &value) != 0) {
        __builtin_trap();
    }
    return value > limit ? 1 : 0;
}

WASMIOT_EXPORT("set_threshold")
float set_threshold(float celsius) {
    limit = celsius;
    return limit;
}

WASMIOT_EXPORT("threshold")
float threshold(void) {
    return limit;
}
