#!/usr/bin/python3
"""Known answers for src/np_random.c from numpy's legacy RandomState.

Run with Debian's python3 (numpy 1.24; the legacy stream is frozen, so any
numpy >= 1.17 gives the same numbers):
    /usr/bin/python3 tests/vectors/make_np_random.py > tests/vectors/np_random.txt

Every value is printed with '%.17g' so tests/test_io.c can compare its own
'%.17g' text (and the parsed bits) exactly. Format, one record a line:
    sg2-np-random 1                      magic and version
    seed S                               starts a block for RandomState(S)
    sample K v...                        first K random_sample() of a fresh state
    randn N head K v...                  randn(1, N) of a fresh state: first K ...
    randn N tail K v...                  ... and last K values
    randn N sum v                        sum of all N in index order (float64)
    mixed v...                           fresh state: randn(3), random_sample(),
                                         randn(2) (the cached normal survives)
"""
import sys

import numpy as np

SEEDS = [0, 1, 42, 85, 4294967295]
N = 512
K = 16
N_SAMPLE = 8


def fmt(values):
    return " ".join("%.17g" % float(v) for v in values)


def main():
    out = sys.stdout
    out.write("sg2-np-random 1\n")
    out.write("# made by tests/vectors/make_np_random.py with numpy %s\n" % np.__version__)
    for seed in SEEDS:
        out.write("seed %d\n" % seed)
        rs = np.random.RandomState(seed)
        out.write("sample %d %s\n" % (N_SAMPLE, fmt(rs.random_sample(N_SAMPLE))))
        z = np.random.RandomState(seed).randn(1, N)[0]
        out.write("randn %d head %d %s\n" % (N, K, fmt(z[:K])))
        out.write("randn %d tail %d %s\n" % (N, K, fmt(z[-K:])))
        total = 0.0
        for v in z:
            total += float(v)
        out.write("randn %d sum %s\n" % (N, fmt([total])))
        # MIXED: an odd randn leaves a cached normal that survives a uniform
        # draw and is returned by the next randn.
        rs = np.random.RandomState(seed)
        mixed = list(rs.randn(3)) + [rs.random_sample()] + list(rs.randn(2))
        out.write("mixed %s\n" % fmt(mixed))


if __name__ == "__main__":
    main()
