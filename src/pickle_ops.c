/* The pickle virtual machine: reads opcodes of protocols 2-5 (and the simple
 * text opcodes older pickles mix in) and builds sg2_pkl_node trees in the
 * document's arena. Nothing is ever called: GLOBAL only records a name and
 * REDUCE/NEWOBJ/BUILD only record what would have been called with what.
 * The single exception, _codecs.encode(str, 'latin1'), is how protocol 2
 * spells a bytes object, and is decoded as data.
 *
 * Every read is bounds-checked; a malformed pickle fails with one line naming
 * the file, the byte offset and the opcode. Documents (loading, the node
 * arena) are in pickle.c. */
#include "src/pickle.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Container elements, and lengths of text lines (GLOBAL names, text ints). */
#define MAX_COUNT ((size_t)1 << 31)
#define MAX_LINE 4096

/* ---- the machine ---- */

typedef struct vm {
    sg2_pkl *pkl;
    const uint8_t *buf;   /* the pickle being read */
    size_t size, pos;
    size_t op_pos;        /* offset of the current opcode */
    size_t base;          /* offset of buf in the file, or SIZE_MAX if it is elsewhere */
    int op, prev_op;
    const char *where;
    sg2_error *err;
    sg2_status status;
    sg2_pkl_node **stack;
    size_t sp, stack_cap;
    size_t *marks;
    size_t n_marks, marks_cap;
    sg2_pkl_node **memo;
    size_t memo_cap, memo_count;
} vm;

/* Opcode names for messages (pickletools spelling). */
static const char *const op_names[256] = {
    ['('] = "MARK", ['.'] = "STOP", ['0'] = "POP", ['1'] = "POP_MARK", ['2'] = "DUP",
    ['F'] = "FLOAT", ['I'] = "INT", ['J'] = "BININT", ['K'] = "BININT1", ['L'] = "LONG",
    ['M'] = "BININT2", ['N'] = "NONE", ['P'] = "PERSID", ['Q'] = "BINPERSID", ['R'] = "REDUCE",
    ['S'] = "STRING", ['T'] = "BINSTRING", ['U'] = "SHORT_BINSTRING", ['V'] = "UNICODE",
    ['X'] = "BINUNICODE", ['a'] = "APPEND", ['b'] = "BUILD", ['c'] = "GLOBAL", ['d'] = "DICT",
    ['}'] = "EMPTY_DICT", ['e'] = "APPENDS", ['g'] = "GET", ['h'] = "BINGET", ['i'] = "INST",
    ['j'] = "LONG_BINGET", ['l'] = "LIST", [']'] = "EMPTY_LIST", ['o'] = "OBJ", ['p'] = "PUT",
    ['q'] = "BINPUT", ['r'] = "LONG_BINPUT", ['s'] = "SETITEM", ['t'] = "TUPLE",
    [')'] = "EMPTY_TUPLE", ['u'] = "SETITEMS", ['G'] = "BINFLOAT", ['B'] = "BINBYTES",
    ['C'] = "SHORT_BINBYTES", [0x80] = "PROTO", [0x81] = "NEWOBJ", [0x82] = "EXT1",
    [0x83] = "EXT2", [0x84] = "EXT4", [0x85] = "TUPLE1", [0x86] = "TUPLE2", [0x87] = "TUPLE3",
    [0x88] = "NEWTRUE", [0x89] = "NEWFALSE", [0x8a] = "LONG1", [0x8b] = "LONG4",
    [0x8c] = "SHORT_BINUNICODE", [0x8d] = "BINUNICODE8", [0x8e] = "BINBYTES8",
    [0x8f] = "EMPTY_SET", [0x90] = "ADDITEMS", [0x91] = "FROZENSET", [0x92] = "NEWOBJ_EX",
    [0x93] = "STACK_GLOBAL", [0x94] = "MEMOIZE", [0x95] = "FRAME", [0x96] = "BYTEARRAY8",
    [0x97] = "NEXT_BUFFER", [0x98] = "READONLY_BUFFER",
};

