/*
 * camera: a host function that hands bytes to the module, and an output file.
 *
 * take_image uses camera.takeImageDynamicSize: the host calls our `alloc` export
 * for a buffer of the image's size. take_image_static uses
 * camera.takeImageStaticSize with a fixed 512 KiB buffer (larger images are
 * truncated by the host). Both write the JPEG to an output mount.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "wasmiot.h"
#include "wasmiot_init.h"

enum { ERR_NO_IMAGE = -1, ERR_OPEN = -2, ERR_WRITE = -3 };

#define STATIC_IMAGE_MAX (512u * 1024u)
static uint8_t static_image[STATIC_IMAGE_MAX];

/* Buffer allocator the host calls from camera.takeImageDynamicSize. */
WASMIOT_EXPORT("alloc")
int32_t alloc(int32_t len) {
    return (int32_t)(uintptr_t)malloc((size_t)len);
}

/* Writes len bytes to path; returns len or a negative error code. */
static int32_t write_file(const char *path, const uint8_t *data, uint32_t len) {
    wasmiot_init(); /* the original wasmiot supervisor never calls _initialize */
    FILE *fp = fopen(path, "wb");
    if (fp == NULL) {
        return ERR_OPEN;
    }
    size_t written = fwrite(data, 1, len, fp);
    if (fclose(fp) != 0 || written != len) {
        return ERR_WRITE;
    }
    return (int32_t)len;
}

/* Takes a picture into ./image.jpeg; returns its length in bytes (negative on error). */
WASMIOT_EXPORT("take_image")
int32_t take_image(void) {
    uint8_t *image = NULL;
    uint32_t len = 0;
    takeImageDynamicSize(&image, &len);
    if (image == NULL || len == 0) {
        free(image);
        return ERR_NO_IMAGE;
    }
    int32_t result = write_file("./image.jpeg", image, len);
    free(image);
    return result;
}

/* Takes a picture (at most 512 KiB) into ./image_static.jpeg; returns its length. */
WASMIOT_EXPORT("take_image_static")
int32_t take_image_static(void) {
    uint32_t size = STATIC_IMAGE_MAX;
    takeImageStaticSize(static_image, &size);
    if (size == 0 || size > STATIC_IMAGE_MAX) {
        return ERR_NO_IMAGE;
    }
    return write_file("./image_static.jpeg", static_image, size);
}
