#include "host/tuner.h"

#include "host/fnv.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TUNE_FORMAT 1
#define TIMING_REPS 5       /* launches per timing; the median is kept ... */
#define SLOW_US 50000.0     /* ... or 3 when one launch takes longer than this */
#define AB_ROUNDS 7         /* interleaved default/best rounds at the end (5 when slow) */
#define MIN_GAIN 0.97       /* tuned must beat default by 3 %, else noise */
#define ENUM_LIMIT 4096     /* spaces up to this size are shuffled whole */
#define OUT_RTOL 1e-4       /* candidates agree with the default like ops */
#define OUT_ATOL 1e-4       /* agree with the reference in the test suite */

/* The in-memory table of one device. */
static struct {
    char fingerprint[17]; /* of the device it belongs to; "" = nothing loaded */
    sg2_tune_result *e;
    int n, cap;
    /* entries by key hash (1 + position in e, 0 empty), open addressing, at
     * most half full: every tuned op looks its key up */
    int *index;
    int index_cap;
} table;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int sg2_tuner_enabled(void)
{
    const char *v = getenv("SG2_TUNE");
    return !(v && (strcmp(v, "0") == 0 || strcmp(v, "off") == 0));
}

double sg2_tuner_first_use_budget(void)
{
    const char *v = getenv("SG2_TUNE_BUDGET");
    if (!v || !*v)
        return 2.0;
    char *end;
    double b = strtod(v, &end);
    return (*end || !(b >= 0) || !isfinite(b)) ? 2.0 : b;
}

/* FNV-1a over the fields that decide kernel speed and behaviour: another
 * driver version may compile the same source differently. */
static void fingerprint(const sg2_device_info *dev, char out[17])
{
    const char *fields[] = {dev->platform_name, dev->name, dev->driver_version, "tune1"};
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        for (const char *s = fields[i]; *s; s++)
            h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
        h = (h ^ 0xff) * 0x100000001b3ull;
    }
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

static int cache_dir(char *out, size_t cap)
{
    const char *d = getenv("SG2_CACHE_DIR");
    if (d && *d)
        return snprintf(out, cap, "%s", d) < (int)cap;
    d = getenv("XDG_CACHE_HOME");
    if (d && *d)
        return snprintf(out, cap, "%s/stylegan2-cl", d) < (int)cap;
    d = getenv("HOME");
    if (d && *d)
        return snprintf(out, cap, "%s/.cache/stylegan2-cl", d) < (int)cap;
    return 0;
}

int sg2_tuner_cache_path(const sg2_device_info *dev, char *out, size_t cap)
{
    char dir[1024], fp[17];
    if (!cache_dir(dir, sizeof dir))
        return 0;
    fingerprint(dev, fp);
    return snprintf(out, cap, "%s/tune-%s.json", dir, fp) < (int)cap;
}

/* Macro names become compiler options: accept only C identifiers in
 * capitals so a damaged or hostile cache cannot inject other options. */
