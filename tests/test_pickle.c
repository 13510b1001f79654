/* pickle: the opcode machine on every value kind and on hand-made opcode
 * streams, torch tensors and numpy arrays of several element types and
 * layouts (pickle protocols 2, 4, 5), a fake stylegan2-ada-pytorch snapshot
 * and a fake TensorFlow StyleGAN2 pickle against the names, shapes and exact
 * checksums written by tests/vectors/make_pkl.py, and hostile input:
 * truncation, unknown opcodes, wrong classes, os.system, random corruption.
 * No OpenCL is used. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/pkl_model.h"
#include "tests/test_util.h"

#ifndef SG2_TEST_VECTORS
#define SG2_TEST_VECTORS "tests/vectors"
#endif

static const char *vec(const char *name)
{
    static char path[4][1024];
    static int slot;
    char *p = path[slot++ % 4];
    snprintf(p, sizeof path[0], "%s/%s", SG2_TEST_VECTORS, name);
    return p;
}

static void *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc((size_t)n + 1);
    ck_assert(buf && fread(buf, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return buf;
}

static void write_all(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    ck_assert(fwrite(data, 1, size, f) == size);
    fclose(f);
}

/* ---- expectations: "<net> <name> <ndim> <dims...> <sum> <wsum>" ---- */

typedef struct expect {
    char net[16], name[256];
    int ndim;
    int64_t shape[SG2_PKL_MAX_DIMS];
    double sum, wsum;
} expect;

static int load_expect(const char *file, const char *net, expect *out, int cap)
{
    FILE *f = fopen(vec(file), "r");
    ck_assert_msg(f != NULL, "cannot open %s", file);
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#')
            continue;
        expect e = {0};
        char *p = line, *end;
        int used;
        ck_assert(sscanf(p, "%15s %255s %d%n", e.net, e.name, &e.ndim, &used) == 3);
        p += used;
        for (int d = 0; d < e.ndim; d++)
            e.shape[d] = strtoll(p, &p, 10);
        e.sum = strtod(p, &end);
        e.wsum = strtod(end, &p);
        ck_assert_msg(p != end, "bad line in %s: %s", file, line);
        if (!strcmp(e.net, net)) {
            ck_assert(n < cap);
            out[n++] = e;
        }
    }
    fclose(f);
    ck_assert_msg(n > 0, "no expectations for %s in %s", net, file);
    return n;
}

/* Same sums as make_pkl.py: in order, in double precision, so they match exactly. */
static void check_array(const sg2_pkl_array *a, const expect *e)
{
    ck_assert_msg(a->ndim == e->ndim, "%s: ndim %d, expected %d", e->name, a->ndim, e->ndim);
    size_t numel = 1;
    for (int d = 0; d < e->ndim; d++) {
        ck_assert_msg(a->shape[d] == e->shape[d], "%s: dim %d is %lld, expected %lld", e->name, d,
                      (long long)a->shape[d], (long long)e->shape[d]);
        numel *= (size_t)e->shape[d];
    }
    ck_assert_uint_eq(a->numel, numel);
    double s = 0, w = 0;
    for (size_t i = 0; i < a->numel; i++) {
        s += (double)a->data[i];
        w += (double)a->data[i] * (double)(i % 13 + 1);
    }
    ck_assert_msg(s == e->sum && w == e->wsum, "%s: sums %.17g %.17g, expected %.17g %.17g", e->name, s, w, e->sum,
                  e->wsum);
}

static void check_net(sg2_pkl *doc, const char *which, const char *file, const char *expect_net)
{
    static expect ex[256];
    int n = load_expect(file, expect_net, ex, 256);
    sg2_pkl_net net;
    sg2_error err = {0};
    ck_assert_msg(sg2_pkl_net_from_doc(&net, doc, which, &err) == SG2_OK, "%s: %s", which, err.msg);
    ck_assert_msg(net.count == (size_t)n, "%s: %zu tensors, expected %d", which, net.count, n);
    for (int i = 0; i < n; i++) {
        ck_assert_msg(!strcmp(net.tensors[i].name, ex[i].name), "%s: tensor %d is %s, expected %s", which, i,
                      net.tensors[i].name, ex[i].name);
        check_array(&net.tensors[i].array, &ex[i]);
    }
    sg2_pkl_net_free(&net);
}

