/*
 * motion: a camera gateway's detector. Finds what moved since the last frame, crops it.
 *
 *   detect(ptr, len) -> i64   bytes ABI: a JPEG (or PNG) frame in. Out, when something
 *                             moved since the previous frame: JSON
 *                               {"camera", "frame", "width", "height",
 *                                "objects": [{"x", "y", "w", "h", "cells", "jpeg"}]}
 *                             with each moving region's crop as base64 JPEG ("jpeg").
 *                             No output for the first frame or a still scene. Error
 *                             codes: -1 not an image, -2 out of memory, -3 too large.
 *   frames() -> i32           frames seen since the instance started
 *   detections() -> i32       regions reported since the instance started
 *   set_threshold(i32) -> i32 the brightness change (0-255) that counts as motion
 *                             (default 24); returns the value now in force
 *
 * How: the frame is decoded by the host (wasmfleet.image_decode, so the module carries no
 * codec) at most 640 px wide, reduced to a grid of 4x4-pixel cells of mean brightness,
 * and compared cell by cell with the previous frame's grid — averaging cells makes JPEG
 * noise vanish, so a plain threshold works. Changed cells are grown by one cell and
 * grouped into 4-connected regions; regions of at least MIN_CELLS cells are cropped from
 * the colour frame (with a margin) and JPEG-encoded by the host (wasmfleet.image_encode).
 * A moving object shows up where it was and where it is now, as one region when the two
 * overlap. The camera name is the second level of the message topic (camera/<name>/...).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasmfleet.h"
#include "wasmfleet_buffer.h"

enum { ERR_IMAGE = -1, ERR_MEMORY = -2, ERR_TOO_LARGE = -3 };

#define MAX_SIDE 640
#define CELL 4
#define GRID_MAX ((MAX_SIDE / CELL) * (MAX_SIDE / CELL))
#define MIN_CELLS 6
#define MARGIN 6
#define MAX_OBJECTS 8
#define OUT_MAX (MAX_SIDE * MAX_SIDE * 2)

static uint8_t previous[GRID_MAX];
static uint8_t current[GRID_MAX];
static uint8_t mask[GRID_MAX];
static int32_t label[GRID_MAX];
static int32_t queue[GRID_MAX];
static int32_t prev_cols = 0, prev_rows = 0;
static int32_t threshold = 24;
static int32_t frames_seen = 0, regions_reported = 0;
static WasmfleetBuffer out = WASMFLEET_BUFFER(OUT_MAX);

typedef struct {
    int32_t x0, y0, x1, y1, cells;
} Region;

WASMIOT_EXPORT("alloc")
int32_t alloc(int32_t len) {
    return (int32_t)(uintptr_t)malloc((size_t)(len > 0 ? len : 1));
}

/* Appends to the output buffer; 0, or -1 when it would exceed OUT_MAX. */
static int emit(const char *data, size_t len) {
    return wasmfleet_append(&out, data, len);
}

static int emitf(const char *format, long a, long b, long c, long d, long e) {
    char text[160];
    int n = snprintf(text, sizeof text, format, a, b, c, d, e);
    return n < 0 ? -1 : emit(text, (size_t)n);
}

static int emit_base64(const uint8_t *data, uint32_t len) {
    return wasmfleet_append_base64(&out, data, len);
}

/* The camera's name: the second level of the message topic, JSON-safe characters only. */
static void camera_name(char *name, size_t size) {
    char topic[256];
    int32_t n = wasmfleet_message_topic(topic, sizeof topic - 1);
    strcpy(name, "unknown");
    if (n < 0) {
        return;
    }
    topic[n < (int32_t)sizeof topic - 1 ? n : (int32_t)sizeof topic - 1] = '\0';
    char *start = strchr(topic, '/');
    if (start == NULL) {
        return;
    }
    start++;
    size_t len = strcspn(start, "/");
    if (len == 0 || len >= size) {
        return;
    }
    for (size_t i = 0; i < len; i++) {
        char ch = start[i];
        name[i] = (ch == '"' || ch == '\\' || (unsigned char)ch < 0x20) ? '_' : ch;
    }
    name[len] = '\0';
}

