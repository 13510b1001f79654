#!/usr/bin/python3
"""Write the small pickle test vectors of tests/test_pickle.c.

Run:  /usr/bin/python3 tests/vectors/make_pkl.py [OUTDIR]   (default: this script's directory)
Needs PyTorch (Debian's 1.13 is enough) and numpy; no NVIDIA code. The networks are tiny fakes
pickled the way the real snapshots are:

* tiny_ada.pkl     -- a stylegan2-ada-pytorch snapshot: dict(G, D, G_ema, augment_pipe,
                      training_set_kwargs), protocol 4 (pickle's default since Python 3.8);
  tiny_ada_p3.pkl  -- the same with protocol 3 (Python 3.7's default, used for NVIDIA's
                      published pickles).
                      Every network module pickles as
                      torch_utils.persistence._reconstruct_persistent_obj(meta) with
                      meta = {type, version, module_src, class_name, state = the module __dict__}.
                      The `torch_utils.persistence` and `dnnlib.util` modules used here are
                      stand-ins written for this script, registered in sys.modules.
* tiny_tf.pkl      -- a TensorFlow StyleGAN2 pickle: tuple (G, D, Gs) of
                      dnnlib.tflib.network.Network objects whose state holds numpy variables,
                      protocol 3 (the Python 3.6/3.7 default those pickles were written with).
* tiny_dtypes_pN.pkl (N = 2, 4, 5) -- a dict of torch tensors (float32, float16, float64, int64,
                      uint8, views with offset and strides, a Parameter, a 0-d tensor, two
                      tensors sharing one storage) and numpy arrays (C and Fortran order,
                      float16, int64): protocol 2 stores bytes as _codecs.encode(str, 'latin1'),
                      protocol 5 stores numpy arrays as numpy.core.numeric._frombuffer(...).
* tiny_values.pkl  -- plain Python values (ints of every width, a 70-bit int, floats, str,
                      bytes, bytearray, tuples, lists, sets, a shared list), protocol 5.
* tiny_wrongclass.pkl -- a snapshot whose G_ema is a numpy array instead of a network.
* tiny_evil.pkl    -- a snapshot whose G_ema.weight is os.system('touch /tmp/sg2_pickle_pwned'),
                      protocol 2. Unpickling it in Python WOULD run the command; the C loader
                      must keep it as an inert object. (This script never unpickles it.)

Expectations go to tiny_*.txt, one tensor a line:
    <net> <name> <ndim> <dims...> <sum> <wsum>
where, over the float32 values v[i] in row-major order, sum = sum of v[i] and
wsum = sum of v[i] * (i % 13 + 1), both accumulated in order in double precision (printed with
repr, so C can compare exactly). The torch names and order are those of state_dict().
"""
import collections
import copy
import os
import pickle
import sys
import types

import numpy as np
import torch

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(1234)
RNG = np.random.RandomState(1234)


def register_module(name):
    """Create (or return) an empty module `name` and its parents in sys.modules."""
    parts = name.split('.')
    for i in range(1, len(parts) + 1):
        sub = '.'.join(parts[:i])
        if sub not in sys.modules:
            sys.modules[sub] = types.ModuleType(sub)
            if i > 1:
                setattr(sys.modules['.'.join(parts[:i - 1])], parts[i - 1], sys.modules[sub])
    return sys.modules[name]


# ---- stand-in for dnnlib.util.EasyDict (a dict with attribute access) -------------------------
util = register_module('dnnlib.util')


class EasyDict(dict):
    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name)


EasyDict.__module__ = 'dnnlib.util'
util.EasyDict = EasyDict

# ---- stand-in for torch_utils.persistence ----------------------------------------------------
persistence = register_module('torch_utils.persistence')
MODULE_SRC = '# stand-in for training/networks.py (the real pickles embed the whole file)\n'


class LoadedPersistent:
    """What _reconstruct_persistent_obj gives back in this script's own self-check."""

    def __init__(self, meta):
        self.meta = meta


def _reconstruct_persistent_obj(meta):
    return LoadedPersistent(meta)


_reconstruct_persistent_obj.__module__ = 'torch_utils.persistence'
persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj


class Persistent(torch.nn.Module):
    """Base of the fake network classes: records the constructor arguments and pickles the
    module as a call to _reconstruct_persistent_obj(meta), the way persistent classes do."""

    def __init__(self, *args, **kwargs):
        super().__init__()
        self._init_args = copy.deepcopy(args)
        self._init_kwargs = copy.deepcopy(kwargs)

    def __reduce_ex__(self, protocol):
        meta = dict(type='class', version=6, module_src=MODULE_SRC,
                    class_name=type(self).__name__, state=self.__dict__)
        return (_reconstruct_persistent_obj, (meta,))


def randn(*shape):
    return torch.randn(*shape, dtype=torch.float32)


def filt():
    f = torch.tensor([1, 3, 3, 1], dtype=torch.float32)
    f = f[:, None] * f[None, :]
    return f / f.sum()


class FullyConnectedLayer(Persistent):
    def __init__(self, in_features, out_features, bias=True, activation='linear', lr_multiplier=1):
        super().__init__(in_features, out_features, bias=bias, activation=activation,
                         lr_multiplier=lr_multiplier)
        self.activation = activation
        self.weight = torch.nn.Parameter(randn(out_features, in_features))
        self.bias = torch.nn.Parameter(randn(out_features)) if bias else None
        self.weight_gain = np.float64(lr_multiplier / np.sqrt(in_features))  # a numpy scalar
        self.bias_gain = lr_multiplier


class MappingNetwork(Persistent):
    def __init__(self, z_dim, c_dim, w_dim, num_ws, num_layers=2):
        super().__init__(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=num_ws, num_layers=num_layers)
        self.num_layers = num_layers
        for i in range(num_layers):
            setattr(self, f'fc{i}', FullyConnectedLayer(z_dim if i == 0 else w_dim, w_dim,
                                                         activation='lrelu', lr_multiplier=0.01))
        self.register_buffer('w_avg', randn(w_dim))


class SynthesisLayer(Persistent):
    def __init__(self, in_channels, out_channels, w_dim, resolution, up=1):
        super().__init__(in_channels, out_channels, w_dim=w_dim, resolution=resolution, up=up)
        self.resolution = resolution
        self.up = up
        self.affine = FullyConnectedLayer(w_dim, in_channels)
        self.weight = torch.nn.Parameter(randn(out_channels, in_channels, 3, 3))
        self.register_buffer('noise_const', randn(resolution, resolution))
        self.noise_strength = torch.nn.Parameter(torch.tensor(0.125))
        self.bias = torch.nn.Parameter(randn(out_channels))
        self.register_buffer('resample_filter', filt())


class ToRGBLayer(Persistent):
    def __init__(self, in_channels, out_channels, w_dim):
        super().__init__(in_channels, out_channels, w_dim=w_dim)
        self.affine = FullyConnectedLayer(w_dim, in_channels)
        self.weight = torch.nn.Parameter(randn(out_channels, in_channels, 1, 1))
        self.bias = torch.nn.Parameter(randn(out_channels))


class SynthesisBlock(Persistent):
    def __init__(self, in_channels, out_channels, w_dim, resolution, img_channels):
        super().__init__(in_channels, out_channels, w_dim=w_dim, resolution=resolution,
                         img_channels=img_channels)
        if in_channels == 0:
            self.const = torch.nn.Parameter(randn(out_channels, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=2)
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution)
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim)
        self.register_buffer('resample_filter', filt())