static sg2_pkl *load_ok(const char *name)
{
    sg2_pkl *doc;
    sg2_error err = {0};
    ck_assert_msg(sg2_pkl_load(&doc, vec(name), &err) == SG2_OK, "%s", err.msg);
    return doc;
}

static int64_t kw_int(const sg2_pkl_net *net, const char *path)
{
    int64_t v;
    ck_assert_msg(sg2_pkl_as_int(sg2_pkl_net_kwarg(net, path), &v), "kwarg %s missing", path);
    return v;
}

/* ---- stylegan2-ada-pytorch snapshot ---- */

static void check_ada(const char *file)
{
    sg2_pkl *doc = load_ok(file);
    ck_assert_int_eq(sg2_pkl_detect(doc), SG2_PKL_FORMAT_TORCH);
    check_net(doc, "G", "tiny_ada.txt", "G");
    check_net(doc, "D", "tiny_ada.txt", "D"); /* without the non-persistent buffer b8.scratch */
    check_net(doc, "G_ema", "tiny_ada.txt", "G_ema");
    check_net(doc, NULL, "tiny_ada.txt", "G_ema");
    sg2_pkl_free(doc);
}

START_TEST(test_pickle_ada_tensors_p4) { check_ada("tiny_ada.pkl"); }
END_TEST
START_TEST(test_pickle_ada_tensors_p3) { check_ada("tiny_ada_p3.pkl"); }
END_TEST

START_TEST(test_pickle_ada_kwargs)
{
    sg2_pkl_net net;
    sg2_error err = {0};
    ck_assert_msg(sg2_pkl_net_load(&net, vec("tiny_ada.pkl"), "G_ema", &err) == SG2_OK, "%s", err.msg);
    ck_assert_int_eq(net.format, SG2_PKL_FORMAT_TORCH);
    ck_assert_str_eq(net.class_name, "Generator");
    ck_assert_int_eq(net.version, 6);
    ck_assert_int_eq(kw_int(&net, "z_dim"), 4);
    ck_assert_int_eq(kw_int(&net, "c_dim"), 0);
    ck_assert_int_eq(kw_int(&net, "w_dim"), 4);
    ck_assert_int_eq(kw_int(&net, "img_resolution"), 8);
    ck_assert_int_eq(kw_int(&net, "img_channels"), 3);
    ck_assert_int_eq(kw_int(&net, "mapping_kwargs.num_layers"), 2); /* an EasyDict */
    ck_assert_int_eq(kw_int(&net, "synthesis_kwargs.channel_base"), 16);
    ck_assert_int_eq(kw_int(&net, "synthesis_kwargs.channel_max"), 4);
    ck_assert_int_eq(kw_int(&net, "synthesis_kwargs.num_fp16_res"), 0);
    ck_assert_int_eq(sg2_pkl_net_kwarg(&net, "synthesis_kwargs.conv_clamp")->kind, SG2_PKL_NONE);
    ck_assert_str_eq(sg2_pkl_as_str(sg2_pkl_net_kwarg(&net, "synthesis_kwargs.architecture")), "skip");
    ck_assert_ptr_null(sg2_pkl_net_kwarg(&net, "synthesis_kwargs.nope"));
    ck_assert_int_eq(sg2_pkl_net_find(&net, "mapping.w_avg")->is_buffer, 1);
    ck_assert_int_eq(sg2_pkl_net_find(&net, "mapping.fc0.weight")->is_buffer, 0);
    ck_assert_ptr_null(sg2_pkl_net_find(&net, "mapping.fc9.weight"));

    /* Other parts of the snapshot, through the generic tree. */
    const sg2_pkl_node *root = sg2_pkl_root(net.doc);
    int64_t res;
    ck_assert(sg2_pkl_as_int(sg2_pkl_lookup(root, "training_set_kwargs.resolution"), &res) && res == 8);
    ck_assert_int_eq(sg2_pkl_get(root, "augment_pipe")->kind, SG2_PKL_NONE);
    /* weight_gain is a numpy.float64 scalar inside a module's state. */
    const sg2_pkl_node *g = sg2_pkl_get(root, "G_ema");
    ck_assert(sg2_pkl_is_call(g, "torch_utils.persistence", "_reconstruct_persistent_obj"));
    const sg2_pkl_node *map = sg2_pkl_lookup(g->args->items[0], "state._modules.mapping");
    const sg2_pkl_node *fc0 = sg2_pkl_lookup(map->args->items[0], "state._modules.fc0");
    double gain;
    ck_assert(sg2_pkl_as_double(sg2_pkl_lookup(fc0->args->items[0], "state.weight_gain"), &gain));
    ck_assert(gain == 0.01 / 2.0);
    sg2_pkl_net_free(&net);

    /* augment_pipe is None, not a network. */
    sg2_pkl *doc = load_ok("tiny_ada.pkl");
    ck_assert_int_eq(sg2_pkl_net_from_doc(&net, doc, "augment_pipe", &err), SG2_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "augment_pipe") && strstr(err.msg, "None"), "%s", err.msg);
    sg2_pkl_free(doc);
}
END_TEST

