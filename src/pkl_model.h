/* Networks out of NVIDIA's pickles, without Python:
 *
 * - stylegan2-ada-pytorch / StyleGAN3 snapshots: a dict {G, D, G_ema,
 *   augment_pipe, training_set_kwargs} whose networks pickle as
 *   torch_utils.persistence._reconstruct_persistent_obj(meta), meta = {type,
 *   version, module_src, class_name, state = the nn.Module __dict__}. The
 *   tensors are named like state_dict() ("synthesis.b4.conv1.affine.weight")
 *   and come in state_dict() order: a module's parameters, its persistent
 *   buffers, then its children.
 * - TensorFlow StyleGAN2 pickles: a tuple (G, D, Gs) of
 *   dnnlib.tflib.network.Network, each with a state {version, name,
 *   static_kwargs, components, variables}. Tensors keep their TF names with
 *   component prefixes as legacy.py collects them ("dlatent_avg",
 *   "mapping/Dense0/weight", "synthesis/4x4/Conv/weight") and their TF
 *   layouts: nothing is transposed or renamed here.
 *
 * module_src and build_module_src are never executed. */
#ifndef SG2_PKL_MODEL_H
#define SG2_PKL_MODEL_H
#include "src/pickle.h"

typedef enum sg2_pkl_format {
    SG2_PKL_FORMAT_UNKNOWN = 0,
    SG2_PKL_FORMAT_TORCH, /* stylegan2-ada-pytorch / StyleGAN3 snapshot */
    SG2_PKL_FORMAT_TF     /* TensorFlow StyleGAN2 (G, D, Gs) */
} sg2_pkl_format;

typedef struct sg2_pkl_tensor {
    char *name;          /* "mapping.fc0.weight" (torch) or "mapping/Dense0/weight" (TF) */
    sg2_pkl_array array; /* shape and float32 data (converted if stored otherwise) */
    int is_buffer;       /* torch: a registered buffer (w_avg, noise_const, resample_filter) */
} sg2_pkl_tensor;

typedef struct sg2_pkl_net {
    sg2_pkl_format format;
    char *class_name;           /* torch: meta class_name ("Generator"); TF: the network name ("G") */
    sg2_pkl_tensor *tensors;    /* [count], in the order described above */
    size_t count;
    /* Constructor arguments, owned by doc. torch: state _init_kwargs (z_dim,
     * w_dim, mapping_kwargs, synthesis_kwargs{channel_base...}; the StyleGAN3
     * repo's StyleGAN2 puts synthesis kwargs at the top level) and
     * _init_args; TF: static_kwargs (latent_size, fmap_base...), args NULL.
     * Either may be NULL when the pickle lacks them. */
    const sg2_pkl_node *kwargs;
    const sg2_pkl_node *args;
    int64_t version;            /* torch: persistence version (6); TF: network version (4) */
    sg2_pkl *doc;               /* the parsed file */
    int owns_doc;               /* doc freed with the net (sg2_pkl_net_load) */
} sg2_pkl_net;

/* Which kind of network pickle the document holds. */
sg2_pkl_format sg2_pkl_detect(const sg2_pkl *doc);

/* Extract network `which` from a parsed document: "G", "D", "G_ema" (any
 * module-valued key of a torch snapshot, e.g. "augment_pipe"); for TF
 * pickles "G", "D", "Gs" ("G_ema" means Gs). NULL means G_ema / Gs. The net
 * borrows doc (kwargs point into it). Errors name the file and the offending
 * key, class or tensor: SG2_ERR_FORMAT for a missing key, an unexpected class
 * or a bad shape, SG2_ERR_UNSUPPORTED for an unknown element type. */
sg2_status sg2_pkl_net_from_doc(sg2_pkl_net *out, sg2_pkl *doc, const char *which, sg2_error *err);
/* Same from a file; the net owns the document. */
sg2_status sg2_pkl_net_load(sg2_pkl_net *out, const char *path, const char *which, sg2_error *err);
void sg2_pkl_net_free(sg2_pkl_net *net);

/* The tensor called `name`, or NULL. */
const sg2_pkl_tensor *sg2_pkl_net_find(const sg2_pkl_net *net, const char *name);
/* A constructor argument by dotted path ("synthesis_kwargs.channel_base"), or NULL. */
const sg2_pkl_node *sg2_pkl_net_kwarg(const sg2_pkl_net *net, const char *path);

#endif
