/*
 * face: face detection with BlazeFace (short range) through WASI-NN.
 *
 *   detect(ptr, len) -> i64     bytes ABI: an image (JPEG, PNG, ...) in; out, for every
 *                               image, JSON {"width", "height", "faces": [{"x", "y", "w",
 *                               "h", "score", "jpeg"}]} (boxes in the image's pixels, each
 *                               face's crop as base64 JPEG; an empty list when there is no
 *                               face, so a consumer sees every frame was processed).
 *   detect_file() -> i32        reads the execution mount image.jpg, writes the output mount
 *                               faces.json (the same JSON without "jpeg") and each face's
 *                               crop as face-0.jpg, face-1.jpg, ... (faces[i] is face-i.jpg);
 *                               returns the number of faces.
 *   set_threshold(f32) -> f32   the score (0 < t < 1) a detection needs (default 0.5);
 *                               returns the value now in force (out of range: unchanged).
 *
 * Errors (negative results): -1 not an image, -2 out of memory, -3 the image or the report
 * is too large, -4 WASI-NN failed (no model named "face" on this device, or the backend
 * failed; the reason goes to stderr, i.e. the supervisor's log), -5 no image.jpg
 * (detect_file), -6 cannot write faces.json or a crop (detect_file).
 *
 * How (docs/face.md): the host decodes the image (wasmfleet.image_decode, RGB); it is
 * letterboxed into 128x128 (aspect kept, scaled with a triangle filter as wide as the
 * scale factor, centred, padded with black) and normalised to [-1, 1]; the model the
 * device registered as "face" (load_by_name, once; graph and context are kept) gives 896
 * box regressions (output 0, [1,896,16]) and scores (output 1, [1,896,1]). Each is
 * decoded against its SSD anchor (strides 8, 16, 16, 16: 2 anchors per cell of the 16x16
 * grid, 6 per cell of the 8x8 grid, centres (x+0.5)/grid, size 1): centre =
 * raw[0..1]/128 + anchor, size = raw[2..3]/128, score = sigmoid(clamp(raw, -100, 100)).
 * Detections over the threshold go through weighted non-maximum suppression (MediaPipe's:
 * the best one and every detection overlapping it by IoU > 0.3 merge into their
 * score-weighted mean box, with the best score), and the boxes are mapped back to the
 * original image. Every inference is reported with wasmfleet.qoa_report: the latency of
 * set_input..get_output in ms and the best face score as the confidence (0: no face).
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wasi_nn.h"
#include "wasmfleet.h"
#include "wasmfleet_buffer.h"

enum {
    ERR_IMAGE = -1,
    ERR_MEMORY = -2,
    ERR_TOO_LARGE = -3,
    ERR_NN = -4,
    ERR_NO_FILE = -5,
    ERR_WRITE = -6,
};

#define SIDE 128
#define ANCHORS 896
#define COORDS 16
#define MAX_FACES 32
#define IOU_MIN 0.3f
#define OUT_MAX (16u * 1024u * 1024u)
#define FILE_MAX (64u * 1024u * 1024u)
#define MODEL "face"

typedef struct {
    float x0, y0, x1, y1, score; /* in the original image's pixels */
} Face;

static float input[SIDE * SIDE * 3];
static float regressors[ANCHORS * COORDS];
static float logits[ANCHORS];
static float scores[ANCHORS];
static float anchor_x[ANCHORS], anchor_y[ANCHORS];
static int32_t order[ANCHORS];
static uint8_t merged[ANCHORS];
static int anchors_ready = 0;
static int model_ready = 0;
static wasi_nn_graph graph;
static wasi_nn_context context;
static float threshold = 0.5f;
static WasmfleetBuffer out = WASMFLEET_BUFFER(OUT_MAX);

WASMIOT_EXPORT("alloc")
int32_t alloc(int32_t len) {
    return (int32_t)(uintptr_t)malloc((size_t)(len > 0 ? len : 1));
}

WASMIOT_EXPORT("set_threshold")
float set_threshold(float value) {
    if (value > 0.0f && value < 1.0f) {
        threshold = value;
    }
    return threshold;
}