/* ---- TensorFlow pickle ---- */

START_TEST(test_pickle_tf)
{
    sg2_pkl *doc = load_ok("tiny_tf.pkl");
    ck_assert_int_eq(sg2_pkl_detect(doc), SG2_PKL_FORMAT_TF);
    check_net(doc, "G", "tiny_tf.txt", "G");
    check_net(doc, "D", "tiny_tf.txt", "D");
    check_net(doc, "Gs", "tiny_tf.txt", "Gs");
    check_net(doc, "G_ema", "tiny_tf.txt", "Gs");
    check_net(doc, NULL, "tiny_tf.txt", "Gs");

    sg2_pkl_net net;
    sg2_error err = {0};
    ck_assert_int_eq(sg2_pkl_net_from_doc(&net, doc, "G", &err), SG2_OK);
    ck_assert_int_eq(net.format, SG2_PKL_FORMAT_TF);
    ck_assert_str_eq(net.class_name, "G");
    ck_assert_int_eq(net.version, 4);
    ck_assert_int_eq(kw_int(&net, "latent_size"), 4);
    ck_assert_int_eq(kw_int(&net, "fmap_base"), 8);
    ck_assert_str_eq(sg2_pkl_as_str(sg2_pkl_net_kwarg(&net, "architecture")), "skip");
    const sg2_pkl_node *k = sg2_pkl_net_kwarg(&net, "resample_kernel");
    ck_assert(k->kind == SG2_PKL_LIST && k->count == 4 && k->items[1]->ival == 3);
    double psi;
    ck_assert(sg2_pkl_as_double(sg2_pkl_net_kwarg(&net, "truncation_psi"), &psi) && psi == 0.5);
    /* TF layout kept: HWIO kernels, a 0-d noise strength. */
    const sg2_pkl_tensor *w = sg2_pkl_net_find(&net, "synthesis/4x4/Conv/weight");
    ck_assert(w && w->array.ndim == 4 && w->array.shape[0] == 3 && w->array.shape[3] == 4);
    const sg2_pkl_tensor *ns = sg2_pkl_net_find(&net, "synthesis/4x4/Conv/noise_strength");
    ck_assert(ns && ns->array.ndim == 0 && ns->array.numel == 1 && ns->array.data[0] == 0.25f);
    sg2_pkl_net_free(&net);

    ck_assert_int_eq(sg2_pkl_net_from_doc(&net, doc, "E", &err), SG2_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "tiny_tf.pkl") && strstr(err.msg, "E:"), "%s", err.msg);
    sg2_pkl_free(doc);
}
END_TEST

/* ---- tensors and arrays of several types, protocols 2, 4, 5 ---- */

