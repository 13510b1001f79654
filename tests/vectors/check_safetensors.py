#!/usr/bin/env python3
"""Interoperability of src/safetensors.c with the Python `safetensors` package.

Needs `pip install safetensors numpy`; `make check` never runs this.

  check_safetensors.py make tests/vectors/st_python.safetensors
      Write the small file tests/test_io.c reads back (test_st_python_file):
      'a' F32 [2, 3] = float32(i * 0.1 - 0.25), 'b' F16 [6], 'c' F64 [3], and
      metadata {'format': 'pt', 'note': 'made by check_safetensors.py'}.

  SG2_TEST_IO_OUT=/tmp/c.safetensors tests/test_io
  check_safetensors.py check /tmp/c.safetensors
      Check that Python reads what our writer wrote (test_st_python_reads_ours
      keeps its file at $SG2_TEST_IO_OUT): exact values, shapes, metadata.
"""
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

B_F16 = [-2.5, 0.0, 1.0 / 3.0, 65504.0, 2.0 ** -24, -np.inf]
C_F64 = [1.0 / 3.0, 1e-40, -1e300]


def make(path):
    tensors = {
        "a": (np.arange(6, dtype=np.float64) * 0.1 - 0.25).astype(np.float32).reshape(2, 3),
        "b": np.array(B_F16, dtype=np.float16),
        "c": np.array(C_F64, dtype=np.float64),
    }
    save_file(tensors, path, metadata={"format": "pt", "note": "made by check_safetensors.py"})


def expected_ours():
    # Must match test_st_python_reads_ours in tests/test_io.c.
    n = 3 * 4 * 5
    return {
        "synthesis.b4.conv1.weight": (np.arange(n, dtype=np.float64) * 0.01 - 0.3).astype(np.float32).reshape(3, 4, 5),
        "scalar": np.array(42.5, dtype=np.float32),
        "empty": np.zeros((0, 3), dtype=np.float32),
        "mapping.w_avg": (np.arange(5, dtype=np.float64) ** 2 * 1.5).astype(np.float32),
    }, {"config": '{"z_dim": 512, "note": "\u00e9t\u00e9"}', "kimg": "12.5"}


def check(path):
    want, want_meta = expected_ours()
    got = load_file(path)
    assert set(got) == set(want), "names differ: %s vs %s" % (sorted(got), sorted(want))
    for name, w in want.items():
        g = got[name]
        assert g.dtype == np.float32, "%s: dtype %s" % (name, g.dtype)
        assert g.shape == w.shape, "%s: shape %s vs %s" % (name, g.shape, w.shape)
        assert np.array_equal(g, w), "%s: values differ" % name
    with safe_open(path, framework="np") as f:
        meta = f.metadata()
    assert meta == want_meta, "metadata %r vs %r" % (meta, want_meta)
    print("%s: Python safetensors reads %d tensors and %d metadata keys exactly" % (path, len(got), len(meta)))


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("make", "check"):
        sys.exit(__doc__)
    (make if sys.argv[1] == "make" else check)(sys.argv[2])


if __name__ == "__main__":
    main()