static const char *op_name(int op)
{
    return op >= 0 && op < 256 && op_names[op] ? op_names[op] : "unknown";
}

/* Record "<file> [(<where>)]: byte N: opcode 0xNN (NAME): <text>". */
static sg2_status vfail(vm *m, sg2_status status, const char *fmt, va_list ap)
{
    char text[400];
    vsnprintf(text, sizeof text, fmt, ap);
    char at[64];
    if (m->base != SIZE_MAX)
        snprintf(at, sizeof at, "byte %zu", m->base + m->op_pos);
    else
        snprintf(at, sizeof at, "byte %zu of the stream", m->op_pos);
    if (m->op < 0)
        sg2_error_set(m->err, status, "%s%s%s%s: %s: %s", sg2_pkl_name(m->pkl), m->where ? " (" : "",
                      m->where ? m->where : "", m->where ? ")" : "", at, text);
    else
        sg2_error_set(m->err, status, "%s%s%s%s: %s: opcode 0x%02x (%s): %s", sg2_pkl_name(m->pkl), m->where ? " (" : "",
                      m->where ? m->where : "", m->where ? ")" : "", at, m->op, op_name(m->op), text);
    m->status = status;
    return status;
}

__attribute__((format(printf, 2, 3))) static sg2_status fail(vm *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sg2_status s = vfail(m, SG2_ERR_FORMAT, fmt, ap);
    va_end(ap);
    return s;
}

__attribute__((format(printf, 2, 3))) static sg2_status fail_nomem(vm *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sg2_status s = vfail(m, SG2_ERR_NOMEM, fmt, ap);
    va_end(ap);
    return s;
}

/* ---- reading the argument bytes of an opcode ---- */

static const uint8_t *take(vm *m, uint64_t n)
{
    if (n > m->size - m->pos) {
        fail(m, "truncated: needs %llu more bytes, %zu left", (unsigned long long)n, m->size - m->pos);
        return NULL;
    }
    const uint8_t *p = m->buf + m->pos;
    m->pos += (size_t)n;
    return p;
}

static uint64_t le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static int read_uint(vm *m, int n, uint64_t *v)
{
    const uint8_t *p = take(m, (uint64_t)n);
    if (!p)
        return 0;
    *v = le(p, n);
    return 1;
}

/* A '\n'-terminated text argument, copied NUL-terminated into `out`. */
static int read_line(vm *m, char *out, size_t cap)
{
    size_t left = m->size - m->pos;
    const uint8_t *nl = memchr(m->buf + m->pos, '\n', left < cap ? left : cap);
    if (!nl) {
        if (left < cap)
            fail(m, "truncated: text argument without newline");
        else
            fail(m, "text argument longer than %zu bytes", cap - 1);
        return 0;
    }
    size_t n = (size_t)(nl - (m->buf + m->pos));
    memcpy(out, m->buf + m->pos, n);
    out[n] = '\0';
    if (n > 0 && out[n - 1] == '\r')
        out[n - 1] = '\0';
    m->pos += n + 1;
    return 1;
}

/* ---- nodes, stack, marks, memo ---- */

static sg2_pkl_node *new_node(vm *m, sg2_pkl_kind kind)
{
    sg2_pkl_node *n = sg2_pkl_node_new(m->pkl, kind, m->base != SIZE_MAX ? m->base + m->op_pos : m->op_pos);
    if (!n)
        fail_nomem(m, "out of memory, or more than %zu objects", SG2_PKL_MAX_NODES);
    return n;
}