/* Mean brightness per CELL x CELL block of an RGB frame. */
static void to_grid(const uint8_t *rgb, int32_t width, int32_t cols, int32_t rows) {
    for (int32_t gy = 0; gy < rows; gy++) {
        for (int32_t gx = 0; gx < cols; gx++) {
            uint32_t sum = 0;
            for (int32_t dy = 0; dy < CELL; dy++) {
                const uint8_t *p = rgb + ((size_t)(gy * CELL + dy) * width + gx * CELL) * 3;
                for (int32_t dx = 0; dx < CELL; dx++, p += 3) {
                    sum += (uint32_t)(77 * p[0] + 150 * p[1] + 29 * p[2]) >> 8;
                }
            }
            current[gy * cols + gx] = (uint8_t)(sum / (CELL * CELL));
        }
    }
}

/* Marks changed cells, grown by one cell, in `mask`; returns how many changed. */
static int32_t changed_cells(int32_t cols, int32_t rows) {
    int32_t changed = 0;
    memset(mask, 0, (size_t)(cols * rows));
    for (int32_t i = 0; i < cols * rows; i++) {
        int32_t diff = (int32_t)current[i] - (int32_t)previous[i];
        if (diff >= threshold || -diff >= threshold) {
            changed++;
            int32_t x = i % cols, y = i / cols;
            for (int32_t dy = -1; dy <= 1; dy++) {
                for (int32_t dx = -1; dx <= 1; dx++) {
                    int32_t nx = x + dx, ny = y + dy;
                    if (nx >= 0 && ny >= 0 && nx < cols && ny < rows) {
                        mask[ny * cols + nx] = 1;
                    }
                }
            }
        }
    }
    return changed;
}

/* Groups the mask into 4-connected regions; returns how many (largest first, at most n). */
static int32_t find_regions(int32_t cols, int32_t rows, Region *found, int32_t n) {
    int32_t count = 0;
    memset(label, 0, sizeof(int32_t) * (size_t)(cols * rows));
    for (int32_t start = 0; start < cols * rows; start++) {
        if (!mask[start] || label[start]) {
            continue;
        }
        Region r = {start % cols, start / cols, start % cols, start / cols, 0};
        int32_t head = 0, tail = 0;
        queue[tail++] = start;
        label[start] = 1;
        while (head < tail) {
            int32_t i = queue[head++], x = i % cols, y = i / cols;
            r.cells++;
            if (x < r.x0) r.x0 = x;
            if (x > r.x1) r.x1 = x;
            if (y < r.y0) r.y0 = y;
            if (y > r.y1) r.y1 = y;
            const int32_t next[4] = {x > 0 ? i - 1 : -1, x + 1 < cols ? i + 1 : -1,
                                     y > 0 ? i - cols : -1, y + 1 < rows ? i + cols : -1};
            for (int k = 0; k < 4; k++) {
                if (next[k] >= 0 && mask[next[k]] && !label[next[k]]) {
                    label[next[k]] = 1;
                    queue[tail++] = next[k];
                }
            }
        }
        if (r.cells < MIN_CELLS) {
            continue;
        }
        /* keep the n largest, sorted by size */
        int32_t at = count < n ? count++ : n;
        while (at > 0 && found[at - 1].cells < r.cells) {
            if (at < n) found[at] = found[at - 1];
            at--;
        }
        if (at < n) found[at] = r;
    }
    return count;
}

