/* alarm: checks the DHT sensor against a limit, remembers the highest reading. */
#include <stdint.h>

#include "wasmiot.h"

static float highest = -1000.0f; /* module state: kept between calls */

// @wasmfleet function check
// @wasmfleet summary 1 when the temperature is above the limit, else 0.
// @wasmfleet param limit f32
// @wasmfleet returns i32
WASMIOT_EXPORT("check")
int32_t check(float limit) {
    float now = getTemperature();
    if (now > highest) {
        highest = now;
    }
    return now > limit;
}

// @wasmfleet function highest
// @wasmfleet summary The highest temperature seen so far.
// @wasmfleet returns f32
WASMIOT_EXPORT("highest")
float highest_seen(void) {
    return highest;
}
