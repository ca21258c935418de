#!/usr/bin/env python3
"""Fits the rational tanh of src/core/kernels.cpp (the AVX-512 path).

tanh x = x * P(x^2) / Q(x^2) on [0, C], P and Q of degree 4 in x^2 with
P(0) = Q(0) = 1, C = 9.0111 (past it tanh rounds to 1 in float). The fit is a
linearised least-squares problem in relative error, reweighted (Lawson) towards
minimax; it prints the coefficients rounded to float and the worst relative
error of the float evaluation (Horner, as the kernel does) on a fine grid.
The kernel (rcp14 + Newton instead of a division) measured 2.8 ulp over every
float in [0, 12]; tests/test_core_kernels_fast.cpp sweeps every 997th.

Usage: /usr/bin/python3 scripts/fit_tanh.py   (needs numpy: python3-numpy)
"""
import numpy as np

C, M, N = 9.0111, 4, 4


def fit(iters=80):
    x = np.concatenate([np.linspace(1e-4, C, 40000), np.geomspace(1e-6, 0.5, 4000)])
    t, g = x * x, np.tanh(x) / x
    weight, q_prev, best = np.ones_like(x), np.ones_like(x), None
    for it in range(iters):
        a = np.concatenate([np.stack([t**k for k in range(M + 1)], 1),
                            -np.stack([g * t**k for k in range(1, N + 1)], 1)], 1)
        w = np.sqrt(weight) / (g * q_prev)
        sol, *_ = np.linalg.lstsq(a * w[:, None], g * w, rcond=None)
        p, q = sol[:M + 1], np.concatenate([[1.0], sol[M + 1:]])
        q_prev = np.polyval(q[::-1], t)
        err = np.abs((np.polyval(p[::-1], t) / q_prev - g) / g)
        if best is None or err.max() < best[0]:
            best = (err.max(), p.copy(), q.copy())
        if it > 5:
            weight = weight * err
            weight /= weight.sum()
    return best


def horner(c, t):
    acc = c[-1]
    for k in range(len(c) - 2, -1, -1):
        acc = (acc * t + c[k]).astype(np.float32)
    return acc


def main():
    e, p, q = fit()
    pf, qf = p.astype(np.float32), q.astype(np.float32)
    print("fit: max relative error %.3g" % e)
    print("P (x^0 .. x^8):", [float(v) for v in pf])
    print("Q (x^0 .. x^8):", [float(v) for v in qf])
    x = np.linspace(0, C, 2000001).astype(np.float32)[1:]
    t = (x * x).astype(np.float32)
    y = (x * horner(pf, t) / horner(qf, t)).astype(np.float32)
    ref = np.tanh(x.astype(np.float64))
    rel = np.abs(y - ref) / ref
    print("float evaluation: max relative error %.3g (%.2f ulp of 2^-23)" % (rel.max(), rel.max() / 2.0**-23))


if __name__ == "__main__":
    main()
