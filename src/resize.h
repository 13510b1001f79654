/* Image resampling on the host, as PIL's Image.resize does it with the BOX
 * and LANCZOS filters: separable, one pass per axis, each output pixel a
 * normalised weighted sum of the input pixels under the filter. When
 * shrinking, the filter is stretched by the shrink factor so it averages
 * over the input pixels that map to one output pixel. Bytes in, bytes out
 * (rounded to nearest, clamped to [0, 255]); the pass between the axes is
 * kept in float, clamped to [0, 255] as PIL's 8-bit one is but not rounded,
 * so results can differ from PIL's by one level. Used by the dataset tool. */
#ifndef SG2_RESIZE_H
#define SG2_RESIZE_H
#include <stdint.h>

#include "host/status.h"

typedef enum sg2_resize_filter {
    SG2_RESIZE_BOX,     /* 1 on (-1/2, 1/2], 0 elsewhere: an area average */
    SG2_RESIZE_LANCZOS  /* sinc(x) sinc(x/3) on [-3, 3): a = 3 */
} sg2_resize_filter;

/* out: [out_h, out_w, channels]; in: [in_h, in_w, channels]. */
sg2_status sg2_resize(uint8_t *out, int out_w, int out_h, const uint8_t *in, int in_w, int in_h, int channels,
                      sg2_resize_filter filter, sg2_error *err);

#endif