static void check_dtypes(const char *file)
{
    static expect ex[64];
    int n = load_expect("tiny_dtypes.txt", "-", ex, 64);
    sg2_pkl *doc = load_ok(file);
    const sg2_pkl_node *root = sg2_pkl_root(doc);
    for (int i = 0; i < n; i++) {
        const sg2_pkl_node *node = sg2_pkl_get(root, ex[i].name);
        ck_assert_msg(node != NULL, "%s: no key %s", file, ex[i].name);
        sg2_pkl_array a;
        sg2_error err = {0};
        int torch = sg2_pkl_is_torch_tensor(node);
        ck_assert_msg(torch || sg2_pkl_is_numpy_array(node), "%s: %s is neither", file, ex[i].name);
        sg2_status s = torch ? sg2_pkl_torch_tensor(&a, doc, node, ex[i].name, &err)
                             : sg2_pkl_numpy_array(&a, doc, node, ex[i].name, &err);
        ck_assert_msg(s == SG2_OK, "%s: %s", file, err.msg);
        check_array(&a, &ex[i]);
        const char *want = !strcmp(ex[i].name, "f16") || !strcmp(ex[i].name, "np_f16") ? "float16"
                           : !strcmp(ex[i].name, "f64") || !strcmp(ex[i].name, "np_f64_scalar") ? "float64"
                           : !strcmp(ex[i].name, "i64") || !strcmp(ex[i].name, "np_i64") ? "int64"
                           : !strcmp(ex[i].name, "u8") ? "uint8" : "float32";
        ck_assert_msg(!strcmp(a.dtype, want), "%s: %s stored as %s, expected %s", file, ex[i].name, a.dtype, want);
        sg2_pkl_array_free(&a);
    }
    /* A tensor is not a numpy array and vice versa. */
    sg2_pkl_array a;
    sg2_error err = {0};
    ck_assert_int_eq(sg2_pkl_numpy_array(&a, doc, sg2_pkl_get(root, "f32"), "f32", &err), SG2_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "_rebuild_tensor_v2") && strstr(err.msg, "numpy"), "%s", err.msg);
    sg2_error_clear(&err);
    ck_assert_int_eq(sg2_pkl_torch_tensor(&a, doc, sg2_pkl_get(root, "np_f32"), "np_f32", &err), SG2_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "np_f32") && strstr(err.msg, "numpy.core."), "%s", err.msg);
    sg2_pkl_free(doc);
}

START_TEST(test_pickle_dtypes_p2) { check_dtypes("tiny_dtypes_p2.pkl"); }
END_TEST
START_TEST(test_pickle_dtypes_p4) { check_dtypes("tiny_dtypes_p4.pkl"); }
END_TEST
START_TEST(test_pickle_dtypes_p5) { check_dtypes("tiny_dtypes_p5.pkl"); }
END_TEST

/* A corrupted magic number inside a storage blob is reported with its place. */
START_TEST(test_pickle_bad_storage_blob)
{
    size_t size;
    uint8_t *buf = read_all(vec("tiny_dtypes_p4.pkl"), &size);
    static const uint8_t magic[] = {0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46};
    uint8_t *p = NULL;
    for (size_t i = 0; !p && i + sizeof magic <= size; i++)
        if (!memcmp(buf + i, magic, sizeof magic))
            p = buf + i;
    ck_assert(p != NULL);
    p[2] ^= 0x01;
    sg2_pkl *doc;
    sg2_error err = {0};
    ck_assert_int_eq(sg2_pkl_load_mem(&doc, buf, size, "corrupt.pkl", &err), SG2_OK);
    sg2_pkl_array a;
    ck_assert_int_eq(sg2_pkl_torch_tensor(&a, doc, sg2_pkl_get(sg2_pkl_root(doc), "f32"), "tensor 'f32'", &err),
                     SG2_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "corrupt.pkl") && strstr(err.msg, "storage of tensor 'f32'") &&
                      strstr(err.msg, "magic"), "%s", err.msg);
    sg2_pkl_free(doc);
    free(buf);
}
END_TEST

/* ---- plain values ---- */

