#include "host/kernel_sources.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sg2_status read_file(const char *path, char **text, size_t *length, sg2_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return sg2_error_set(err, SG2_ERR_IO, "%s: cannot open kernel source (SG2_KERNEL_DIR is set)", path);
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 65536;
            char *grown = realloc(buf, cap);
            if (!grown) {
                free(buf);
                fclose(f);
                return sg2_error_set(err, SG2_ERR_NOMEM, "%s: out of memory reading", path);
            }
            buf = grown;
        }
        size_t got = fread(buf + n, 1, 4096, f);
        n += got;
        if (got < 4096)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return sg2_error_set(err, SG2_ERR_IO, "%s: read error", path);
    }
    buf[n] = '\0';
    *text = buf;
    *length = n;
    return SG2_OK;
}

sg2_status sg2_kernel_source_load(const char *file, char **text, size_t *length, sg2_error *err)
{
    const char *dir = getenv("SG2_KERNEL_DIR");
    if (dir && *dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, file);
        return read_file(path, text, length, err);
    }
    for (const sg2_kernel_source *s = sg2_kernel_sources; s->name; s++) {
        if (strcmp(s->name, file) == 0) {
            *text = malloc(s->length + 1);
            if (!*text)
                return sg2_error_set(err, SG2_ERR_NOMEM, "%s: out of memory", file);
            memcpy(*text, s->text, s->length + 1);
            *length = s->length;
            return SG2_OK;
        }
    }
    return sg2_error_set(err, SG2_ERR_ARG, "%s: no such kernel file compiled in", file);
}
