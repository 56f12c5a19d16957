/* counter: state kept in a global survives between calls to the same instance. */
#include <stdint.h>

#include "wasmiot.h"

static int32_t value = 0;

/* Adds one and returns the new value: 1, 2, 3 ... on successive calls. */
WASMIOT_EXPORT("count")
int32_t count(void) {
    value += 1;
    return value;
}

/* Sets the counter back to 0 and returns 0. */
WASMIOT_EXPORT("reset")
int32_t reset(void) {
    value = 0;
    return value;
}

/* Adds n (which may be negative) and returns the new value. */
WASMIOT_EXPORT("add")
int32_t add(int32_t n) {
    value = (int32_t)((uint32_t)value + (uint32_t)n); /* wraps instead of overflow UB */
    return value;
}