class SynthesisNetwork(Persistent):
    def __init__(self, w_dim, img_resolution, img_channels, channel_base, channel_max, **kw):
        super().__init__(w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels,
                         channel_base=channel_base, channel_max=channel_max, **kw)
        ch = {r: min(channel_base // r, channel_max) for r in (4, 8)}
        self.b4 = SynthesisBlock(0, ch[4], w_dim, 4, img_channels)
        self.b8 = SynthesisBlock(ch[4], ch[8], w_dim, 8, img_channels)
        self.num_ws = 5


class Generator(Persistent):
    def __init__(self, z_dim, c_dim, w_dim, img_resolution, img_channels, mapping_kwargs,
                 synthesis_kwargs):
        super().__init__(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, img_resolution=img_resolution,
                         img_channels=img_channels, mapping_kwargs=mapping_kwargs,
                         synthesis_kwargs=synthesis_kwargs)
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.synthesis = SynthesisNetwork(w_dim, img_resolution, img_channels, **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim, c_dim, w_dim, self.num_ws, **mapping_kwargs)


class Conv2dLayer(Persistent):
    def __init__(self, in_channels, out_channels, kernel_size, bias=True, down=1):
        super().__init__(in_channels, out_channels, kernel_size, bias=bias, down=down)
        self.weight = torch.nn.Parameter(randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = torch.nn.Parameter(randn(out_channels)) if bias else None
        self.register_buffer('resample_filter', filt())


class DiscriminatorBlock(Persistent):
    def __init__(self, in_channels, tmp_channels, out_channels, resolution, img_channels):
        super().__init__(in_channels, tmp_channels, out_channels, resolution=resolution,
                         img_channels=img_channels)
        self.fromrgb = Conv2dLayer(img_channels, tmp_channels, 1)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, 3)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, 3, down=2)
        self.skip = Conv2dLayer(tmp_channels, out_channels, 1, bias=False, down=2)
        # Not in the state dict: the loader must skip non-persistent buffers too.
        self.register_buffer('scratch', torch.zeros(2), persistent=False)


class DiscriminatorEpilogue(Persistent):
    def __init__(self, in_channels, resolution):
        super().__init__(in_channels, cmap_dim=0, resolution=resolution)
        self.conv = Conv2dLayer(in_channels + 1, in_channels, 3)
        self.fc = FullyConnectedLayer(in_channels * resolution ** 2, in_channels, activation='lrelu')
        self.out = FullyConnectedLayer(in_channels, 1)


class Discriminator(Persistent):
    def __init__(self, c_dim, img_resolution, img_channels, architecture='resnet', channel_base=16,
                 channel_max=4, block_kwargs=None, epilogue_kwargs=None):
        super().__init__(c_dim=c_dim, img_resolution=img_resolution, img_channels=img_channels,
                         architecture=architecture, channel_base=channel_base,
                         channel_max=channel_max, block_kwargs=block_kwargs or EasyDict(),
                         epilogue_kwargs=epilogue_kwargs or EasyDict())
        ch = {r: min(channel_base // r, channel_max) for r in (4, 8)}
        self.b8 = DiscriminatorBlock(0, ch[8], ch[4], 8, img_channels)
        self.b4 = DiscriminatorEpilogue(ch[4], 4)


for cls in list(globals().values()):
    if isinstance(cls, type) and issubclass(cls, Persistent):
        cls.__module__ = 'training.networks'  # only the name recorded in meta matters


# ---- expectations ------------------------------------------------------------------------------
def checksums(arr):
    v = np.ascontiguousarray(np.asarray(arr, dtype=np.float32)).ravel().tolist()
    s = w = 0.0
    for i, x in enumerate(v):
        s += x
        w += x * ((i % 13) + 1)
    return s, w


def expect_line(net, name, arr):
    arr = np.asarray(arr)
    s, w = checksums(arr)
    dims = ' '.join(str(d) for d in arr.shape)
    return f'{net} {name} {arr.ndim}{" " if dims else ""}{dims} {s!r} {w!r}\n'


def write(name, data):
    with open(os.path.join(OUT, name), 'wb' if isinstance(data, bytes) else 'w') as f:
        f.write(data)


# ---- tiny_ada.pkl ------------------------------------------------------------------------------
def make_ada():
    G = Generator(z_dim=4, c_dim=0, w_dim=4, img_resolution=8, img_channels=3,
                  mapping_kwargs=EasyDict(num_layers=2),
                  synthesis_kwargs=EasyDict(channel_base=16, channel_max=4, num_fp16_res=0,
                                            conv_clamp=None, architecture='skip'))
    D = Discriminator(c_dim=0, img_resolution=8, img_channels=3,
                      block_kwargs=EasyDict(activation='lrelu'),
                      epilogue_kwargs=EasyDict(mbstd_group_size=4))
    G_ema = Generator(**G._init_kwargs)
    G_ema.load_state_dict(G.state_dict())
    with torch.no_grad():
        for p in G_ema.parameters():
            p.mul_(0.5).add_(0.25)  # so G and G_ema differ everywhere
    nets = dict(G=G, D=D, G_ema=G_ema)
    for net in nets.values():
        net.eval().requires_grad_(False)
    snapshot = dict(training_set_kwargs=dict(class_name='training.dataset.ImageFolderDataset',
                                             path='tiny.zip', use_labels=False, max_size=8,
                                             xflip=False, resolution=8),
                    G=G, D=D, G_ema=G_ema, augment_pipe=None)
    data = {p: pickle.dumps(snapshot, protocol=p) for p in (3, 4)}
    lines = ['# net name ndim dims... sum wsum (see make_pkl.py)\n']
    for key, net in nets.items():
        for name, t in net.state_dict().items():
            lines.append(expect_line(key, name, t.numpy()))
    # Self-check: Python reads back what we expect (with the stand-in reconstruct).
    for blob in data.values():
        back = pickle.loads(blob)
        assert back['G_ema'].meta['class_name'] == 'Generator'
    return data, ''.join(lines)


# ---- tiny_tf.pkl -------------------------------------------------------------------------------
network = register_module('dnnlib.tflib.network')


class Network:
    """Stand-in for dnnlib.tflib.network.Network: only its pickled state matters."""

    def __init__(self, name, static_kwargs, components, variables):
        self.name, self.static_kwargs = name, static_kwargs
        self.components, self.variables = components, variables

    def __getstate__(self):
        return dict(version=4, name=self.name, static_kwargs=dict(self.static_kwargs),
                    components=dict(self.components), build_module_src='# stand-in\n',
                    build_func_name='G_main' if self.name.startswith('G') else 'D_stylegan2',
                    variables=list(self.variables))


Network.__module__ = 'dnnlib.tflib.network'
network.Network = Network


def tfvar(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def make_tf_G(name):
    C = 4
    mapping = Network(name + '_mapping', dict(dlatent_size=4, mapping_layers=2), {}, [
        ('Dense0/weight', tfvar(4, 4)), ('Dense0/bias', tfvar(4)),
        ('Dense1/weight', tfvar(4, 4)), ('Dense1/bias', tfvar(4))])
    synthesis = Network(name + '_synthesis', dict(resolution=8, fmap_base=8, fmap_max=4), {}, [
        ('4x4/Const/const', tfvar(1, C, 4, 4)),
        ('4x4/Conv/weight', tfvar(3, 3, C, C)), ('4x4/Conv/mod_weight', tfvar(4, C)),
        ('4x4/Conv/mod_bias', tfvar(C)), ('4x4/Conv/noise_strength', np.float32(0.25) * np.ones((), np.float32)),
        ('4x4/Conv/bias', tfvar(C)),
        ('4x4/ToRGB/weight', tfvar(1, 1, C, 3)), ('4x4/ToRGB/bias', tfvar(3)),
        ('8x8/Conv0_up/weight', tfvar(3, 3, C, 2)), ('8x8/Conv1/weight', tfvar(3, 3, 2, 2)),
        ('noise0', tfvar(1, 1, 4, 4)), ('noise1', tfvar(1, 1, 8, 8))])
    kwargs = dict(latent_size=4, label_size=0, dlatent_size=4, resolution=8, num_channels=3,
                  mapping_layers=2, fmap_base=8, fmap_max=4, mapping_lrmul=0.01,
                  architecture='skip', resample_kernel=[1, 3, 3, 1], truncation_psi=0.5)
    return Network(name, kwargs, dict(mapping=mapping, synthesis=synthesis),
                   [('dlatent_avg', tfvar(4))])


def make_tf():
    G, Gs = make_tf_G('G'), make_tf_G('Gs')
    D = Network('D', dict(resolution=8, num_channels=3, fmap_base=8, fmap_max=4,
                          mbstd_group_size=4, architecture='resnet'), {}, [
        ('8x8/FromRGB/weight', tfvar(1, 1, 3, 2)), ('8x8/FromRGB/bias', tfvar(2)),
        ('8x8/Conv0/weight', tfvar(3, 3, 2, 2)), ('8x8/Conv1_down/weight', tfvar(3, 3, 2, 4)),
        ('4x4/Dense0/weight', tfvar(64, 4)), ('Output/weight', tfvar(4, 1)), ('Output/bias', tfvar(1))])
    data = pickle.dumps((G, D, Gs), protocol=3)
    lines = ['# net name ndim dims... sum wsum (see make_pkl.py)\n']

    def collect(key, prefix, net):  # own variables first, then components (as legacy.py does)
        for n, v in net.variables:
            lines.append(expect_line(key, prefix + n, v))
        for cname, comp in net.components.items():
            collect(key, prefix + cname + '/', comp)
    for key, net in (('G', G), ('D', D), ('Gs', Gs)):
        collect(key, '', net)
    return data, ''.join(lines)


# ---- tiny_dtypes_pN.pkl --------------------------------------------------------------------------
def make_dtypes():
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) * 0.25 - 2
    shared = randn(10)
    d = collections.OrderedDict()
    d['f32'] = randn(2, 3, 5)
    d['f16'] = (randn(3, 7) * 10).half()
    d['f64'] = randn(5).double()
    d['i64'] = torch.tensor([[-3, 0, 7], [1 << 20, -(1 << 20), 5]], dtype=torch.int64)
    d['u8'] = torch.tensor([0, 1, 127, 128, 255], dtype=torch.uint8)
    d['view'] = base[1:, ::2]             # offset 6, strides (6, 2)
    d['transposed'] = base.t()            # strides (1, 6)
    d['param'] = torch.nn.Parameter(randn(3, 2), requires_grad=False)
    d['scalar'] = torch.tensor(-1.5)
    d['shared_a'] = shared[:4]
    d['shared_b'] = shared[4:].reshape(3, 2)
    d['np_f32'] = RNG.standard_normal((3, 4)).astype(np.float32)
    d['np_f16'] = (RNG.standard_normal(6) * 100).astype(np.float16)
    d['np_fortran'] = np.asfortranarray(RNG.standard_normal((3, 5)).astype(np.float32))
    d['np_i64'] = np.array([[1, -2], [3, -4]], dtype=np.int64)
    d['np_f64_scalar'] = np.array(2.75)   # 0-d array
    lines = ['# net name ndim dims... sum wsum (see make_pkl.py)\n']
    for k, v in d.items():
        arr = v.detach().float().numpy() if isinstance(v, torch.Tensor) else v.astype(np.float32)
        lines.append(expect_line('-', k, arr))
    return {p: pickle.dumps(d, protocol=p) for p in (2, 4, 5)}, ''.join(lines)


# ---- tiny_values.pkl, tiny_wrongclass.pkl, tiny_evil.pkl ----------------------------------------
def make_values():
    shared = [1, 2]
    v = dict(small=5, neg=-7, i16=40000, i32=-(1 << 31), i64=(1 << 62) + 3, neg64=-(1 << 63),
             big=(1 << 70) + 1, flt=-0.3125, text='h\u00e9llo', raw=b'\x00\x01\xff',
             arr=bytearray(b'xyz'), tup=(1, 'a', None), lst=[True, False, 2.5],
             st={7}, fst=frozenset({8}), nested=dict(a=dict(b=[shared, shared])), empty=())
    return pickle.dumps(v, protocol=5)


class Evil:
    def __reduce__(self):
        return (os.system, ('touch /tmp/sg2_pickle_pwned',))


def make_evil():
    layer = FullyConnectedLayer(2, 2)
    del layer._parameters['weight']
    layer._parameters['weight'] = Evil()  # where a tensor is expected
    data = pickle.dumps(dict(G_ema=layer), protocol=2)
    # os.system lives in the posix module; name it the way an attacker would.
    assert b'cposix\nsystem\n' in data
    return data.replace(b'cposix\nsystem\n', b'cos\nsystem\n')


def main():
    ada, ada_txt = make_ada()
    tf, tf_txt = make_tf()
    dt, dt_txt = make_dtypes()
    write('tiny_ada.pkl', ada[4])
    write('tiny_ada_p3.pkl', ada[3])
    write('tiny_ada.txt', ada_txt)
    write('tiny_tf.pkl', tf)
    write('tiny_tf.txt', tf_txt)
    for p, data in dt.items():
        write(f'tiny_dtypes_p{p}.pkl', data)
    write('tiny_dtypes.txt', dt_txt)
    write('tiny_values.pkl', make_values())
    wrong = dict(G=Generator(4, 0, 4, 8, 3, EasyDict(num_layers=1), EasyDict(channel_base=16, channel_max=4)),
                 G_ema=np.zeros(3, np.float32))
    write('tiny_wrongclass.pkl', pickle.dumps(wrong, protocol=4))
    write('tiny_evil.pkl', make_evil())


if __name__ == '__main__':
    main()
