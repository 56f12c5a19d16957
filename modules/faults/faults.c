/*
 * faults: functions that misbehave on purpose, to test the supervisor's limits
 * (timeouts, memory caps, trap reporting) and that an instance survives a trap.
 */
#include <stdint.h>

#include "wasmiot.h"

#define WASM_PAGE (64u * 1024u)

/* volatile: every loop iteration really loads it, so the optimiser keeps the loops. */
static volatile int32_t stop_spinning = 0;
static volatile int32_t depth = 0;
static volatile int32_t recurse_limit = 0;

/* Never returns: a busy loop only an interrupt (epoch, fuel, timeout) can stop. */
WASMIOT_EXPORT("spin")
int32_t spin(void) {
    while (stop_spinning == 0) {
    }
    return 0;
}

/* Grows linear memory by mib_step MiB (clamped to 1..4096) forever, touching every new page;
 * traps (unreachable) as soon as memory.grow fails. */
WASMIOT_EXPORT("hog")
int32_t hog(int32_t mib_step) {
    /* 1 .. 4096 MiB per step (4 GiB is all a wasm32 memory can hold). */
    uint32_t mib = mib_step < 1 ? 1u : mib_step > 4096 ? 4096u : (uint32_t)mib_step;
    uint32_t pages = mib * (1024u * 1024u / WASM_PAGE);
    for (;;) {
        uintptr_t first = __builtin_wasm_memory_grow(0, pages);
        if (first == (uintptr_t)-1) {
            __builtin_trap();
        }
        for (uintptr_t page = first; page < first + pages; page++) {
            ((volatile uint8_t *)(page * WASM_PAGE))[0] = 1;
        }
    }
}

/* Traps immediately (wasm `unreachable`). */
WASMIOT_EXPORT("crash")
int32_t crash(void) {
    __builtin_trap();
}

/* a / b; b == 0 traps with "integer divide by zero" (and INT32_MIN / -1 with overflow). */
WASMIOT_EXPORT("divide")
int32_t divide(int32_t a, int32_t b) {
    return a / b;
}

/* Recurses without bound until the call stack is exhausted (a trap). The volatile
 * limit (never set, so never reached) and the volatile store after the call keep
 * this a real, non-tail call that the optimiser cannot turn into a loop. */
WASMIOT_EXPORT("recurse")
int32_t recurse(int32_t n) {
    if (recurse_limit != 0 && n >= recurse_limit) {
        return n;
    }
    depth = n;
    int32_t deepest = recurse(n + 1);
    depth = n;
    return deepest;
}

/* Returns 7: proves the instance still answers after one of the traps above. */
WASMIOT_EXPORT("ok")
int32_t ok(void) {
    return 7;
}