/* ---- output buffer ---------------------------------------------------------------- */

static int emit(const char *data, size_t len) {
    return wasmfleet_append(&out, data, len);
}

static int emit_base64(const uint8_t *data, uint32_t len) {
    return wasmfleet_append_base64(&out, data, len);
}

/* ---- letterbox -------------------------------------------------------------------- */

/* Triangle-filter weights taking `in` samples to `out` (as wide as the shrink factor, so
 * shrinking averages instead of skipping pixels); each output reads count[i] inputs from
 * start[i], weights at w[i * kmax ...]. */
static void filter_weights(int32_t in, int32_t outn, int32_t kmax, int32_t *start,
                           int32_t *count, float *w) {
    double scale = (double)in / outn;
    double support = scale > 1.0 ? scale : 1.0;
    for (int32_t i = 0; i < outn; i++) {
        double center = (i + 0.5) * scale;
        int32_t lo = (int32_t)(center - support + 0.5);
        int32_t hi = (int32_t)(center + support + 0.5);
        lo = lo < 0 ? 0 : lo;
        hi = hi > in ? in : hi;
        hi = hi - lo > kmax ? lo + kmax : hi;
        double total = 0.0;
        for (int32_t k = lo; k < hi; k++) {
            double t = fabs((k + 0.5 - center) / support);
            double v = t < 1.0 ? 1.0 - t : 0.0;
            w[i * kmax + (k - lo)] = (float)v;
            total += v;
        }
        for (int32_t k = lo; k < hi; k++) {
            w[i * kmax + (k - lo)] = total > 0.0 ? (float)(w[i * kmax + (k - lo)] / total) : 0.0f;
        }
        start[i] = lo;
        count[i] = hi - lo;
    }
}

typedef struct {
    int32_t pad_x, pad_y, inner_w, inner_h;
} Letterbox;

/* Scales the RGB image into the centre of `input` (aspect kept, black around it),
 * normalised to [-1, 1]; 0, or ERR_MEMORY. */
static int32_t letterbox(const uint8_t *rgb, int32_t width, int32_t height, Letterbox *lb) {
    int32_t longer = width > height ? width : height;
    int32_t nw = (int32_t)floor((double)width * SIDE / longer + 0.5);
    int32_t nh = (int32_t)floor((double)height * SIDE / longer + 0.5);
    nw = nw < 1 ? 1 : nw;
    nh = nh < 1 ? 1 : nh;
    lb->inner_w = nw;
    lb->inner_h = nh;
    lb->pad_x = (SIDE - nw) / 2;
    lb->pad_y = (SIDE - nh) / 2;
    double sx = (double)width / nw, sy = (double)height / nh;
    int32_t kx = 2 * (int32_t)ceil(sx > 1.0 ? sx : 1.0) + 1;
    int32_t ky = 2 * (int32_t)ceil(sy > 1.0 ? sy : 1.0) + 1;
    int32_t *xs = malloc(sizeof(int32_t) * (size_t)nw * 2);
    int32_t *ys = malloc(sizeof(int32_t) * (size_t)nh * 2);
    float *wx = malloc(sizeof(float) * (size_t)nw * (size_t)kx);
    float *wy = malloc(sizeof(float) * (size_t)nh * (size_t)ky);
    float *rows = malloc(sizeof(float) * (size_t)height * (size_t)nw * 3);
    int32_t rc = 0;
    if (xs == NULL || ys == NULL || wx == NULL || wy == NULL || rows == NULL) {
        rc = ERR_MEMORY;
        goto done;
    }
    filter_weights(width, nw, kx, xs, xs + nw, wx);
    filter_weights(height, nh, ky, ys, ys + nh, wy);
    for (int32_t y = 0; y < height; y++) { /* horizontal pass: every row to nw columns */
        const uint8_t *src = rgb + (size_t)y * (size_t)width * 3;
        float *dst = rows + (size_t)y * (size_t)nw * 3;
        for (int32_t x = 0; x < nw; x++) {
            float r = 0.0f, g = 0.0f, b = 0.0f;
            const float *w = wx + (size_t)x * (size_t)kx;
            const uint8_t *p = src + (size_t)xs[x] * 3;
            for (int32_t k = 0; k < xs[nw + x]; k++, p += 3) {
                r += w[k] * p[0];
                g += w[k] * p[1];
                b += w[k] * p[2];
            }
            dst[x * 3] = r;
            dst[x * 3 + 1] = g;
            dst[x * 3 + 2] = b;
        }
    }
    for (int32_t i = 0; i < SIDE * SIDE * 3; i++) {
        input[i] = -1.0f; /* black */
    }
    for (int32_t y = 0; y < nh; y++) { /* vertical pass, into the letterbox */
        const float *w = wy + (size_t)y * (size_t)ky;
        float *dst = input + ((size_t)(y + lb->pad_y) * SIDE + (size_t)lb->pad_x) * 3;
        for (int32_t c = 0; c < nw * 3; c++) {
            float v = 0.0f;
            const float *p = rows + (size_t)ys[y] * (size_t)nw * 3 + c;
            for (int32_t k = 0; k < ys[nh + y]; k++, p += (size_t)nw * 3) {
                v += w[k] * *p;
            }
            dst[c] = v / 127.5f - 1.0f;
        }
    }
done:
    free(xs);
    free(ys);
    free(wx);
    free(wy);
    free(rows);
    return rc;
}

