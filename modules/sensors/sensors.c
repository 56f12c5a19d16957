/* sensors: float results from host sensors, logging through sys.*, and plain stdout. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "wasmiot.h"

/* Temperature in degrees Celsius from the DHT sensor. */
WASMIOT_EXPORT("temperature")
float temperature(void) {
    return getTemperature();
}

/* Relative humidity in percent from the DHT sensor. */
WASMIOT_EXPORT("humidity")
float humidity(void) {
    return getHumidity();
}

/* Logs "hello from wasm" and 42 through sys.*; returns the ms measured across sys.delay(5). */
WASMIOT_EXPORT("hello")
int32_t hello(void) {
    static const char hello_part[] = "hello ";
    static const char from_part[] = "from wasm";
    print(hello_part, (uint32_t)strlen(hello_part));
    println(from_part, (uint32_t)strlen(from_part));
    printInt(42);
    int32_t start = millis();
    delay(5);
    return (int32_t)((uint32_t)millis() - (uint32_t)start);
}

/* Prints "shout\n" to WASI stdout (so stdout capture can be tested); returns 0. */
WASMIOT_EXPORT("shout")
int32_t shout(void) {
    printf("shout\n");
    fflush(stdout);
    return 0;
}