static sg2_pkl_node *new_str(vm *m, const uint8_t *s, uint64_t len)
{
    sg2_pkl_node *n = new_node(m, SG2_PKL_STR);
    if (!n)
        return NULL;
    char *copy = sg2_pkl_alloc(m->pkl, (size_t)len + 1);
    if (!copy) {
        fail_nomem(m, "out of memory for a %llu-byte string", (unsigned long long)len);
        return NULL;
    }
    memcpy(copy, s, (size_t)len);
    copy[len] = '\0';
    n->str = copy;
    n->len = (size_t)len;
    return n;
}

/* Grow a malloc'd array of `elem`-byte entries to hold `need`; returns the
 * (maybe moved) array, or NULL with the error recorded (old one kept). */
static void *grow(vm *m, void *arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return arr;
    size_t nc = *cap ? *cap * 2 : 64;
    while (nc < need)
        nc *= 2;
    void *p = realloc(arr, nc * elem);
    if (!p) {
        fail_nomem(m, "out of memory (stack or memo of %zu entries)", nc);
        return NULL;
    }
    *cap = nc;
    return p;
}

static int push(vm *m, sg2_pkl_node *n)
{
    if (!n)
        return 0;
    sg2_pkl_node **stack = grow(m, m->stack, &m->stack_cap, m->sp + 1, sizeof *stack);
    if (!stack)
        return 0;
    m->stack = stack;
    m->stack[m->sp++] = n;
    return 1;
}

static size_t fence(const vm *m) { return m->n_marks ? m->marks[m->n_marks - 1] : 0; }

static sg2_pkl_node *pop(vm *m)
{
    if (m->sp <= fence(m)) {
        fail(m, "stack underflow");
        return NULL;
    }
    return m->stack[--m->sp];
}

static sg2_pkl_node *top(vm *m)
{
    if (m->sp <= fence(m)) {
        fail(m, "stack underflow");
        return NULL;
    }
    return m->stack[m->sp - 1];
}

/* Pop to the last MARK: the items are stack[*start .. m->sp). */
static int pop_mark(vm *m, size_t *start)
{
    if (!m->n_marks) {
        fail(m, "no MARK on the stack");
        return 0;
    }
    *start = m->marks[--m->n_marks];
    return 1;
}

static int memo_put(vm *m, uint64_t key, sg2_pkl_node *n)
{
    if (!n)
        return 0;
    /* Picklers number memo entries 0, 1, 2...; allowing twice the entries so
     * far (plus slack) keeps the memo proportional to the opcodes read. */
    if (key > 2 * (uint64_t)m->memo_count + 1024)
        return fail(m, "memo key %llu out of range", (unsigned long long)key), 0;
    if (key >= m->memo_cap) {
        size_t old = m->memo_cap;
        sg2_pkl_node **memo = grow(m, m->memo, &m->memo_cap, (size_t)key + 1, sizeof *memo);
        if (!memo)
            return 0;
        m->memo = memo;
        memset(m->memo + old, 0, (m->memo_cap - old) * sizeof *m->memo);
    }
    if (!m->memo[key])
        m->memo_count++;
    m->memo[key] = n;
    return 1;
}

static int memo_get(vm *m, uint64_t key)
{
    if (key >= m->memo_cap || !m->memo[key])
        return fail(m, "memo key %llu is not defined", (unsigned long long)key), 0;
    return push(m, m->memo[key]);
}

/* Append one element to a TUPLE/LIST/SET, or one key/value pair to a DICT
 * (value given). Growth copies into a new arena array: the old one is not
 * reused, which costs at most as much again as the final array. */
static int add_item(vm *m, sg2_pkl_node *c, sg2_pkl_node *x, sg2_pkl_node *value)
{
    size_t per = c->kind == SG2_PKL_DICT ? 2 : 1;
    size_t used = c->count * per;
    if (c->count >= MAX_COUNT)
        return fail(m, "container with more than 2^31 elements"), 0;
    if (used + per > c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 8;
        sg2_pkl_node **items = sg2_pkl_alloc(m->pkl, nc * sizeof *items);
        if (!items)
            return fail_nomem(m, "out of memory for a container of %zu elements", nc), 0;
        if (used)
            memcpy(items, c->items, used * sizeof *items);
        c->items = items;
        c->cap = nc;
    }
    c->items[used] = x;
    if (per == 2)
        c->items[used + 1] = value;
    c->count++;
    return 1;
}