START_TEST(test_pickle_values)
{
    sg2_pkl *doc = load_ok("tiny_values.pkl");
    const sg2_pkl_node *r = sg2_pkl_root(doc), *n;
    int64_t i;
    ck_assert(sg2_pkl_as_int(sg2_pkl_get(r, "small"), &i) && i == 5);
    ck_assert(sg2_pkl_as_int(sg2_pkl_get(r, "neg"), &i) && i == -7);
    ck_assert(sg2_pkl_as_int(sg2_pkl_get(r, "i16"), &i) && i == 40000);
    ck_assert(sg2_pkl_as_int(sg2_pkl_get(r, "i32"), &i) && i == -2147483648LL);
    ck_assert(sg2_pkl_as_int(sg2_pkl_get(r, "i64"), &i) && i == (INT64_C(1) << 62) + 3);
    ck_assert(sg2_pkl_as_int(sg2_pkl_get(r, "neg64"), &i) && i == INT64_MIN);
    n = sg2_pkl_get(r, "big"); /* 2^70 + 1 */
    ck_assert(n->kind == SG2_PKL_BIGINT && n->len == 9 && n->bytes[0] == 1 && n->bytes[8] == 0x40);
    ck_assert(!sg2_pkl_as_int(n, &i));
    ck_assert(sg2_pkl_get(r, "flt")->kind == SG2_PKL_FLOAT && sg2_pkl_get(r, "flt")->fval == -0.3125);
    ck_assert_str_eq(sg2_pkl_as_str(sg2_pkl_get(r, "text")), "h\xc3\xa9llo");
    n = sg2_pkl_get(r, "raw");
    ck_assert(n->kind == SG2_PKL_BYTES && n->len == 3 && n->bytes[2] == 0xff && n->ival == 0);
    n = sg2_pkl_get(r, "arr");
    ck_assert(n->kind == SG2_PKL_BYTES && n->ival == 1 && n->len == 3 && !memcmp(n->bytes, "xyz", 3));
    n = sg2_pkl_get(r, "tup");
    ck_assert(n->kind == SG2_PKL_TUPLE && n->count == 3 && n->items[2]->kind == SG2_PKL_NONE);
    ck_assert_str_eq(n->items[1]->str, "a");
    n = sg2_pkl_get(r, "lst");
    ck_assert(n->kind == SG2_PKL_LIST && n->count == 3 && n->items[0]->kind == SG2_PKL_BOOL && n->items[0]->ival == 1);
    ck_assert(n->items[1]->ival == 0 && n->items[2]->fval == 2.5);
    n = sg2_pkl_get(r, "st");
    ck_assert(n->kind == SG2_PKL_SET && n->ival == 0 && n->count == 1 && n->items[0]->ival == 7);
    n = sg2_pkl_get(r, "fst");
    ck_assert(n->kind == SG2_PKL_SET && n->ival == 1 && n->count == 1 && n->items[0]->ival == 8);
    n = sg2_pkl_lookup(r, "nested.a.b");
    ck_assert(n->kind == SG2_PKL_LIST && n->count == 2 && n->items[0] == n->items[1]); /* one shared list */
    ck_assert(n->items[0]->count == 2 && n->items[0]->items[1]->ival == 2);
    ck_assert(sg2_pkl_get(r, "empty")->kind == SG2_PKL_TUPLE && sg2_pkl_get(r, "empty")->count == 0);
    ck_assert_ptr_null(sg2_pkl_get(r, "missing"));
    ck_assert_int_eq(sg2_pkl_detect(doc), SG2_PKL_FORMAT_UNKNOWN);
    sg2_pkl_net net;
    sg2_error err = {0};
    ck_assert_int_eq(sg2_pkl_net_from_doc(&net, doc, NULL, &err), SG2_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "tiny_values.pkl") && strstr(err.msg, "G_ema"), "%s", err.msg);
    sg2_pkl_free(doc);
}
END_TEST

/* ---- hand-made opcode streams ---- */

static sg2_pkl *mem_ok(const char *data, size_t size)
{
    sg2_pkl *doc;
    sg2_error err = {0};
    ck_assert_msg(sg2_pkl_load_mem(&doc, data, size, "mem.pkl", &err) == SG2_OK, "%s", err.msg);
    return doc;
}

