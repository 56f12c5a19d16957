/*
 * digits_native.c - times modules/digits/digits.c compiled natively (bench/ml.py builds it).
 *
 *   clang -O2 -I modules/include -I modules/digits bench/digits_native.c \
 *       modules/digits/digits.c -lm -o digits_native
 *   ./digits_native SAMPLES.f32 REPEATS MIN_SECONDS
 *
 * SAMPLES.f32 holds n images of 64 float32 (native byte order). Each repeat runs
 * digits_classify (the loop behind the module's predict_batch_into export) over all n images
 * as many times as fit in MIN_SECONDS (at least once), and reports microseconds per image.
 * Prints one JSON object: {"n", "us_per_sample": [one per repeat], "classes": [first pass]}.
 */
#define _POSIX_C_SOURCE 199309L /* clock_gettime under -std=c11 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void digits_classify(const float *x, int32_t n, uint8_t *classes);

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s SAMPLES.f32 REPEATS MIN_SECONDS\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (f == NULL) {
        perror(argv[1]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    int32_t n = (int32_t)(size / (64 * sizeof(float)));
    float *x = malloc((size_t)size);
    uint8_t *classes = malloc((size_t)n + 1);
    if (n <= 0 || x == NULL || classes == NULL || fread(x, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "%s: cannot read the samples\n", argv[1]);
        return 1;
    }
    fclose(f);
    int repeats = atoi(argv[2]);
    double min_s = atof(argv[3]);

    digits_classify(x, n, classes); /* warm-up; also the classes printed below */
    printf("{\"n\": %d, \"us_per_sample\": [", (int)n);
    for (int r = 0; r < repeats; r++) {
        long passes = 0;
        double start = now_s(), elapsed;
        do {
            digits_classify(x, n, classes);
            passes++;
            elapsed = now_s() - start;
        } while (elapsed < min_s);
        printf("%s%.6f", r ? ", " : "", elapsed * 1e6 / ((double)passes * n));
    }
    printf("], \"classes\": [");
    digits_classify(x, n, classes);
    for (int32_t i = 0; i < n; i++) {
        printf("%s%d", i ? ", " : "", classes[i]);
    }
    printf("]}\n");
    free(x);
    free(classes);
    return 0;
}
