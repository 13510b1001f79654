#include "host/bincache.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BINCACHE_MAGIC "SG2CLBIN"
#define BINCACHE_FORMAT 1u

int sg2_bincache_enabled(const sg2_device_info *dev)
{
    const char *env = getenv("SG2_BINARY_CACHE");
    if (env && *env)
        return strcmp(env, "0") != 0 && strcmp(env, "off") != 0;
    if (strstr(dev->platform_name, "Portable Computing Language") || strstr(dev->platform_name, "NVIDIA"))
        return 0;
    return 1;
}

/* FNV-1a, 64 bit; two independent seeds give the 128-bit key. Not a
 * cryptographic hash: a collision only costs a failed binary load. */
static uint64_t fnv1a(uint64_t h, const char *s)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    h ^= 0xff; /* field separator so ("ab","c") != ("a","bc") */
    h *= 0x100000001b3ull;
    return h;
}

void sg2_bincache_key(char key[33], const sg2_device_info *dev, const char *source, const char *options)
{
    const char *fields[] = {dev->platform_name, dev->platform_version, dev->name, dev->device_version,
                            dev->driver_version, dev->opencl_c_version, source, options ? options : "",
                            sizeof(void *) == 8 ? "64" : "32", "format1"};
    uint64_t a = 0xcbf29ce484222325ull, b = 0x84222325cbf29ce4ull;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        a = fnv1a(a, fields[i]);
        b = fnv1a(b ^ (i * 0x9e3779b97f4a7c15ull), fields[i]);
    }
    snprintf(key, 33, "%016llx%016llx", (unsigned long long)a, (unsigned long long)b);
}

static int cache_dir(char *out, size_t cap)
{
    const char *d = getenv("SG2_CACHE_DIR");
    if (d && *d)
        return snprintf(out, cap, "%s/programs", d) < (int)cap;
    d = getenv("XDG_CACHE_HOME");
    if (d && *d)
        return snprintf(out, cap, "%s/stylegan2-cl/programs", d) < (int)cap;
    d = getenv("HOME");
    if (d && *d)
        return snprintf(out, cap, "%s/.cache/stylegan2-cl/programs", d) < (int)cap;
    return 0;
}

static int make_dirs(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            int rc = mkdir(path, 0755);
            *p = '/';
            if (rc != 0 && errno != EEXIST)
                return 0;
        }
    }
    return mkdir(path, 0755) == 0 || errno == EEXIST;
}

static uint64_t checksum(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

int sg2_bincache_load(const char *key, unsigned char **binary, size_t *length)
{
    char dir[3072], path[4096];
    if (!cache_dir(dir, sizeof dir))
        return 0;
    snprintf(path, sizeof path, "%s/%s.clbin", dir, key);
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    char magic[8];
    uint32_t format = 0;
    uint64_t len = 0, sum = 0;
    int ok = fread(magic, 1, 8, f) == 8 && memcmp(magic, BINCACHE_MAGIC, 8) == 0 &&
             fread(&format, sizeof format, 1, f) == 1 && format == BINCACHE_FORMAT &&
             fread(&len, sizeof len, 1, f) == 1 && fread(&sum, sizeof sum, 1, f) == 1 && len > 0 &&
             len < ((uint64_t)1 << 31);
    unsigned char *buf = ok ? malloc((size_t)len) : NULL;
    ok = ok && buf && fread(buf, 1, (size_t)len, f) == len && checksum(buf, (size_t)len) == sum;
    fclose(f);
    if (!ok) {
        free(buf);
        remove(path);
        return 0;
    }
    *binary = buf;
    *length = (size_t)len;
    return 1;
}

void sg2_bincache_store(const char *key, const unsigned char *binary, size_t length)
{
    char dir[3072], path[4096], tmp[4200];
    if (!cache_dir(dir, sizeof dir) || !make_dirs(dir))
        return;
    snprintf(path, sizeof path, "%s/%s.clbin", dir, key);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return;
    uint32_t format = BINCACHE_FORMAT;
    uint64_t len = length, sum = checksum(binary, length);
    int ok = fwrite(BINCACHE_MAGIC, 1, 8, f) == 8 && fwrite(&format, sizeof format, 1, f) == 1 &&
             fwrite(&len, sizeof len, 1, f) == 1 && fwrite(&sum, sizeof sum, 1, f) == 1 &&
             fwrite(binary, 1, length, f) == length;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0)
        remove(tmp);
}