START_TEST(test_pickle_opcodes)
{
    /* Protocol 0/1 text opcodes, POP, LONG4, BINBYTES8, BINUNICODE8, DUP/POP/POP_MARK, NEWOBJ_EX, BINPERSID, INST, OBJ. */
    static const char s[] =
        "\x80\x02(" "I00\n" "I42\n" "L-12L\n" "F0.5\n" "N0" "\x8b\x02\x00\x00\x00\xff\x7f" /* LONG4 32767 */
        "\x8e\x02\x00\x00\x00\x00\x00\x00\x00hi" "\x8d\x01\x00\x00\x00\x00\x00\x00\x00z"
        "p7\n" "g7\n" "(N1" "K\x09" "2"
        "cm\nC\n)}\x8c\x01k\x8c\x01v\x73\x92" /* NEWOBJ_EX(m.C, (), {k: v}) */
        "\x8c\x03pid\x51"                     /* BINPERSID 'pid' */
        "(K\x01im\nF\n" "(cm\nG\nK\x02o"    /* INST m.F(1), OBJ m.G(2) */
        "\x8f(K\x03\x90"                      /* set {3} */
        "t.";
    sg2_pkl *doc = mem_ok(s, sizeof s - 1);
    const sg2_pkl_node *t = sg2_pkl_root(doc);
    ck_assert_int_eq(t->kind, SG2_PKL_TUPLE);
    ck_assert_uint_eq(t->count, 15);
    ck_assert(t->items[0]->kind == SG2_PKL_BOOL && t->items[0]->ival == 0);
    ck_assert(t->items[1]->kind == SG2_PKL_INT && t->items[1]->ival == 42);
    ck_assert(t->items[2]->ival == -12 && t->items[3]->fval == 0.5 && t->items[4]->ival == 32767);
    ck_assert(t->items[5]->kind == SG2_PKL_BYTES && t->items[5]->len == 2 && !memcmp(t->items[5]->bytes, "hi", 2));
    ck_assert_str_eq(t->items[6]->str, "z");
    ck_assert(t->items[7] == t->items[6]); /* PUT 7, POP, GET 7 */
    ck_assert(t->items[8]->ival == 9 && t->items[9] == t->items[8]); /* POP_MARK dropped None 1; DUP */
    const sg2_pkl_node *o = t->items[10];
    ck_assert(sg2_pkl_is_call(o, "m", "C") && o->args->count == 0 && sg2_pkl_get(o->kwargs, "k"));
    ck_assert(t->items[11]->kind == SG2_PKL_PERSID && !strcmp(t->items[11]->args->str, "pid"));
    ck_assert(sg2_pkl_is_call(t->items[12], "m", "F") && t->items[12]->args->items[0]->ival == 1);
    ck_assert(sg2_pkl_is_call(t->items[13], "m", "G") && t->items[13]->args->items[0]->ival == 2);
    ck_assert(t->items[14]->kind == SG2_PKL_SET && t->items[14]->count == 1 && t->items[14]->items[0]->ival == 3);
    sg2_pkl_free(doc);
}
END_TEST

typedef struct bad_case {
    const char *data;
    size_t size;
    const char *want; /* a piece of the message */
} bad_case;

#define BAD(s, w) {s, sizeof s - 1, w}

START_TEST(test_pickle_bad_streams)
{
    static const bad_case cases[] = {
        BAD("", "empty"),
        BAD("\x80\x04\xff.", "byte 2: opcode 0xff (unknown)"),
        BAD("\x80\x06N.", "unsupported protocol 6"),
        BAD("\x80\x04.", "stack underflow"),
        BAD("\x80\x04(.", "stack underflow"),
        BAD("\x80\x02h\x05.", "memo key 5 is not defined"),
        BAD("\x80\x02K\x01r\xff\xff\xff\x7f.", "memo key 2147483647 out of range"),
        BAD("\x80\x02(K\x01" "d.", "odd number of items"),
        BAD("\x80\x02\x82\x07.", "opcode 0x82 (EXT1): extension registry code 7"),
        BAD("\x80\x05\x97.", "out-of-band"),
        BAD("\x80\x04\x8e\x00\x00\x00\x00\x00\x00\x00\x40.", "truncated"),
        BAD("\x80\x04\x95\x00\x00\x00\x00\x01\x00\x00\x00N.", "frame"),
        BAD("\x80\x02K\x01K\x02\x62.", "BUILD on a int"),
        BAD("\x80\x02K\x01)\x52.", "byte 5: opcode 0x52 (REDUCE): calling a int"),
        BAD("\x80\x02" "cm\nf\nK\x02" "R.", "arguments must be a tuple"),
        BAD("\x80\x02K\x01K\x02\x93.", "global module and name must be strings"),
        BAD("\x80\x02" "cos\nsys", "without newline"),
        BAD("\x80\x02S'x'\n.", "protocol 0 text strings"),
        BAD("\x80\x02I1x\n.", "bad integer text"),
        BAD("\x80\x02K\x01", "data ends after opcode 0x4b (BININT1) without STOP"),
        BAD("\x80\x02X\x05\x00\x00\x00" "ab", "truncated: needs 5 more bytes, 2 left"),
        BAD("\x80\x02(K\x01u.", "no object below the MARK"),
        BAD("\x80\x02K\x01(K\x01K\x02u.", "SETITEM on a int"),
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sg2_pkl *doc = NULL;
        sg2_error err = {0};
        sg2_status s = sg2_pkl_load_mem(&doc, cases[i].data, cases[i].size, "bad.pkl", &err);
        ck_assert_msg(s == SG2_ERR_FORMAT, "case %zu: status %d (%s)", i, (int)s, err.msg);
        ck_assert_ptr_null(doc);
        ck_assert_msg(!strncmp(err.msg, "bad.pkl: ", 9) && strstr(err.msg, cases[i].want),
                      "case %zu: message '%s' lacks '%s'", i, err.msg, cases[i].want);
        ck_assert_msg(!strchr(err.msg, '\n'), "case %zu: message is not one line", i);
    }
}
END_TEST