/* Crops region r (grid cells) from the frame with a margin, encodes it, emits one object. */
static int emit_object(const uint8_t *rgb, int32_t width, int32_t height, const Region *r,
                       int first) {
    int32_t x0 = r->x0 * CELL - MARGIN, y0 = r->y0 * CELL - MARGIN;
    int32_t x1 = (r->x1 + 1) * CELL + MARGIN, y1 = (r->y1 + 1) * CELL + MARGIN;
    x0 = x0 < 0 ? 0 : x0;
    y0 = y0 < 0 ? 0 : y0;
    x1 = x1 > width ? width : x1;
    y1 = y1 > height ? height : y1;
    int32_t w = x1 - x0, h = y1 - y0;
    uint8_t *crop = malloc((size_t)w * (size_t)h * 3);
    if (crop == NULL) {
        return ERR_MEMORY;
    }
    for (int32_t y = 0; y < h; y++) {
        memcpy(crop + (size_t)y * w * 3, rgb + ((size_t)(y0 + y) * width + x0) * 3, (size_t)w * 3);
    }
    uint32_t jpeg[2] = {0, 0};
    int32_t rc = wasmfleet_image_encode(crop, w, h, 3, 85, jpeg);
    free(crop);
    if (rc < 0) {
        return ERR_MEMORY;
    }
    int bad = (!first && emit(",", 1) != 0) || emitf("{\"x\":%ld,\"y\":%ld,", x0, y0, 0, 0, 0);
    bad = bad || emitf("\"w\":%ld,\"h\":%ld,\"cells\":%ld,\"jpeg\":\"", w, h, r->cells, 0, 0);
    bad = bad || emit_base64((const uint8_t *)(uintptr_t)jpeg[0], jpeg[1]);
    bad = bad || emit("\"}", 2);
    free((void *)(uintptr_t)jpeg[0]);
    return bad ? ERR_TOO_LARGE : 0;
}

WASMIOT_EXPORT("detect")
int64_t detect(int32_t ptr, int32_t len) {
    const uint8_t *frame = (const uint8_t *)(uintptr_t)ptr;
    uint32_t info[3] = {0, 0, 0};
    int32_t rc = wasmfleet_image_decode(frame, (uint32_t)len, 3, MAX_SIDE, info);
    free((void *)frame);
    if (rc < 0) {
        return rc == WASMFLEET_IMAGE_EALLOC ? ERR_MEMORY : ERR_IMAGE;
    }
    uint8_t *rgb = (uint8_t *)(uintptr_t)info[0];
    int32_t width = (int32_t)info[1], height = (int32_t)info[2];
    int32_t cols = width / CELL, rows = height / CELL;
    frames_seen++;
    if (cols == 0 || rows == 0) {
        free(rgb);
        prev_cols = prev_rows = 0;
        return 0;
    }
    to_grid(rgb, width, cols, rows);
    int comparable = cols == prev_cols && rows == prev_rows;
    Region found[MAX_OBJECTS];
    int32_t n = 0;
    if (comparable && changed_cells(cols, rows) > 0) {
        n = find_regions(cols, rows, found, MAX_OBJECTS);
    }
    memcpy(previous, current, (size_t)(cols * rows));
    prev_cols = cols;
    prev_rows = rows;
    if (n == 0) {
        free(rgb);
        return 0;
    }
    char camera[64];
    camera_name(camera, sizeof camera);
    out.len = 0;
    int bad = emit("{\"camera\":\"", 11) != 0 || emit(camera, strlen(camera)) != 0;
    bad = bad || emitf("\",\"frame\":%ld,\"width\":%ld,\"height\":%ld,\"objects\":[",
                       frames_seen, width, height, 0, 0);
    int32_t result = 0;
    for (int32_t i = 0; i < n && !bad && result == 0; i++) {
        result = emit_object(rgb, width, height, &found[i], i == 0);
    }
    free(rgb);
    if (bad || result != 0 || emit("]}", 2) != 0) {
        return result != 0 ? result : ERR_TOO_LARGE;
    }
    regions_reported += n;
    return wasmfleet_output(out.data, (uint32_t)out.len);
}

WASMIOT_EXPORT("frames")
int32_t frames(void) {
    return frames_seen;
}

WASMIOT_EXPORT("detections")
int32_t detections(void) {
    return regions_reported;
}

WASMIOT_EXPORT("set_threshold")
int32_t set_threshold(int32_t value) {
    if (value >= 1 && value <= 255) {
        threshold = value;
    }
    return threshold;
}