static int safe_name(const char *s)
{
    if (!*s || strlen(s) >= 32 || isdigit((unsigned char)*s))
        return 0;
    for (; *s; s++)
        if (!(isupper((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_'))
            return 0;
    return 1;
}

static void make_options(sg2_tune_result *r)
{
    size_t len = 0;
    r->options[0] = '\0';
    for (int i = 0; i < r->n_params; i++)
        len += (size_t)snprintf(r->options + len, sizeof r->options - len, "%s-D%s=%d", i ? " " : "", r->names[i],
                                r->values[i]);
}

/* The index slot of key, or the empty slot where it would go. */
static int *index_slot(const char *key)
{
    unsigned mask = (unsigned)table.index_cap - 1;
    for (unsigned i = sg2_fnv_str(SG2_FNV_BASIS, key) & mask;; i = (i + 1) & mask)
        if (!table.index[i] || strcmp(table.e[table.index[i] - 1].key, key) == 0)
            return &table.index[i];
}

static sg2_tune_result *find(const char *key)
{
    if (!table.index_cap)
        return NULL;
    int at = *index_slot(key);
    return at ? &table.e[at - 1] : NULL;
}

/* Room in the index for one more entry: 0, or -1 out of memory (as the
 * runtime's kernel index). */
static int index_reserve(void)
{
    if (2 * (table.n + 1) <= table.index_cap)
        return 0;
    int cap = table.index_cap ? table.index_cap * 2 : 16;
    int *index = calloc((size_t)cap, sizeof *index);
    if (!index)
        return -1;
    free(table.index);
    table.index = index;
    table.index_cap = cap;
    for (int i = 0; i < table.n; i++)
        *index_slot(table.e[i].key) = i + 1;
    return 0;
}

/* Insert or replace the entry of r->key. */
static int put(const sg2_tune_result *r)
{
    sg2_tune_result *old = find(r->key);
    if (old) {
        *old = *r;
        return 1;
    }
    if (table.n == table.cap) {
        int c = table.cap ? table.cap * 2 : 32;
        sg2_tune_result *g = realloc(table.e, (size_t)c * sizeof *g);
        if (!g)
            return 0;
        table.e = g;
        table.cap = c;
    }
    if (index_reserve())
        return 0;
    table.e[table.n++] = *r;
    *index_slot(r->key) = table.n;
    return 1;
}

void sg2_tuner_reset(void)
{
    free(table.e);
    free(table.index);
    memset(&table, 0, sizeof table);
}

/* One entry {"defines": {NAME: int}, "default_us": x, "tuned_us": y}; 0 if malformed. */
static int parse_entry(const char *key, json_t *v, sg2_tune_result *r)
{
    memset(r, 0, sizeof *r);
    json_t *defs = json_object_get(v, "defines");
    json_t *du = json_object_get(v, "default_us"), *tu = json_object_get(v, "tuned_us");
    if (strlen(key) >= sizeof r->key || !json_is_object(defs) || !json_is_number(du) || !json_is_number(tu) ||
        json_object_size(defs) > SG2_TUNE_MAX_PARAMS)
        return 0;
    snprintf(r->key, sizeof r->key, "%s", key);
    const char *name;
    json_t *val;
    json_object_foreach(defs, name, val) {
        if (!safe_name(name) || !json_is_integer(val) || json_integer_value(val) < INT32_MIN ||
            json_integer_value(val) > INT32_MAX)
            return 0;
        snprintf(r->names[r->n_params], sizeof r->names[0], "%s", name);
        r->values[r->n_params++] = (int)json_integer_value(val);
    }
    r->default_us = json_number_value(du);
    r->tuned_us = json_number_value(tu);
    make_options(r);
    return 1;
}

/* Read the device's cache file into the table. A missing file is an empty
 * cache; a damaged one is reported in one line and ignored (defaults). */
static void load(const sg2_device_info *dev)
{
    char fp[17], path[1100];
    fingerprint(dev, fp);
    if (strcmp(fp, table.fingerprint) == 0)
        return;
    sg2_tuner_reset();
    snprintf(table.fingerprint, sizeof table.fingerprint, "%s", fp);
    if (!sg2_tuner_cache_path(dev, path, sizeof path) || access(path, F_OK) != 0)
        return;
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    json_t *entries = root ? json_object_get(root, "entries") : NULL;
    json_t *format = root ? json_object_get(root, "format") : NULL;
    const char *why = !root ? jerr.text
                      : !json_is_integer(format) || json_integer_value(format) != TUNE_FORMAT ? "unknown format"
                      : !json_is_object(entries) ? "no \"entries\" object" : NULL;
    const char *key;
    json_t *v;
    if (!why) {
        json_object_foreach(entries, key, v) {
            sg2_tune_result r;
            if (!parse_entry(key, v, &r)) {
                why = "malformed entry";
                break;
            }
            put(&r);
        }
    }
    if (why) {
        fprintf(stderr, "stylegan2-cl: warning: ignoring damaged tuning cache %s (%s); using kernel defaults\n", path,
                why);
        free(table.e);
        free(table.index);
        table.e = NULL;
        table.index = NULL;
        table.n = table.cap = table.index_cap = 0;
    }
    json_decref(root);
}

int sg2_tuner_get(const sg2_device_info *dev, const char *key, sg2_tune_result *out)
{
    load(dev);
    const sg2_tune_result *r = find(key);
    if (r && out)
        *out = *r;
    return r != NULL;
}

int sg2_tuner_lookup(const sg2_device_info *dev, const char *key, char *options, size_t cap)
{
    sg2_tune_result r;
    if (!sg2_tuner_enabled() || !sg2_tuner_get(dev, key, &r))
        return 0;
    snprintf(options, cap, "%s", r.options);
    return 1;
}

static int mkdirs(const char *dir)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
                return 0;
            *p = '/';
        }
    return mkdir(tmp, 0755) == 0 || errno == EEXIST;
}

static json_t *to_json(const sg2_device_info *dev)
{
    json_t *entries = json_object();
    for (int i = 0; i < table.n; i++) {
        const sg2_tune_result *r = &table.e[i];
        json_t *defs = json_object();
        for (int j = 0; j < r->n_params; j++)
            json_object_set_new(defs, r->names[j], json_integer(r->values[j]));
        json_object_set_new(entries, r->key,
                            json_pack("{s:o, s:f, s:f}", "defines", defs, "default_us", r->default_us, "tuned_us",
                                      r->tuned_us));
    }
    return json_pack("{s:i, s:s, s:s, s:s, s:o}", "format", TUNE_FORMAT, "platform", dev->platform_name, "device",
                     dev->name, "driver", dev->driver_version, "entries", entries);
}

sg2_status sg2_tuner_save(const sg2_device_info *dev, sg2_error *err)
{
    char dir[1024], path[1100], tmp[1200];
    load(dev);
    if (!cache_dir(dir, sizeof dir) || !sg2_tuner_cache_path(dev, path, sizeof path))
        return sg2_error_set(err, SG2_ERR_IO, "tuning cache: no directory (set SG2_CACHE_DIR or HOME)");
    if (!mkdirs(dir))
        return sg2_error_set(err, SG2_ERR_IO, "tuning cache: cannot create %s: %s", dir, strerror(errno));
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    json_t *root = to_json(dev);
    int rc = root ? json_dump_file(root, tmp, JSON_INDENT(1)) : -1;
    json_decref(root);
    if (rc != 0 || rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        return sg2_error_set(err, SG2_ERR_IO, "tuning cache: cannot write %s: %s", path, strerror(e));
    }
    return SG2_OK;
}

int sg2_tune_option_value(const char *options, const char *name, int dflt)
{
    size_t n = strlen(name);
    for (const char *p = options ? strstr(options, "-D") : NULL; p; p = strstr(p + 2, "-D"))
        if (strncmp(p + 2, name, n) == 0 && p[2 + n] == '=')
            return atoi(p + 3 + n);
    return dflt;
}

void sg2_tune_clamp_local(size_t *local, int ndim, size_t max_wg)
{
    if (max_wg < 1)
        max_wg = 1;
    for (;;) {
        size_t prod = 1;
        int big = 0;
        for (int i = 0; i < ndim; i++) {
            prod *= local[i];
            if (local[i] > local[big])
                big = i;
        }
        if (prod <= max_wg)
            return;
        local[big] = (local[big] + 1) / 2;
    }
}

/* ---- search ------------------------------------------------------------- */

/* One launch, timed with the queue drained before and after (wall time:
 * the runtime's queue has profiling only under $SG2_PROFILE). */
static sg2_status time_once(sg2_runtime *rt, const sg2_tune_workload *w, const char *opts, double *us, sg2_error *err)
{
    sg2_status st = sg2_runtime_finish(rt, err);
    double t0 = now_seconds();
    if (!st)
        st = w->launch(w->user, opts, err);
    if (!st)
        st = sg2_runtime_finish(rt, err);
    *us = (now_seconds() - t0) * 1e6;
    return st;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static sg2_status time_median(sg2_runtime *rt, const sg2_tune_workload *w, const char *opts, double *us,
                              sg2_error *err)
{
    double t[TIMING_REPS];
    int reps = TIMING_REPS;
    for (int i = 0; i < reps; i++) {
        sg2_status st = time_once(rt, w, opts, &t[i], err);
        if (st)
            return st;
        if (i == 0 && t[0] > SLOW_US)
            reps = 3;
    }
    *us = median(t, reps);
    return SG2_OK;
}

/* Launch once (building the program) and read the output into out. */
static sg2_status run_and_read(sg2_runtime *rt, const sg2_tune_workload *w, const char *opts, float *out,
                               sg2_error *err)
{
    sg2_status st = w->launch(w->user, opts, err);
    if (!st)
        st = sg2_runtime_finish(rt, err);
    if (!st)
        st = w->read(w->user, out, err);
    return st;
}

/* 1 when got matches ref under the suite's tolerance; NaN must match NaN. */
static int outputs_agree(const float *got, const float *ref, size_t n)
{
    double scale = 1.0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(ref[i]) && fabs(ref[i]) > scale)
            scale = fabs(ref[i]);
    for (size_t i = 0; i < n; i++) {
        if (isnan(ref[i]) || isnan(got[i])) {
            if (isnan(ref[i]) != isnan(got[i]))
                return 0;
            continue;
        }
        if (!(fabs((double)got[i] - ref[i]) <= OUT_ATOL * scale + OUT_RTOL * fabs(ref[i])))
            return 0;
    }
    return 1;
}

/* Values of combination idx (mixed radix over the parameters). */
static void decode(const sg2_tune_space *s, uint64_t idx, int *values)
{
    for (int i = 0; i < s->n_params; i++) {
        values[i] = s->params[i].values[idx % (uint64_t)s->params[i].n];
        idx /= (uint64_t)s->params[i].n;
    }
}

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Candidate order: every non-default combination shuffled when the space
 * is small; otherwise random draws. Returns the count, *order malloc'd. */
static int candidate_order(const sg2_tune_space *s, uint64_t **order)
{
    uint64_t total = 1, seed = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < s->n_params; i++)
        total *= (uint64_t)(s->params[i].n > 0 ? s->params[i].n : 1);
    int n = total - 1 <= ENUM_LIMIT ? (int)(total - 1) : ENUM_LIMIT;
    *order = malloc((size_t)(n > 0 ? n : 1) * sizeof **order);
    if (!*order)
        return 0;
    for (int i = 0; i < n; i++)
        (*order)[i] = total - 1 <= ENUM_LIMIT ? (uint64_t)i + 1 : 1 + xorshift(&seed) % (total - 1);
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(xorshift(&seed) % (uint64_t)(i + 1));
        uint64_t t = (*order)[i];
        (*order)[i] = (*order)[j];
        (*order)[j] = t;
    }
    return n;
}

