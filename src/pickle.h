/* A Python pickle reader (protocols 2-5) that builds a plain object tree and
 * never runs anything: a global such as os.system is recorded as a name, and
 * a call of it (REDUCE, NEWOBJ) as an inert "object" node holding the callable
 * and its arguments. What the tree means (a torch tensor, a numpy array, a
 * network) is decided afterwards by code that checks the class names.
 *
 * Every node of a document lives in the document's arena and is freed with it;
 * nodes may be shared (the pickle memo) and, in hostile input, may even form
 * cycles, so walkers must bound their depth. */
#ifndef SG2_PICKLE_H
#define SG2_PICKLE_H
#include <stddef.h>
#include <stdint.h>

#include "host/status.h"

typedef enum sg2_pkl_kind {
    SG2_PKL_NONE,
    SG2_PKL_BOOL,   /* ival 0 or 1 */
    SG2_PKL_INT,    /* ival: any int that fits in 64 bits */
    SG2_PKL_BIGINT, /* bytes[len]: little-endian two's complement, wider than 64 bits */
    SG2_PKL_FLOAT,  /* fval */
    SG2_PKL_STR,    /* str[len]: UTF-8, NUL-terminated */
    SG2_PKL_BYTES,  /* bytes[len]; ival 1 for a bytearray */
    SG2_PKL_TUPLE,  /* items[count] */
    SG2_PKL_LIST,   /* items[count] */
    SG2_PKL_SET,    /* items[count]; ival 1 for a frozenset */
    SG2_PKL_DICT,   /* items[2 * count]: key, value, key, value... in insertion order */
    SG2_PKL_GLOBAL, /* str = module, name = qualified name (e.g. "numpy.core.multiarray", "_reconstruct") */
    SG2_PKL_OBJECT, /* cls(args, **kwargs), then BUILD state and SETITEM/APPEND items */
    SG2_PKL_PERSID  /* a persistent id (args) left for the caller to resolve */
} sg2_pkl_kind;

typedef struct sg2_pkl_node sg2_pkl_node;
struct sg2_pkl_node {
    sg2_pkl_kind kind;
    size_t offset;           /* byte offset of the opcode that made it (for messages) */
    int64_t ival;            /* BOOL, INT; flags of BYTES and SET */
    double fval;             /* FLOAT */
    const char *str;         /* STR; GLOBAL: module */
    const char *name;        /* GLOBAL: name inside the module */
    const uint8_t *bytes;    /* BYTES, BIGINT */
    size_t len;              /* bytes in str / bytes (without the NUL) */
    sg2_pkl_node **items;    /* TUPLE, LIST, SET, DICT */
    size_t count;            /* elements (DICT: pairs) */
    size_t cap;              /* allocated slots of items */
    sg2_pkl_node *cls;       /* OBJECT: the callable, usually a GLOBAL */
    sg2_pkl_node *args;      /* OBJECT: TUPLE of positional arguments; PERSID: the id */
    sg2_pkl_node *kwargs;    /* OBJECT: DICT of NEWOBJ_EX keyword arguments, or NULL */
    sg2_pkl_node *state;     /* OBJECT: the BUILD argument (usually a DICT), or NULL */
    sg2_pkl_node *dictitems; /* OBJECT: DICT filled by SETITEM(S) (OrderedDict, EasyDict), or NULL */
    sg2_pkl_node *listitems; /* OBJECT: LIST filled by APPEND(S) on an object, or NULL */
};

/* A loaded pickle file: its bytes (bytes nodes point into them), the node
 * arena and the root object. */
typedef struct sg2_pkl sg2_pkl;

/* Read a whole file and unpickle its first pickle. On a malformed pickle:
 * SG2_ERR_FORMAT with one line "<path>: byte N: opcode 0xNN (NAME): problem". */
sg2_status sg2_pkl_load(sg2_pkl **out, const char *path, sg2_error *err);
/* Same from memory (copied); `name` stands for the file in messages. */
sg2_status sg2_pkl_load_mem(sg2_pkl **out, const void *data, size_t size, const char *name, sg2_error *err);
void sg2_pkl_free(sg2_pkl *pkl);

const sg2_pkl_node *sg2_pkl_root(const sg2_pkl *pkl);
/* The file name given at load time. */
const char *sg2_pkl_name(const sg2_pkl *pkl);

/* Unpickle one more pickle from buf[*pos..size) into the same document (for
 * streams of pickles nested in bytes objects, like legacy torch.save blobs).
 * buf must stay valid as long as the document: pass bytes of its own nodes.
 * `where` names the stream in messages. Advances *pos past the STOP opcode. */
