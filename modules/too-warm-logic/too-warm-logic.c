/*
 * too-warm-logic: the logic of the "too warm -> fan on" app (docs/apps.md), reaching the
 * app's sensor and controller by their binding names through the wasmfleet thing imports.
 *
 *   check() -> i32   reads the sensor bound as room_temp ({"celsius": x}); when x is above
 *                    the parameter threshold (default 26), sends {"speed": <parameter
 *                    speed, default 1>} to the controller bound as room_fan, else
 *                    {"speed": 0}; returns the speed sent, or the negative
 *                    WASMFLEET_THING_E* code of the call that failed (-3: no reading yet),
 *                    or -8 when the reading holds no number
 *   celsius() -> f32 the last temperature check() read (NaN before the first)
 *
 * Deploy it as a step of an app that `uses: [room_temp, room_fan]`; trigger it by the
 * sensor's topic to act on every reading, or call it on a schedule.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include "wasmfleet.h"

#define ENOVALUE (-8)
#define NAME(s) (s), (uint32_t)(sizeof(s) - 1)

static float last_celsius = NAN;

/* The number after "key": in a small JSON object; 0 when found. */
static int json_number(const char *json, const char *key, double *value) {
    char quoted[40];
    int n = snprintf(quoted, sizeof quoted, "\"%s\"", key);
    if (n < 0 || (size_t)n >= sizeof quoted) {
        return -1;
    }
    const char *p = strstr(json, quoted);
    if (p == NULL) {
        return -1;
    }
    p += n;
    while (*p == ' ') {
        p++;
    }
    if (*p != ':') {
        return -1;
    }
    char *end = NULL;
    double v = strtod(p + 1, &end);
    if (end == p + 1 || !isfinite(v)) {
        return -1;
    }
    *value = v;
    return 0;
}

/* The install's parameter as a number, or fallback when the app gives none. */
static double param_number(const char *name, uint32_t len, double fallback) {
    char buf[64];
    int32_t n = wasmfleet_param(name, len, buf, sizeof buf - 1);
    if (n < 0 || n >= (int32_t)sizeof buf) {
        return fallback;
    }
    buf[n] = '\0';
    char *end = NULL;
    double v = strtod(buf, &end);
    return (end == buf || !isfinite(v)) ? fallback : v;
}

WASMIOT_EXPORT("check")
int32_t check(void) {
    char reading[512];
    int32_t n = wasmfleet_thing_read(NAME("room_temp"), reading, sizeof reading - 1);
    if (n < 0) {
        return n;
    }
    if (n >= (int32_t)sizeof reading) {
        return WASMFLEET_THING_EINVALID;
    }
    reading[n] = '\0';
    double celsius = 0;
    if (json_number(reading, "celsius", &celsius) != 0 &&
        json_number(reading, "temperature", &celsius) != 0) {
        return ENOVALUE;
    }
    last_celsius = (float)celsius;
    double threshold = param_number(NAME("threshold"), 26.0);
    int32_t speed = (int32_t)param_number(NAME("speed"), 1.0);
    int32_t wanted = celsius > threshold ? speed : 0;
    char command[32];
    int len = snprintf(command, sizeof command, "{\"speed\":%d}", (int)wanted);
    int32_t rc = wasmfleet_thing_send(NAME("room_fan"), command, (uint32_t)len);
    return rc < 0 ? rc : wanted;
}

WASMIOT_EXPORT("celsius")
float celsius(void) {
    return last_celsius;
}