/* ---- files: truncated, unknown opcode, missing ---- */

START_TEST(test_pickle_truncated_file)
{
    /* tiny_ada.pkl is protocol 4 (framed), tiny_tf.pkl protocol 3 (not). */
    static const char *files[] = {"tiny_ada.pkl", "tiny_tf.pkl"};
    char path[64];
    snprintf(path, sizeof path, "/tmp/sg2_test_pickle_%ld.pkl", (long)getpid());
    int tried = 0;
    for (size_t f = 0; f < 2; f++) {
        size_t size;
        uint8_t *buf = read_all(vec(files[f]), &size);
        for (size_t cut = 0; cut < size; cut += (cut < 64 ? 1 : 97), tried++) {
            write_all(path, buf, cut);
            sg2_pkl *doc = NULL;
            sg2_error err = {0};
            sg2_status s = sg2_pkl_load(&doc, path, &err);
            ck_assert_msg(s == SG2_ERR_FORMAT, "%s cut at %zu: status %d", files[f], cut, (int)s);
            ck_assert_msg(!strncmp(err.msg, path, strlen(path)) && strstr(err.msg, ": byte ") &&
                              strstr(err.msg, "truncated"), "%s cut at %zu: %s", files[f], cut, err.msg);
        }
        write_all(path, buf, size - 1); /* only STOP missing */
        sg2_pkl *doc = NULL;
        sg2_error err = {0};
        ck_assert_int_eq(sg2_pkl_load(&doc, path, &err), SG2_ERR_FORMAT);
        ck_assert_msg(strstr(err.msg, f ? "without STOP" : "frame"), "%s", err.msg);
        free(buf);
    }
    unlink(path);
    ck_assert_int_gt(tried, 200);
}
END_TEST

START_TEST(test_pickle_unknown_opcode_file)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/sg2_test_pickle_op_%ld.pkl", (long)getpid());
    write_all(path, "\x80\x04\x95\x03\x00\x00\x00\x00\x00\x00\x00K\x01\xfe.", 15);
    sg2_pkl *doc = NULL;
    sg2_error err = {0};
    ck_assert_int_eq(sg2_pkl_load(&doc, path, &err), SG2_ERR_FORMAT);
    char want[128];
    snprintf(want, sizeof want, "%s: byte 13: opcode 0xfe (unknown): unknown opcode", path);
    ck_assert_str_eq(err.msg, want);
    unlink(path);

    sg2_error_clear(&err);
    ck_assert_int_eq(sg2_pkl_load(&doc, "/nonexistent/x.pkl", &err), SG2_ERR_IO);
    ck_assert_msg(strstr(err.msg, "/nonexistent/x.pkl"), "%s", err.msg);
    sg2_pkl_net net;
    sg2_error_clear(&err);
    ck_assert_int_eq(sg2_pkl_net_load(&net, "/nonexistent/x.pkl", "G", &err), SG2_ERR_IO);
}
END_TEST

/* ---- wrong classes and hostile pickles ---- */

START_TEST(test_pickle_wrong_class)
{
    sg2_pkl *doc = load_ok("tiny_wrongclass.pkl");
    sg2_pkl_net net;
    sg2_error err = {0};
    ck_assert_int_eq(sg2_pkl_net_from_doc(&net, doc, "G_ema", &err), SG2_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "tiny_wrongclass.pkl") && strstr(err.msg, "G_ema") &&
                      strstr(err.msg, "numpy.core.multiarray._reconstruct object"), "%s", err.msg);
    ck_assert_ptr_null(net.tensors);
    sg2_error_clear(&err);
    ck_assert_int_eq(sg2_pkl_net_from_doc(&net, doc, "D", &err), SG2_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "no such key") && strstr(err.msg, "keys: G, G_ema"), "%s", err.msg);
    sg2_error_clear(&err);
    ck_assert_int_eq(sg2_pkl_net_from_doc(&net, doc, "G", &err), SG2_OK); /* the rest is fine */
    ck_assert_str_eq(net.class_name, "Generator");
    ck_assert_int_gt(net.count, 10);
    sg2_pkl_net_free(&net);
    sg2_pkl_free(doc);
}
END_TEST

