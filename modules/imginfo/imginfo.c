/*
 * imginfo: reads the frame header of a JPEG uploaded as an execution mount.
 *
 *   image.jpg   execution-stage mount (uploaded with each call, or chained from
 *               camera.take_image on another device)
 *
 * pixels() returns width * height, width() and height() the frame's size.
 * Errors: -1 image.jpg is missing, -2 it is not a JPEG or has no SOF0/SOF1/SOF2
 * frame header before the scan data, -3 (pixels only) width * height does not
 * fit in an i32. The file is streamed: segments are skipped, not loaded.
 */
#include <stdint.h>
#include <stdio.h>

#include "wasmiot.h"
#include "wasmiot_init.h"

enum { ERR_MISSING = -1, ERR_NOT_JPEG = -2, ERR_TOO_LARGE = -3 };

/* Reads a big-endian u16; -1 at end of file. */
static int32_t read_u16(FILE *fp) {
    int hi = getc(fp);
    int lo = getc(fp);
    if (hi == EOF || lo == EOF) {
        return -1;
    }
    return (int32_t)((hi << 8) | lo);
}

/* Finds the frame header of ./image.jpg: 0 with *width and *height set, or an error code. */
static int32_t frame_size(int32_t *width, int32_t *height) {
    wasmiot_init(); /* the original wasmiot supervisor never calls _initialize */
    FILE *fp = fopen("./image.jpg", "rb");
    if (fp == NULL) {
        return ERR_MISSING;
    }
    int32_t status = ERR_NOT_JPEG;
    if (getc(fp) != 0xFF || getc(fp) != 0xD8) { /* SOI */
        fclose(fp);
        return status;
    }
    for (;;) {
        int byte = getc(fp);
        if (byte != 0xFF) {
            break; /* markers start with 0xFF: anything else is not a JPEG */
        }
        int marker;
        do { /* any number of 0xFF fill bytes may precede a marker */
            marker = getc(fp);
        } while (marker == 0xFF);
        if (marker == EOF || marker == 0xD9 || marker == 0xDA || marker == 0x00) {
            break; /* end of file, EOI or start of scan data before any frame header */
        }
        if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {
            continue; /* TEM and RSTn stand alone: no length */
        }
        int32_t length = read_u16(fp);
        if (length < 2) {
            break;
        }
        if (marker >= 0xC0 && marker <= 0xC2) { /* SOF0 baseline, SOF1 extended, SOF2 progressive */
            int precision = getc(fp);
            int32_t h = read_u16(fp);
            int32_t w = read_u16(fp);
            if (length >= 8 && precision != EOF && h >= 0 && w >= 0) {
                *height = h;
                *width = w;
                status = 0;
            }
            break;
        }
        if (fseek(fp, length - 2, SEEK_CUR) != 0) {
            break;
        }
    }
    fclose(fp);
    return status;
}

/* Pixels of ./image.jpg (width * height), or -1/-2/-3. */
WASMIOT_EXPORT("pixels")
int32_t pixels(void) {
    int32_t width = 0, height = 0;
    int32_t status = frame_size(&width, &height);
    if (status != 0) {
        return status;
    }
    int64_t count = (int64_t)width * (int64_t)height;
    return count > INT32_MAX ? ERR_TOO_LARGE : (int32_t)count;
}

/* Width of ./image.jpg in pixels, or -1/-2. */
WASMIOT_EXPORT("width")
int32_t width(void) {
    int32_t w = 0, h = 0;
    int32_t status = frame_size(&w, &h);
    return status != 0 ? status : w;
}

/* Height of ./image.jpg in pixels, or -1/-2. */
WASMIOT_EXPORT("height")
int32_t height(void) {
    int32_t w = 0, h = 0;
    int32_t status = frame_size(&w, &h);
    return status != 0 ? status : h;
}
