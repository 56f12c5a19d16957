/* fibo: the smallest useful module - one scalar parameter, one scalar result, no imports. */
#include <stdint.h>

#include "wasmiot.h"

/* The iterations-th Fibonacci number, iteratively: fibo(0) = 0, fibo(1) = 1, fibo(7) = 13.
 * Wraps around (two's complement) past fibo(92) instead of trapping. */
WASMIOT_EXPORT("fibo")
int64_t fibo(int64_t iterations) {
    uint64_t a = 0, b = 1;
    for (int64_t i = 0; i < iterations; i++) {
        uint64_t next = a + b;
        a = b;
        b = next;
    }
    return (int64_t)a;
}