/* Move stack[start..sp) into container c (pairs for a DICT). */
static int move_items(vm *m, sg2_pkl_node *c, size_t start)
{
    size_t per = c->kind == SG2_PKL_DICT ? 2 : 1;
    if ((m->sp - start) % per)
        return fail(m, "odd number of items for a dict"), 0;
    for (size_t i = start; i < m->sp; i += per)
        if (!add_item(m, c, m->stack[i], per == 2 ? m->stack[i + 1] : NULL))
            return 0;
    m->sp = start;
    return 1;
}

static sg2_pkl_node *collect(vm *m, sg2_pkl_kind kind, size_t start)
{
    sg2_pkl_node *c = new_node(m, kind);
    return c && move_items(m, c, start) ? c : NULL;
}

/* Dict items go into a DICT, or into the dictitems of an object (an
 * OrderedDict or EasyDict built by REDUCE/NEWOBJ). Duplicate keys are kept
 * in order; lookups take the last one, as Python's dict would. */
static int set_items(vm *m, sg2_pkl_node *target, size_t start)
{
    if (target->kind == SG2_PKL_OBJECT) {
        if (!target->dictitems && !(target->dictitems = new_node(m, SG2_PKL_DICT)))
            return 0;
        target = target->dictitems;
    }
    if (target->kind != SG2_PKL_DICT)
        return fail(m, "SETITEM on a %s", sg2_pkl_kind_name(target->kind)), 0;
    return move_items(m, target, start);
}

/* APPEND(S) into a LIST (or an object's listitems), ADDITEMS into a SET. */
static int append_items(vm *m, sg2_pkl_node *target, size_t start, int set)
{
    if (target->kind == SG2_PKL_OBJECT) {
        if (!target->listitems && !(target->listitems = new_node(m, set ? SG2_PKL_SET : SG2_PKL_LIST)))
            return 0;
        target = target->listitems;
    }
    if (target->kind != (set ? SG2_PKL_SET : SG2_PKL_LIST))
        return fail(m, "%s on a %s", set ? "ADDITEMS" : "APPEND", sg2_pkl_kind_name(target->kind)), 0;
    return move_items(m, target, start);
}

/* The object below the items of a SETITEMS/APPENDS/ADDITEMS. */
static sg2_pkl_node *mark_target(vm *m, size_t start)
{
    size_t below = m->n_marks ? m->marks[m->n_marks - 1] : 0;
    if (start == 0 || start - 1 < below)
        return fail(m, "no object below the MARK"), NULL;
    return m->stack[start - 1];
}

/* ---- values ---- */

static sg2_pkl_node *new_int(vm *m, int64_t v)
{
    sg2_pkl_node *n = new_node(m, SG2_PKL_INT);
    if (n)
        n->ival = v;
    return n;
}

/* LONG1/LONG4 payload: little-endian two's complement of any width. */
static sg2_pkl_node *new_long(vm *m, const uint8_t *p, uint64_t n)
{
    /* Drop sign-extension bytes so a wide encoding of a small value stays an int. */
    while (n > 1 && ((p[n - 1] == 0x00 && !(p[n - 2] & 0x80)) || (p[n - 1] == 0xff && (p[n - 2] & 0x80))))
        n--;
    if (n <= 8) {
        uint64_t v = n ? le(p, (int)n) : 0;
        if (n && n < 8 && (p[n - 1] & 0x80))
            v |= ~(uint64_t)0 << (8 * n);
        return new_int(m, (int64_t)v);
    }
    sg2_pkl_node *b = new_node(m, SG2_PKL_BIGINT);
    if (b) {
        b->bytes = p;
        b->len = (size_t)n;
    }
    return b;
}

