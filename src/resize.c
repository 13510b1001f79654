/* Separable resampling (PIL's convention, restated from the maths).
 *
 * Output pixel i along an axis of scale s = in/out has its centre at input
 * coordinate c = (i + 1/2) s. The filter is stretched by f = max(s, 1)
 * (only when shrinking: enlarging interpolates with the filter as it is), so
 * its support becomes support * f. Input pixel x (centre x + 1/2) gets the
 * weight filter((x + 1/2 - c) / f) for x in [round(c - support*f),
 * round(c + support*f)) clipped to the image; the weights are divided by
 * their sum so a flat image stays flat, also at the borders. */
#include "src/resize.h"

#include <math.h>
#include <stdlib.h>

/* M_PI is not in C11 or POSIX. */
static const double pi = 3.14159265358979323846;

static double sinc(double x)
{
    if (x == 0.0)
        return 1.0;
    x *= pi;
    return sin(x) / x;
}

static double filter_eval(sg2_resize_filter filter, double x)
{
    if (filter == SG2_RESIZE_BOX)
        return x > -0.5 && x <= 0.5 ? 1.0 : 0.0;
    return x >= -3.0 && x < 3.0 ? sinc(x) * sinc(x / 3.0) : 0.0;
}

static double filter_support(sg2_resize_filter filter)
{
    return filter == SG2_RESIZE_BOX ? 0.5 : 3.0;
}

/* The weights of one axis: output i reads inputs first[i] ... first[i] +
 * count[i] - 1 with weights w[i * taps + k]. */
typedef struct axis_weights {
    int taps;
    int *first, *count;
    float *w;
} axis_weights;

static void axis_free(axis_weights *a)
{
    free(a->first);
    free(a->count);
    free(a->w);
}

static int axis_init(axis_weights *a, int in, int out, sg2_resize_filter filter)
{
    double scale = (double)in / out, stretch = scale > 1.0 ? scale : 1.0;
    double support = filter_support(filter) * stretch;
    a->taps = (int)ceil(support) * 2 + 1;
    a->first = malloc(sizeof *a->first * (size_t)out);
    a->count = malloc(sizeof *a->count * (size_t)out);
    a->w = malloc(sizeof *a->w * (size_t)out * (size_t)a->taps);
    double *wd = malloc(sizeof *wd * (size_t)a->taps);
    if (!a->first || !a->count || !a->w || !wd) {
        free(wd);
        axis_free(a);
        return -1;
    }
    for (int i = 0; i < out; i++) {
        double centre = (i + 0.5) * scale;
        int lo = (int)(centre - support + 0.5), hi = (int)(centre + support + 0.5);
        lo = lo < 0 ? 0 : lo;
        hi = hi > in ? in : hi;
        if (hi - lo > a->taps)
            hi = lo + a->taps; /* cannot happen: the window spans at most 2 * support + 1 */
        double sum = 0.0;
        for (int x = lo; x < hi; x++)
            sum += wd[x - lo] = filter_eval(filter, (x + 0.5 - centre) / stretch);
        a->first[i] = lo;
        a->count[i] = hi - lo;
        for (int k = 0; k < hi - lo; k++)
            a->w[(size_t)i * a->taps + k] = (float)(sum != 0.0 ? wd[k] / sum : 0.0);
    }
    free(wd);
    return 0;
}

static uint8_t to_byte(float v)
{
    v = floorf(v + 0.5f);
    return v <= 0.0f ? 0 : v >= 255.0f ? 255 : (uint8_t)v;
}

sg2_status sg2_resize(uint8_t *out, int out_w, int out_h, const uint8_t *in, int in_w, int in_h, int channels,
                      sg2_resize_filter filter, sg2_error *err)
{
    if (out_w <= 0 || out_h <= 0 || in_w <= 0 || in_h <= 0 || channels <= 0)
        return sg2_error_set(err, SG2_ERR_ARG, "resize: cannot resize %dx%d to %dx%d with %d channels", in_w, in_h,
                             out_w, out_h, channels);
    axis_weights ax = {0}, ay = {0};
    float *mid = malloc(sizeof *mid * (size_t)in_h * out_w * channels); /* [in_h, out_w, channels] */
    if (!mid || axis_init(&ax, in_w, out_w, filter) || axis_init(&ay, in_h, out_h, filter)) {
        free(mid);
        axis_free(&ax);
        return sg2_error_set(err, SG2_ERR_NOMEM, "resize: out of memory for %dx%d to %dx%d", in_w, in_h, out_w, out_h);
    }
    /* Rows first, then columns (PIL's order). */
    for (int y = 0; y < in_h; y++)
        for (int i = 0; i < out_w; i++)
            for (int c = 0; c < channels; c++) {
                const uint8_t *src = in + ((size_t)y * in_w + ax.first[i]) * channels + c;
                const float *w = ax.w + (size_t)i * ax.taps;
                float acc = 0.0f;
                for (int k = 0; k < ax.count[i]; k++)
                    acc += w[k] * src[(size_t)k * channels];
                /* PIL stores this pass as bytes: clamping here keeps the
                 * lanczos overshoot of the first pass out of the second. */
                mid[((size_t)y * out_w + i) * channels + c] = acc < 0.0f ? 0.0f : acc > 255.0f ? 255.0f : acc;
            }
    size_t row = (size_t)out_w * channels;
    for (int j = 0; j < out_h; j++) {
        const float *w = ay.w + (size_t)j * ay.taps;
        for (size_t p = 0; p < row; p++) {
            const float *src = mid + (size_t)ay.first[j] * row + p;
            float acc = 0.0f;
            for (int k = 0; k < ay.count[j]; k++)
                acc += w[k] * src[(size_t)k * row];
            out[(size_t)j * row + p] = to_byte(acc);
        }
    }
    free(mid);
    axis_free(&ax);
    axis_free(&ay);
    return SG2_OK;
}