sg2_status sg2_pkl_parse(sg2_pkl *pkl, const uint8_t *buf, size_t size, size_t *pos, const char *where,
                         const sg2_pkl_node **out, sg2_error *err);

/* The file's bytes (bytes nodes point into them). */
const uint8_t *sg2_pkl_bytes(const sg2_pkl *pkl, size_t *size);

/* For the opcode machine (pickle_ops.c): memory freed with the document, and
 * zeroed nodes; NULL when out of memory or past SG2_PKL_MAX_NODES. */
#define SG2_PKL_MAX_NODES ((size_t)1 << 24) /* ~2.3 GB of nodes; a 1024x1024 snapshot needs < 10^5 */
void *sg2_pkl_alloc(sg2_pkl *pkl, size_t n);
sg2_pkl_node *sg2_pkl_node_new(sg2_pkl *pkl, sg2_pkl_kind kind, size_t offset);

/* ---- Looking at nodes (pickle.c) ---- */

const char *sg2_pkl_kind_name(sg2_pkl_kind kind);
/* The DICT behind a dict or a dict-like object (OrderedDict, EasyDict: its
 * SETITEMS), or NULL. An object with no items yet is an empty mapping. */
const sg2_pkl_node *sg2_pkl_mapping(const sg2_pkl_node *node);
/* Value of string key `key` in a dict or dict-like object, or NULL. */
const sg2_pkl_node *sg2_pkl_get(const sg2_pkl_node *map, const char *key);
/* Follow dotted keys ("synthesis_kwargs.channel_base"), or NULL. */
const sg2_pkl_node *sg2_pkl_lookup(const sg2_pkl_node *map, const char *path);
/* Is the node the global module.name? */
int sg2_pkl_is_global(const sg2_pkl_node *node, const char *module, const char *name);
/* Is the node an OBJECT made by calling the global module.name? */
int sg2_pkl_is_call(const sg2_pkl_node *node, const char *module, const char *name);
/* Write a short description for messages: "int 5", "str 'abc'", "os.system object". */
void sg2_pkl_describe(char *buf, size_t size, const sg2_pkl_node *node);
/* Numbers: INT, BOOL, FLOAT (as_double only) and numpy scalars. Return 1 on success. */
int sg2_pkl_as_int(const sg2_pkl_node *node, int64_t *out);
int sg2_pkl_as_double(const sg2_pkl_node *node, double *out);
/* The text of a STR node, else NULL. */
const char *sg2_pkl_as_str(const sg2_pkl_node *node);

/* ---- Arrays: torch tensors and numpy arrays, converted to float32 (pickle.c) ---- */

#define SG2_PKL_MAX_DIMS 8
/* Refused above this many elements in one tensor or storage. */
#define SG2_PKL_MAX_ELEMS ((int64_t)1 << 31)

typedef struct sg2_pkl_array {
    int ndim;
    int64_t shape[SG2_PKL_MAX_DIMS];
    size_t numel;      /* product of shape (1 for a 0-d array) */
    float *data;       /* [shape...] row-major, malloc'd; NULL when numel is 0 */
    const char *dtype; /* element type it was stored as: "float32", "float16", "int64", ... */
} sg2_pkl_array;

/* A pickled torch tensor: torch._utils._rebuild_tensor_v2(storage, offset,
 * size, stride, ...), optionally wrapped by _rebuild_parameter, whose storage
 * is torch.storage._load_from_bytes(<legacy torch.save blob>). Offset and
 * strides are honoured (the result is a contiguous copy); float16, bfloat16,
 * float64 and integer storages are converted to float32. `what` names the
 * tensor in messages. */
sg2_status sg2_pkl_torch_tensor(sg2_pkl_array *out, sg2_pkl *pkl, const sg2_pkl_node *node, const char *what,
                                sg2_error *err);
/* A pickled numpy array: numpy.core.multiarray._reconstruct + BUILD state
 * (protocols 2-4) or numpy.core.numeric._frombuffer (protocol 5), C or
 * Fortran order, little- or big-endian; a numpy scalar (np.float32(x), as TF
 * pickles hold 0-d variables) gives a 0-d array; numpy._core (numpy 2) also
 * accepted. */
sg2_status sg2_pkl_numpy_array(sg2_pkl_array *out, sg2_pkl *pkl, const sg2_pkl_node *node, const char *what,
                               sg2_error *err);
int sg2_pkl_is_torch_tensor(const sg2_pkl_node *node);
int sg2_pkl_is_numpy_array(const sg2_pkl_node *node);
void sg2_pkl_array_free(sg2_pkl_array *array);

#endif