static sg2_pkl_node *new_bytes(vm *m, const uint8_t *p, uint64_t n, int bytearray)
{
    sg2_pkl_node *b = new_node(m, SG2_PKL_BYTES);
    if (b) {
        b->bytes = p;
        b->len = (size_t)n;
        b->ival = bytearray;
    }
    return b;
}

static sg2_pkl_node *new_global(vm *m, sg2_pkl_node *module, sg2_pkl_node *name)
{
    if (!module || !name)
        return NULL;
    if (module->kind != SG2_PKL_STR || name->kind != SG2_PKL_STR)
        return fail(m, "global module and name must be strings"), NULL;
    sg2_pkl_node *g = new_node(m, SG2_PKL_GLOBAL);
    if (g) {
        g->str = module->str;
        g->name = name->str;
        g->len = module->len;
    }
    return g;
}

static sg2_pkl_node *text_global(vm *m)
{
    char mod[MAX_LINE], name[MAX_LINE];
    if (!read_line(m, mod, sizeof mod) || !read_line(m, name, sizeof name))
        return NULL;
    return new_global(m, new_str(m, (const uint8_t *)mod, strlen(mod)),
                      new_str(m, (const uint8_t *)name, strlen(name)));
}

/* Protocol 2 writes bytes b as _codecs.encode(b.decode('latin1'), 'latin1'):
 * undo that (UTF-8 code points 0..255 back to single bytes). */
static sg2_pkl_node *latin1_bytes(vm *m, const sg2_pkl_node *s)
{
    uint8_t *out = sg2_pkl_alloc(m->pkl, s->len + 1);
    if (!out)
        return fail_nomem(m, "out of memory for %zu bytes", s->len), NULL;
    size_t n = 0;
    const uint8_t *p = (const uint8_t *)s->str;
    for (size_t i = 0; i < s->len; i++) {
        if (p[i] < 0x80) {
            out[n++] = p[i];
        } else if ((p[i] & 0xfe) == 0xc2 && i + 1 < s->len && (p[i + 1] & 0xc0) == 0x80) {
            out[n++] = (uint8_t)(((p[i] & 0x03) << 6) | (p[i + 1] & 0x3f));
            i++;
        } else {
            return fail(m, "_codecs.encode: character outside latin-1 at %zu", i), NULL;
        }
    }
    return new_bytes(m, out, n, 0);
}

static sg2_pkl_node *new_call(vm *m, sg2_pkl_node *callable, sg2_pkl_node *args, sg2_pkl_node *kwargs)
{
    if (!callable || !args)
        return NULL;
    if (callable->kind != SG2_PKL_GLOBAL && callable->kind != SG2_PKL_OBJECT && callable->kind != SG2_PKL_PERSID)
        return fail(m, "calling a %s", sg2_pkl_kind_name(callable->kind)), NULL;
    if (args->kind != SG2_PKL_TUPLE)
        return fail(m, "arguments must be a tuple, not a %s", sg2_pkl_kind_name(args->kind)), NULL;
    if (kwargs && kwargs->kind != SG2_PKL_DICT)
        return fail(m, "keyword arguments must be a dict, not a %s", sg2_pkl_kind_name(kwargs->kind)), NULL;
    if (sg2_pkl_is_global(callable, "_codecs", "encode") && args->count == 2 &&
        args->items[0]->kind == SG2_PKL_STR && args->items[1]->kind == SG2_PKL_STR &&
        (!strcmp(args->items[1]->str, "latin1") || !strcmp(args->items[1]->str, "latin-1")))
        return latin1_bytes(m, args->items[0]);
    sg2_pkl_node *o = new_node(m, SG2_PKL_OBJECT);
    if (o) {
        o->cls = callable;
        o->args = args;
        o->kwargs = kwargs;
    }
    return o;
}

