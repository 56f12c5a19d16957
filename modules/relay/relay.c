/*
 * relay: the wasmfleet bytes ABI at its smallest — a stream step that passes each message on.
 *
 *   relay(ptr, len) -> i64   bytes ABI: returns its input unchanged as the output buffer
 *                            (ptr << 32 | len); 0 (no output) for an empty message
 *   relayed() -> i32         how many messages it relayed since the instance started
 *
 * bench/streams.py measures the supervisor's trigger → Wasm → publish path with it, beside a
 * Python passthrough. The buffer the host wrote the message into stays alive until the next
 * call (the host copies the output out first), then it is freed.
 */
#include <stdint.h>
#include <stdlib.h>

#include "wasmfleet.h"

static void *pending = NULL;
static int32_t count = 0;

WASMIOT_EXPORT("alloc")
int32_t alloc(int32_t len) {
    return (int32_t)(uintptr_t)malloc((size_t)(len > 0 ? len : 1));
}

WASMIOT_EXPORT("relay")
int64_t relay(int32_t ptr, int32_t len) {
    free(pending);
    pending = (void *)(uintptr_t)ptr;
    if (len <= 0) {
        return 0;
    }
    count += 1;
    return ((int64_t)(uint32_t)ptr << 32) | (uint32_t)len;
}

WASMIOT_EXPORT("relayed")
int32_t relayed(void) {
    return count;
}