START_TEST(test_pickle_os_system_inert)
{
    const char *marker = "/tmp/sg2_pickle_pwned";
    unlink(marker);
    sg2_pkl *doc = load_ok("tiny_evil.pkl");
    const sg2_pkl_node *g = sg2_pkl_get(sg2_pkl_root(doc), "G_ema");
    const sg2_pkl_node *w = sg2_pkl_lookup(g->args->items[0], "state._parameters.weight");
    ck_assert(sg2_pkl_is_call(w, "os", "system")); /* recorded, not called */
    ck_assert_str_eq(w->args->items[0]->str, "touch /tmp/sg2_pickle_pwned");
    sg2_pkl_net net;
    sg2_error err = {0};
    ck_assert_int_eq(sg2_pkl_net_from_doc(&net, doc, "G_ema", &err), SG2_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "tiny_evil.pkl") && strstr(err.msg, "tensor 'weight'") &&
                      strstr(err.msg, "os.system object"), "%s", err.msg);
    ck_assert_int_ne(access(marker, F_OK), 0);
    sg2_pkl_free(doc);
}
END_TEST

/* Random corruption must give a status, never a crash (run under ASan too). */
START_TEST(test_pickle_corrupted_bytes)
{
    static const char *files[] = {"tiny_ada.pkl", "tiny_tf.pkl", "tiny_dtypes_p2.pkl", "tiny_dtypes_p5.pkl"};
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    int ok = 0, failed = 0;
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        size_t size;
        uint8_t *orig = read_all(vec(files[f]), &size);
        uint8_t *buf = malloc(size);
        for (int round = 0; round < 150; round++) {
            memcpy(buf, orig, size);
            for (int k = 0; k < 1 + round % 4; k++) {
                rng = rng * 6364136223846793005ull + 1442695040888963407ull;
                buf[(rng >> 33) % size] = (uint8_t)(rng >> 13);
            }
            sg2_pkl *doc;
            sg2_error err = {0};
            if (sg2_pkl_load_mem(&doc, buf, size, files[f], &err)) {
                ck_assert(err.msg[0] != '\0');
                failed++;
                continue;
            }
            static const char *nets[] = {"G", "D", "G_ema"};
            for (int n = 0; n < 3; n++) {
                sg2_pkl_net net;
                sg2_error_clear(&err);
                if (sg2_pkl_net_from_doc(&net, doc, nets[n], &err) == SG2_OK) {
                    ok++;
                    sg2_pkl_net_free(&net);
                } else {
                    ck_assert(err.msg[0] != '\0');
                    failed++;
                }
            }
            sg2_pkl_free(doc);
        }
        free(buf);
        free(orig);
    }
    ck_assert_int_gt(ok, 0);
    ck_assert_int_gt(failed, 0);
}
END_TEST

static Suite *pickle_suite(void)
{
    Suite *s = suite_create("pickle");
    TCase *tc = tcase_create("pickle");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_pickle_values);
    tcase_add_test(tc, test_pickle_opcodes);
    tcase_add_test(tc, test_pickle_bad_streams);
    tcase_add_test(tc, test_pickle_dtypes_p2);
    tcase_add_test(tc, test_pickle_dtypes_p4);
    tcase_add_test(tc, test_pickle_dtypes_p5);
    tcase_add_test(tc, test_pickle_bad_storage_blob);
    tcase_add_test(tc, test_pickle_ada_tensors_p4);
    tcase_add_test(tc, test_pickle_ada_tensors_p3);
    tcase_add_test(tc, test_pickle_ada_kwargs);
    tcase_add_test(tc, test_pickle_tf);
    tcase_add_test(tc, test_pickle_truncated_file);
    tcase_add_test(tc, test_pickle_unknown_opcode_file);
    tcase_add_test(tc, test_pickle_wrong_class);
    tcase_add_test(tc, test_pickle_os_system_inert);
    tcase_add_test(tc, test_pickle_corrupted_bytes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return sg2_test_run(pickle_suite()) != 0;
}