/* Text integers (INT, LONG, GET, PUT): decimal, LONG's with a trailing L. */
static int parse_text_int(vm *m, const char *text, int64_t *v)
{
    char line[64];
    size_t n = strlen(text);
    if (n >= sizeof line)
        return fail(m, "integer text too long"), 0;
    memcpy(line, text, n + 1);
    if (n && line[n - 1] == 'L')
        line[--n] = '\0';
    char *end;
    errno = 0;
    long long x = strtoll(line, &end, 10);
    if (!n || *end || errno)
        return fail(m, "bad integer text '%s'", line), 0;
    *v = x;
    return 1;
}

static int read_text_int(vm *m, int64_t *v)
{
    char line[64];
    return read_line(m, line, sizeof line) && parse_text_int(m, line, v);
}

/* One opcode; returns 1 to go on, 0 on error, 2 at STOP. */
static int step(vm *m, const sg2_pkl_node **out)
{
    uint64_t u;
    int64_t iv;
    size_t start, *marks;
    const uint8_t *p;
    sg2_pkl_node *a, *b, *c;
    switch (m->op) {
    case 0x80: /* PROTO */
        if (!read_uint(m, 1, &u))
            return 0;
        if (u > 5)
            return fail(m, "unsupported protocol %llu", (unsigned long long)u), 0;
        return 1;
    case 0x95: /* FRAME: a length hint; opcodes are read the same inside */
        if (!read_uint(m, 8, &u))
            return 0;
        if (u > m->size - m->pos)
            return fail(m, "truncated: frame of %llu bytes, %zu left", (unsigned long long)u, m->size - m->pos), 0;
        return 1;
    case '.':
        if (!(a = pop(m)))
            return 0;
        *out = a;
        return 2;
    case '(':
        if (!(marks = grow(m, m->marks, &m->marks_cap, m->n_marks + 1, sizeof *marks)))
            return 0;
        m->marks = marks;
        m->marks[m->n_marks++] = m->sp;
        return 1;
    case '0':
        if (m->sp > fence(m))
            m->sp--;
        else if (m->n_marks && m->marks[m->n_marks - 1] == m->sp)
            m->n_marks--;
        else
            return fail(m, "stack underflow"), 0;
        return 1;
    case '1':
        if (!pop_mark(m, &start))
            return 0;
        m->sp = start;
        return 1;
    case '2': return (a = top(m)) && push(m, a);
    case 'N': return push(m, new_node(m, SG2_PKL_NONE));
    case 0x88:
    case 0x89:
        if (!(a = new_node(m, SG2_PKL_BOOL)))
            return 0;
        a->ival = m->op == 0x88;
        return push(m, a);
    case 'J':
        if (!read_uint(m, 4, &u))
            return 0;
        return push(m, new_int(m, (int32_t)(uint32_t)u));
    case 'K': return read_uint(m, 1, &u) && push(m, new_int(m, (int64_t)u));
    case 'M': return read_uint(m, 2, &u) && push(m, new_int(m, (int64_t)u));
    case 'I':
    case 'L': {
        char line[64];
        if (!read_line(m, line, sizeof line))
            return 0;
        if (m->op == 'I' && (!strcmp(line, "00") || !strcmp(line, "01"))) { /* False, True */
            if (!(a = new_node(m, SG2_PKL_BOOL)))
                return 0;
            a->ival = line[1] == '1';
            return push(m, a);
        }
        return parse_text_int(m, line, &iv) && push(m, new_int(m, iv));
    }
    case 0x8a:
    case 0x8b:
        if (!read_uint(m, m->op == 0x8a ? 1 : 4, &u))
            return 0;
        if (m->op == 0x8b && (int32_t)(uint32_t)u < 0)
            return fail(m, "negative length"), 0;
        return (p = take(m, u)) && push(m, new_long(m, p, u));
    case 'G':
        if (!(p = take(m, 8)))
            return 0;
        {
            uint64_t bits = 0;
            for (int i = 0; i < 8; i++)
                bits = (bits << 8) | p[i]; /* big-endian */
            if (!(a = new_node(m, SG2_PKL_FLOAT)))
                return 0;
            memcpy(&a->fval, &bits, 8);
        }
        return push(m, a);
    case 'F': {
        char line[128], *end;
        if (!read_line(m, line, sizeof line))
            return 0;
        double d = strtod(line, &end);
        if (end == line || *end)
            return fail(m, "bad float text '%s'", line), 0;
        if (!(a = new_node(m, SG2_PKL_FLOAT)))
            return 0;
        a->fval = d;
        return push(m, a);
    }
    case 'X':
    case 0x8c:
    case 0x8d:
    case 'T':
    case 'U':
        if (!read_uint(m, m->op == 0x8c || m->op == 'U' ? 1 : m->op == 0x8d ? 8 : 4, &u))
            return 0;
        if (m->op == 'T' && (int32_t)(uint32_t)u < 0)
            return fail(m, "negative length"), 0;
        return (p = take(m, u)) && push(m, new_str(m, p, u));
    case 'B':
    case 'C':
    case 0x8e:
    case 0x96:
        if (!read_uint(m, m->op == 'C' ? 1 : m->op == 'B' ? 4 : 8, &u))
            return 0;
        return (p = take(m, u)) && push(m, new_bytes(m, p, u, m->op == 0x96));
    case 'S':
    case 'V': return fail(m, "protocol 0 text strings are not supported"), 0;
    case 0x97: return fail(m, "out-of-band buffers are not supported"), 0;
    case 0x98: return top(m) != NULL; /* READONLY_BUFFER: no-op on our bytes */
    case ')': return push(m, new_node(m, SG2_PKL_TUPLE));
    case ']': return push(m, new_node(m, SG2_PKL_LIST));
    case '}': return push(m, new_node(m, SG2_PKL_DICT));
    case 0x8f: return push(m, new_node(m, SG2_PKL_SET));
    case 't':
    case 'l':
    case 'd':
    case 0x91:
        if (!pop_mark(m, &start))
            return 0;
        if (!(a = collect(m, m->op == 't'   ? SG2_PKL_TUPLE
                             : m->op == 'l' ? SG2_PKL_LIST
                             : m->op == 'd' ? SG2_PKL_DICT
                                            : SG2_PKL_SET, start)))
            return 0;
        a->ival = m->op == 0x91;
        return push(m, a);
    case 0x85:
    case 0x86:
    case 0x87: {
        size_t n = (size_t)(m->op - 0x84);
        if (m->sp < fence(m) + n)
            return fail(m, "stack underflow"), 0;
        return push(m, collect(m, SG2_PKL_TUPLE, m->sp - n));
    }
    case 'a':
        if (m->sp < fence(m) + 2)
            return fail(m, "stack underflow"), 0;
        return append_items(m, m->stack[m->sp - 2], m->sp - 1, 0);
    case 'e':
    case 0x90:
        return pop_mark(m, &start) && (a = mark_target(m, start)) && append_items(m, a, start, m->op == 0x90);
    case 's':
        if (m->sp < fence(m) + 3)
            return fail(m, "stack underflow"), 0;
        return set_items(m, m->stack[m->sp - 3], m->sp - 2);
    case 'u': return pop_mark(m, &start) && (a = mark_target(m, start)) && set_items(m, a, start);
    case 'c': return push(m, text_global(m));
    case 0x93:
        if (!(b = pop(m)) || !(a = pop(m)))
            return 0;
        return push(m, new_global(m, a, b));
    case 'i':
        if (!(a = text_global(m)) || !pop_mark(m, &start))
            return 0;
        return push(m, new_call(m, a, collect(m, SG2_PKL_TUPLE, start), NULL));
    case 'o':
        if (!pop_mark(m, &start))
            return 0;
        if (start >= m->sp)
            return fail(m, "OBJ without a class"), 0;
        a = m->stack[start];
        if (!(b = collect(m, SG2_PKL_TUPLE, start + 1)))
            return 0;
        m->sp = start; /* drop the class too */
        return push(m, new_call(m, a, b, NULL));
    case 'R':
    case 0x81:
        if (!(b = pop(m)) || !(a = pop(m)))
            return 0;
        return push(m, new_call(m, a, b, NULL));
    case 0x92:
        if (!(c = pop(m)) || !(b = pop(m)) || !(a = pop(m)))
            return 0;
        return push(m, new_call(m, a, b, c));
    case 'b':
        if (!(b = pop(m)) || !(a = top(m)))
            return 0;
        if (a->kind != SG2_PKL_OBJECT)
            return fail(m, "BUILD on a %s", sg2_pkl_kind_name(a->kind)), 0;
        a->state = b;
        return 1;
    case 'P': {
        char line[MAX_LINE];
        if (!read_line(m, line, sizeof line) || !(b = new_str(m, (const uint8_t *)line, strlen(line))))
            return 0;
        if (!(a = new_node(m, SG2_PKL_PERSID)))
            return 0;
        a->args = b;
        return push(m, a);
    }
    case 'Q':
        if (!(b = pop(m)) || !(a = new_node(m, SG2_PKL_PERSID)))
            return 0;
        a->args = b;
        return push(m, a);
    case 0x82:
    case 0x83:
    case 0x84:
        if (!read_uint(m, m->op == 0x82 ? 1 : m->op == 0x83 ? 2 : 4, &u))
            return 0;
        return fail(m, "extension registry code %llu is not supported", (unsigned long long)u), 0;
    case 'g':
        return read_text_int(m, &iv) && (iv >= 0 ? memo_get(m, (uint64_t)iv) : (fail(m, "negative memo key"), 0));
    case 'h': return read_uint(m, 1, &u) && memo_get(m, u);
    case 'j': return read_uint(m, 4, &u) && memo_get(m, u);
    case 'p':
        return read_text_int(m, &iv) &&
               (iv >= 0 ? memo_put(m, (uint64_t)iv, top(m)) : (fail(m, "negative memo key"), 0));
    case 'q': return read_uint(m, 1, &u) && memo_put(m, u, top(m));
    case 'r': return read_uint(m, 4, &u) && memo_put(m, u, top(m));
    case 0x94: return memo_put(m, m->memo_count, top(m));
    default: return fail(m, "unknown opcode"), 0;
    }
}