/* ---- inference -------------------------------------------------------------------- */

static void make_anchors(void) {
    int32_t n = 0;
    static const int32_t grids[2] = {16, 8}, per_cell[2] = {2, 6};
    for (int32_t layer = 0; layer < 2; layer++) {
        int32_t grid = grids[layer];
        for (int32_t y = 0; y < grid; y++) {
            for (int32_t x = 0; x < grid; x++) {
                for (int32_t k = 0; k < per_cell[layer]; k++, n++) {
                    anchor_x[n] = (x + 0.5f) / grid;
                    anchor_y[n] = (y + 0.5f) / grid;
                }
            }
        }
    }
    anchors_ready = 1;
}

static int32_t nn_failed(const char *step, wasi_nn_errno err) {
    fprintf(stderr, "face: wasi-nn %s failed with error %d\n", step, (int)err);
    return ERR_NN;
}

/* Loads the "face" model once; 0 or ERR_NN (retried on the next call). */
static int32_t ensure_model(void) {
    if (model_ready) {
        return 0;
    }
    wasi_nn_errno err = wasi_nn_load_by_name(MODEL, sizeof MODEL - 1, &graph);
    if (err != WASI_NN_SUCCESS) {
        return nn_failed("load_by_name(\"" MODEL "\")", err);
    }
    err = wasi_nn_init_execution_context(graph, &context);
    if (err != WASI_NN_SUCCESS) {
        return nn_failed("init_execution_context", err);
    }
    model_ready = 1;
    return 0;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Runs the model on `input` into `regressors` and `logits`; 0 or ERR_NN. */
static int32_t infer(double *latency_ms) {
    static const uint32_t dims[4] = {1, SIDE, SIDE, 3};
    wasi_nn_tensor tensor = {dims, 4, WASI_NN_TYPE_F32, (const uint8_t *)input, sizeof input};
    double started = now_ms();
    wasi_nn_errno err = wasi_nn_set_input(context, 0, &tensor);
    if (err != WASI_NN_SUCCESS) {
        return nn_failed("set_input", err);
    }
    if ((err = wasi_nn_compute(context)) != WASI_NN_SUCCESS) {
        return nn_failed("compute", err);
    }
    uint32_t written = 0;
    err = wasi_nn_get_output(context, 0, (uint8_t *)regressors, sizeof regressors, &written);
    if (err != WASI_NN_SUCCESS || written != sizeof regressors) {
        fprintf(stderr, "face: output 0 has %u bytes, expected %u\n", (unsigned)written,
                (unsigned)sizeof regressors);
        return nn_failed("get_output(0)", err);
    }
    err = wasi_nn_get_output(context, 1, (uint8_t *)logits, sizeof logits, &written);
    if (err != WASI_NN_SUCCESS || written != sizeof logits) {
        fprintf(stderr, "face: output 1 has %u bytes, expected %u\n", (unsigned)written,
                (unsigned)sizeof logits);
        return nn_failed("get_output(1)", err);
    }
    *latency_ms = now_ms() - started;
    return 0;
}

static float iou(int32_t a, int32_t b) {
    const float *ra = regressors + a * COORDS, *rb = regressors + b * COORDS;
    float aw = ra[2] / SIDE, ah = ra[3] / SIDE, bw = rb[2] / SIDE, bh = rb[3] / SIDE;
    float ax = ra[0] / SIDE + anchor_x[a], ay = ra[1] / SIDE + anchor_y[a];
    float bx = rb[0] / SIDE + anchor_x[b], by = rb[1] / SIDE + anchor_y[b];
    float iw = fminf(ax + aw / 2, bx + bw / 2) - fmaxf(ax - aw / 2, bx - bw / 2);
    float ih = fminf(ay + ah / 2, by + bh / 2) - fmaxf(ay - ah / 2, by - bh / 2);
    if (iw <= 0.0f || ih <= 0.0f) {
        return 0.0f;
    }
    float inter = iw * ih, uni = aw * ah + bw * bh - inter;
    return uni > 0.0f ? inter / uni : 0.0f;
}

static int by_score(const void *a, const void *b) {
    float sa = scores[*(const int32_t *)a], sb = scores[*(const int32_t *)b];
    if (sa != sb) {
        return sa < sb ? 1 : -1;
    }
    return *(const int32_t *)a - *(const int32_t *)b;
}

/* Decodes the outputs, merges overlapping detections; the faces, in pixels, best first. */
static int32_t decode(const Letterbox *lb, int32_t width, int32_t height, Face *faces) {
    int32_t n = 0;
    for (int32_t i = 0; i < ANCHORS; i++) {
        float raw = fminf(fmaxf(logits[i], -100.0f), 100.0f);
        scores[i] = 1.0f / (1.0f + expf(-raw));
        if (scores[i] >= threshold) {
            order[n++] = i;
        }
    }
    qsort(order, (size_t)n, sizeof order[0], by_score);
    memset(merged, 0, sizeof merged);
    int32_t found = 0;
    for (int32_t i = 0; i < n && found < MAX_FACES; i++) {
        int32_t top = order[i];
        if (merged[top]) {
            continue;
        }
        float sum = 0.0f, cx = 0.0f, cy = 0.0f, w = 0.0f, h = 0.0f;
        for (int32_t j = i; j < n; j++) {
            int32_t k = order[j];
            if (merged[k] || (k != top && iou(top, k) <= IOU_MIN)) {
                continue;
            }
            const float *r = regressors + k * COORDS;
            float s = scores[k];
            merged[k] = 1;
            sum += s;
            cx += s * (r[0] / SIDE + anchor_x[k]);
            cy += s * (r[1] / SIDE + anchor_y[k]);
            w += s * r[2] / SIDE;
            h += s * r[3] / SIDE;
        }
        cx /= sum, cy /= sum, w /= sum, h /= sum;
        /* letterbox (0..1) -> the original image's pixels */
        float kx = (float)width / lb->inner_w, ky = (float)height / lb->inner_h;
        Face f = {
            ((cx - w / 2) * SIDE - lb->pad_x) * kx,
            ((cy - h / 2) * SIDE - lb->pad_y) * ky,
            ((cx + w / 2) * SIDE - lb->pad_x) * kx,
            ((cy + h / 2) * SIDE - lb->pad_y) * ky,
            scores[top],
        };
        f.x0 = fmaxf(f.x0, 0.0f);
        f.y0 = fmaxf(f.y0, 0.0f);
        f.x1 = fminf(f.x1, (float)width);
        f.y1 = fminf(f.y1, (float)height);
        if (f.x1 - f.x0 >= 1.0f && f.y1 - f.y0 >= 1.0f) {
            faces[found++] = f;
        }
    }
    return found;
}

/* ---- one image -------------------------------------------------------------------- */

typedef struct {
    uint8_t *rgb;
    int32_t width, height, count;
    int32_t box[MAX_FACES][4]; /* x, y, w, h in pixels */
    float score[MAX_FACES];
} Result;

/* Decodes the image and finds its faces; 0 or a negative error code (nothing to free). */
static int32_t find_faces(const uint8_t *data, uint32_t len, Result *res) {
    uint32_t info[3] = {0, 0, 0};
    int32_t rc = wasmfleet_image_decode(data, len, 3, 0, info);
    if (rc < 0) {
        return rc == WASMFLEET_IMAGE_EALLOC  ? ERR_MEMORY
               : rc == WASMFLEET_IMAGE_ETOOLARGE ? ERR_TOO_LARGE
                                                 : ERR_IMAGE;
    }
    res->rgb = (uint8_t *)(uintptr_t)info[0];
    res->width = (int32_t)info[1];
    res->height = (int32_t)info[2];
    Letterbox lb;
    double latency = 0.0;
    if ((rc = letterbox(res->rgb, res->width, res->height, &lb)) != 0 ||
        (rc = ensure_model()) != 0 || (rc = infer(&latency)) != 0) {
        free(res->rgb);
        res->rgb = NULL;
        return rc;
    }
    if (!anchors_ready) {
        make_anchors();
    }
    Face faces[MAX_FACES];
    res->count = decode(&lb, res->width, res->height, faces);
    for (int32_t i = 0; i < res->count; i++) {
        int32_t x0 = (int32_t)(faces[i].x0 + 0.5f), y0 = (int32_t)(faces[i].y0 + 0.5f);
        int32_t x1 = (int32_t)(faces[i].x1 + 0.5f), y1 = (int32_t)(faces[i].y1 + 0.5f);
        res->box[i][0] = x0;
        res->box[i][1] = y0;
        res->box[i][2] = x1 > x0 ? x1 - x0 : 1;
        res->box[i][3] = y1 > y0 ? y1 - y0 : 1;
        res->score[i] = faces[i].score;
    }
    wasmfleet_qoa_report((float)latency, res->count > 0 ? res->score[0] : 0.0f);
    return 0;
}

/* JPEG of face i's crop; {ptr, len} in jpeg (the caller frees ptr), or ERR_MEMORY. */
static int32_t encode_crop(const Result *res, int32_t i, uint32_t jpeg[2]) {
    int32_t x = res->box[i][0], y = res->box[i][1], w = res->box[i][2], h = res->box[i][3];
    w = x + w > res->width ? res->width - x : w;
    h = y + h > res->height ? res->height - y : h;
    uint8_t *crop = malloc((size_t)w * (size_t)h * 3);
    if (crop == NULL) {
        return ERR_MEMORY;
    }
    for (int32_t row = 0; row < h; row++) {
        memcpy(crop + (size_t)row * (size_t)w * 3,
               res->rgb + ((size_t)(y + row) * (size_t)res->width + (size_t)x) * 3,
               (size_t)w * 3);
    }
    int32_t rc = wasmfleet_image_encode(crop, w, h, 3, 85, jpeg);
    free(crop);
    return rc < 0 ? ERR_MEMORY : 0;
}

/* Writes the report into `out`; with crops, each face's JPEG as base64. */
static int32_t report(const Result *res, int crops) {
    char text[192];
    out.len = 0;
    int n = snprintf(text, sizeof text, "{\"width\":%ld,\"height\":%ld,\"faces\":[",
                     (long)res->width, (long)res->height);
    if (emit(text, (size_t)n) != 0) {
        return ERR_TOO_LARGE;
    }
    for (int32_t i = 0; i < res->count; i++) {
        n = snprintf(text, sizeof text, "%s{\"x\":%ld,\"y\":%ld,\"w\":%ld,\"h\":%ld,\"score\":%.4f",
                     i ? "," : "", (long)res->box[i][0], (long)res->box[i][1],
                     (long)res->box[i][2], (long)res->box[i][3], (double)res->score[i]);
        if (emit(text, (size_t)n) != 0) {
            return ERR_TOO_LARGE;
        }
        if (crops) {
            uint32_t jpeg[2] = {0, 0};
            int32_t rc = encode_crop(res, i, jpeg);
            if (rc != 0) {
                return rc;
            }
            int bad = emit(",\"jpeg\":\"", 9) != 0 ||
                      emit_base64((const uint8_t *)(uintptr_t)jpeg[0], jpeg[1]) != 0 ||
                      emit("\"", 1) != 0;
            free((void *)(uintptr_t)jpeg[0]);
            if (bad) {
                return ERR_TOO_LARGE;
            }
        }
        if (emit("}", 1) != 0) {
            return ERR_TOO_LARGE;
        }
    }
    return emit("]}", 2) != 0 ? ERR_TOO_LARGE : 0;
}

WASMIOT_EXPORT("detect")
int64_t detect(int32_t ptr, int32_t len) {
    uint8_t *data = (uint8_t *)(uintptr_t)ptr;
    Result res = {0};
    int32_t rc = find_faces(data, (uint32_t)len, &res);
    free(data);
    if (rc != 0) {
        return rc;
    }
    rc = report(&res, 1);
    free(res.rgb);
    return rc != 0 ? rc : wasmfleet_output(out.data, (uint32_t)out.len);
}

/* Writes len bytes to path; 0 or ERR_WRITE. */
static int32_t write_file(const char *path, const void *data, size_t len) {
    FILE *fp = fopen(path, "wb");
    if (fp == NULL) {
        return ERR_WRITE;
    }
    size_t written = fwrite(data, 1, len, fp);
    return (fclose(fp) != 0 || written != len) ? ERR_WRITE : 0;
}

/* The whole of ./image.jpg in a malloc'd buffer; NULL (with *rc set) when it cannot be read. */
static uint8_t *read_image(uint32_t *len, int32_t *rc) {
    FILE *fp = fopen("./image.jpg", "rb");
    if (fp == NULL) {
        *rc = ERR_NO_FILE;
        return NULL;
    }
    size_t cap = 64 * 1024, used = 0;
    uint8_t *data = malloc(cap);
    while (data != NULL) {
        used += fread(data + used, 1, cap - used, fp);
        if (used < cap) {
            break;
        }
        uint8_t *grown = cap >= FILE_MAX ? NULL : realloc(data, cap * 2);
        if (grown == NULL) {
            free(data);
            data = NULL;
            break;
        }
        data = grown;
        cap *= 2;
    }
    fclose(fp);
    *rc = data == NULL ? (cap >= FILE_MAX ? ERR_TOO_LARGE : ERR_MEMORY) : 0;
    *len = (uint32_t)used;
    return data;
}

WASMIOT_EXPORT("detect_file")
int32_t detect_file(void) {
    uint32_t len = 0;
    int32_t rc = 0;
    uint8_t *data = read_image(&len, &rc);
    if (data == NULL) {
        return rc;
    }
    Result res = {0};
    rc = find_faces(data, len, &res);
    free(data);
    if (rc != 0) {
        return rc;
    }
    char name[32];
    for (int32_t i = 0; i < res.count && rc == 0; i++) {
        uint32_t jpeg[2] = {0, 0};
        if ((rc = encode_crop(&res, i, jpeg)) == 0) {
            snprintf(name, sizeof name, "./face-%ld.jpg", (long)i);
            rc = write_file(name, (const void *)(uintptr_t)jpeg[0], jpeg[1]);
            free((void *)(uintptr_t)jpeg[0]);
        }
    }
    for (int32_t i = res.count; i < MAX_FACES; i++) { /* crops of an earlier image */
        snprintf(name, sizeof name, "./face-%ld.jpg", (long)i);
        remove(name);
    }
    if (rc == 0) {
        rc = report(&res, 0);
    }
    free(res.rgb);
    if (rc == 0) {
        rc = write_file("./faces.json", out.data, out.len);
    }
    return rc != 0 ? rc : res.count;
}