static void set_result_values(sg2_tune_result *r, const sg2_tune_space *s, const int *values)
{
    r->n_params = values ? s->n_params : 0;
    for (int i = 0; i < r->n_params; i++) {
        snprintf(r->names[i], sizeof r->names[i], "%s", s->params[i].name);
        r->values[i] = values[i];
    }
    make_options(r);
}

/* Default and best timed in alternation, so load from other processes
 * hits both alike; the medians are what the table reports. */
static sg2_status ab_compare(sg2_runtime *rt, const sg2_tune_workload *w, const char *best, double *def_us,
                             double *best_us, sg2_error *err)
{
    double a[AB_ROUNDS], b[AB_ROUNDS];
    int rounds = AB_ROUNDS;
    for (int i = 0; i < rounds; i++) {
        sg2_status st = time_once(rt, w, "", &a[i], err);
        if (!st)
            st = time_once(rt, w, best, &b[i], err);
        if (st)
            return st;
        if (i == 0 && a[0] > SLOW_US)
            rounds = 5;
    }
    *def_us = median(a, rounds);
    *best_us = median(b, rounds);
    return SG2_OK;
}

/* Try one candidate: build, validate against ref, time. Returns 1 when it
 * was timed (*us set), 0 when rejected or failed (counted in res). */