sg2_status sg2_pkl_parse(sg2_pkl *pkl, const uint8_t *buf, size_t size, size_t *pos, const char *where,
                         const sg2_pkl_node **out, sg2_error *err)
{
    vm m = {.pkl = pkl, .buf = buf, .size = size, .pos = *pos, .where = where, .err = err, .op = -1, .prev_op = -1};
    size_t file_size;
    const uint8_t *file = sg2_pkl_bytes(pkl, &file_size);
    m.base = file && buf >= file && buf <= file + file_size ? (size_t)(buf - file) : SIZE_MAX;
    *out = NULL;
    int r = 1;
    while (r == 1) {
        m.op_pos = m.pos;
        if (m.pos >= m.size) {
            m.op = -1;
            if (m.prev_op < 0)
                fail(&m, "truncated: no pickle here (empty)");
            else
                fail(&m, "truncated: data ends after opcode 0x%02x (%s) without STOP", m.prev_op,
                     op_name(m.prev_op));
            break;
        }
        m.op = m.buf[m.pos++];
        r = step(&m, out);
        m.prev_op = m.op;
    }
    if (r == 2)
        *pos = m.pos;
    free(m.stack);
    free(m.marks);
    free(m.memo);
    if (r != 2) {
        *out = NULL;
        return m.status ? m.status : SG2_ERR_FORMAT;
    }
    return SG2_OK;
}