static int try_candidate(sg2_runtime *rt, const sg2_tune_workload *w, const char *opts, const float *ref,
                         float *out, double *us, sg2_tune_result *res)
{
    sg2_error cerr = {0};
    if (run_and_read(rt, w, opts, out, &cerr)) {
        res->failed++;
        return 0;
    }
    if (!outputs_agree(out, ref, w->n_out)) {
        res->rejected++;
        return 0;
    }
    if (time_median(rt, w, opts, us, &cerr)) {
        res->failed++;
        return 0;
    }
    res->tried++;
    return 1;
}

sg2_status sg2_tuner_search(sg2_runtime *rt, const char *key, const sg2_tune_space *space, const void *space_user,
                            const sg2_tune_workload *w, double budget_s, sg2_tune_result *res, sg2_error *err)
{
    memset(res, 0, sizeof *res);
    load(&rt->dev); /* the table this result joins */
    if (strlen(key) >= sizeof res->key || space->n_params > SG2_TUNE_MAX_PARAMS)
        return sg2_error_set(err, SG2_ERR_ARG, "tuner: key '%s' too long or too many parameters", key);
    snprintf(res->key, sizeof res->key, "%s", key);
    float *ref = malloc((w->n_out ? w->n_out : 1) * sizeof *ref), *out = malloc((w->n_out ? w->n_out : 1) * sizeof *out);
    uint64_t *order = NULL;
    int n_cand = candidate_order(space, &order);
    sg2_status st = (!ref || !out || !order) ? sg2_error_set(err, SG2_ERR_NOMEM, "tuner: out of host memory") : SG2_OK;
    double t0 = now_seconds(), best_us = 0;
    if (!st)
        st = run_and_read(rt, w, "", ref, err);
    if (!st)
        st = time_median(rt, w, "", &best_us, err);
    int best_values[SG2_TUNE_MAX_PARAMS], have_best = 0, values[SG2_TUNE_MAX_PARAMS];
    for (int c = 0; !st && c < n_cand && now_seconds() - t0 < budget_s; c++) {
        decode(space, order[c], values);
        if (space->valid && !space->valid(values, space_user))
            continue;
        sg2_tune_result cand = {0};
        set_result_values(&cand, space, values);
        double us;
        if (!try_candidate(rt, w, cand.options, ref, out, &us, res) || us >= best_us)
            continue;
        best_us = us;
        memcpy(best_values, values, sizeof values);
        have_best = 1;
    }
    set_result_values(res, space, have_best ? best_values : NULL);
    double def_us = best_us;
    if (!st && have_best)
        st = ab_compare(rt, w, res->options, &def_us, &best_us, err);
    if (!st && have_best && best_us > MIN_GAIN * def_us) {
        set_result_values(res, space, NULL); /* not clearly faster: keep the defaults */
        best_us = def_us;
    }
    res->default_us = def_us;
    res->tuned_us = best_us;
    free(ref);
    free(out);
    free(order);
    if (st)
        return st;
    if (!put(res))
        return sg2_error_set(err, SG2_ERR_NOMEM, "tuner: out of host memory");
    return SG2_OK;
}
