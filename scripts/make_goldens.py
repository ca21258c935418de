#!/usr/bin/env python3
"""Known-value goldens for the layer tests, computed with PyTorch in float64.

Run with the system interpreter that has torch:
    /usr/bin/python3 scripts/make_goldens.py
It writes tests/data/golden/layers.json. Inputs, weights and upstream gradients
come from a small portable generator (no torch RNG), rounded to float32 so the
C++ side sees exactly the same numbers. Every case gives the layer type and its
config (as make_layer() takes them), the per-sample input shape, x, parameters,
initial buffers, the upstream gradient dy, and the expected y, dx, parameter
gradients and (for BatchNorm) the buffers after the forward pass.

Conventions mirrored from digitnet (Keras semantics, PyTorch layouts):
  Dense kernel (in, units); Conv2D kernel (filters, C, k, k);
  'same' padding = TensorFlow's: out = ceil(in/s), pad_total = max((out-1)s + k - in, 0),
  pad_before = pad_total // 2 (the extra row/column at the bottom/right), applied
  explicitly with F.pad; padded cells never win a max and are not counted in an average.
  BatchNormalization(momentum m) = torch batch_norm(momentum = 1 - m), unbiased running var.
"""
import json
import math
import os
import struct

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)


class Gen:
    """xorshift64* -> floats in [lo, hi), rounded to float32."""

    def __init__(self, seed):
        self.s = (seed * 0x9E3779B97F4A7C15 + 1) & 0xFFFFFFFFFFFFFFFF

    def next(self):
        x = self.s
        x ^= (x >> 12)
        x ^= (x << 25) & 0xFFFFFFFFFFFFFFFF
        x ^= (x >> 27)
        self.s = x
        return (x * 0x2545F4914F6CDD1D) & 0xFFFFFFFFFFFFFFFF

    def uniform(self, lo, hi):
        u = (self.next() >> 40) / float(1 << 24)
        v = lo + (hi - lo) * u
        return struct.unpack("f", struct.pack("f", v))[0]

    def tensor(self, shape, lo=-1.0, hi=1.0):
        n = math.prod(shape)
        return torch.tensor([self.uniform(lo, hi) for _ in range(n)]).reshape(shape)


def enc(t):
    t = t.detach().to(torch.float64)
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def same_pad(size, k, s):
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return out, total // 2, total - total // 2


def pad_hw(x, k, s, padding, value=0.0):
    if padding == "valid":
        return x
    _, t, b = same_pad(x.shape[2], k, s)
    _, l, r = same_pad(x.shape[3], k, s)
    return F.pad(x, (l, r, t, b), value=value)


def act(z, name, alpha=0.3):
    return {
        "linear": lambda v: v,
        "relu": F.relu,
        "leaky_relu": lambda v: F.leaky_relu(v, alpha),
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "softmax": lambda v: torch.softmax(v, dim=1),
    }[name](z)


def finish(case, x, y, params, dy_gen):
    """Backward with a deterministic dy; records y, dy, dx and parameter grads."""
    dy = dy_gen.tensor(list(y.shape))
    leaves = [x] + [p for _, p in params]
    grads = torch.autograd.grad(y, leaves, dy)
    case["x"] = enc(x)
    case["y"] = enc(y)
    case["dy"] = enc(dy)
    case["dx"] = enc(grads[0])
    case["params"] = {name: enc(p) for name, p in params}
    case["grads"] = {name: enc(g) for (name, _), g in zip(params, grads[1:])}
    return case


def dense_case(activation, seed):
    g = Gen(seed)
    n, fin, units = 3, 5, 4
    x = g.tensor([n, fin]).requires_grad_()
    w = g.tensor([fin, units]).requires_grad_()
    b = g.tensor([units], -0.5, 0.5).requires_grad_()
    y = act(x @ w + b, activation)
    case = {"name": "dense_" + activation, "type": "Dense",
            "config": {"units": units, "activation": activation, "use_bias": True},
            "input_shape": [fin], "training": True}
    return finish(case, x, y, [("kernel", w), ("bias", b)], g)


def conv_case(name, c, h, w_, filters, k, stride, padding, activation, seed, use_bias=True):
    g = Gen(seed)
    n = 2
    x = g.tensor([n, c, h, w_]).requires_grad_()
    w = g.tensor([filters, c, k, k], -0.5, 0.5).requires_grad_()
    b = g.tensor([filters], -0.5, 0.5).requires_grad_() if use_bias else None
    z = F.conv2d(pad_hw(x, k, stride, padding), w, b, stride=stride)
    y = act(z, activation)
    case = {"name": name, "type": "Conv2D",
            "config": {"filters": filters, "kernel_size": k, "activation": activation,
                       "strides": stride, "padding": padding, "use_bias": use_bias},
            "input_shape": [c, h, w_], "training": True}
    params = [("kernel", w)] + ([("bias", b)] if use_bias else [])
    return finish(case, x, y, params, g)


def pool_case(name, kind, c, h, w_, pool, stride, padding, seed):
    g = Gen(seed)
    n = 2
    x = g.tensor([n, c, h, w_]).requires_grad_()
    s = stride or pool
    if kind == "max":
        y = F.max_pool2d(pad_hw(x, pool, s, padding, value=-math.inf), pool, s)
        typ = "MaxPooling2D"
    else:
        total = F.avg_pool2d(pad_hw(x, pool, s, padding), pool, s)
        count = F.avg_pool2d(pad_hw(torch.ones_like(x), pool, s, padding), pool, s)
        y = total / count
        typ = "AveragePooling2D"
    case = {"name": name, "type": typ,
            "config": {"pool_size": pool, "strides": s, "padding": padding},
            "input_shape": [c, h, w_], "training": True}
    return finish(case, x, y, [], g)


def batchnorm_case(name, x_shape, training, seed, momentum=0.9, eps=1e-3):
    g = Gen(seed)
    x = g.tensor(x_shape, -2.0, 3.0).requires_grad_()
    ch = x_shape[1]
    gamma = g.tensor([ch], 0.5, 1.5).requires_grad_()
    beta = g.tensor([ch], -0.5, 0.5).requires_grad_()
    rm = g.tensor([ch], -0.2, 0.2)
    rv = g.tensor([ch], 0.5, 1.5)
    rm0, rv0 = rm.clone(), rv.clone()
    y = F.batch_norm(x, rm, rv, gamma, beta, training=training, momentum=1.0 - momentum, eps=eps)
    case = {"name": name, "type": "BatchNormalization",
            "config": {"momentum": momentum, "epsilon": eps},
            "input_shape": list(x_shape[1:]), "training": training,
            # moving_weight 1: settled averages, whose update is PyTorch's fixed momentum
            "buffers": {"moving_mean": enc(rm0), "moving_variance": enc(rv0),
                        "moving_weight": enc(torch.ones(1))},
            "buffers_after": {"moving_mean": enc(rm), "moving_variance": enc(rv),
                              "moving_weight": enc(torch.ones(1))}}
    return finish(case, x, y, [("gamma", gamma), ("beta", beta)], g)


def activation_case(activation, shape, seed, alpha=0.3):
    g = Gen(seed)
    x = g.tensor(shape, -3.0, 3.0).requires_grad_()
    y = act(x, activation, alpha)
    case = {"name": "activation_" + activation, "type": "Activation",
            "config": {"activation": activation, "alpha": alpha},
            "input_shape": list(shape[1:]), "training": True}
    return finish(case, x, y, [], g)


def main():
    cases = []
    for i, a in enumerate(["linear", "relu", "leaky_relu", "sigmoid", "tanh", "softmax"]):
        cases.append(dense_case(a, 10 + i))
    cases += [
        conv_case("conv_valid", 2, 5, 6, 3, 3, 1, "valid", "linear", 20),
        conv_case("conv_valid_relu_nobias", 1, 6, 5, 2, 3, 1, "valid", "relu", 21, False),
        conv_case("conv_same", 2, 5, 6, 3, 3, 1, "same", "tanh", 22),
        conv_case("conv_same_k2", 2, 4, 5, 2, 2, 1, "same", "linear", 23),
        conv_case("conv_same_stride2", 2, 7, 6, 3, 3, 2, "same", "sigmoid", 24),
        conv_case("conv_valid_stride2", 3, 7, 8, 2, 3, 2, "valid", "leaky_relu", 25),
        pool_case("maxpool_valid", "max", 2, 5, 5, 2, 0, "valid", 30),
        pool_case("maxpool_same_s2", "max", 2, 6, 5, 3, 2, "same", 31),
        pool_case("maxpool_same_odd", "max", 1, 5, 7, 2, 0, "same", 32),
        pool_case("avgpool_valid", "avg", 2, 5, 5, 2, 0, "valid", 33),
        pool_case("avgpool_same_s2", "avg", 2, 6, 5, 3, 2, "same", 34),
        pool_case("avgpool_same_odd", "avg", 1, 5, 7, 2, 0, "same", 35),
        batchnorm_case("batchnorm_image_train", [4, 3, 3, 2], True, 40),
        batchnorm_case("batchnorm_flat_train", [5, 4], True, 41),
        batchnorm_case("batchnorm_image_infer", [3, 2, 2, 3], False, 42),
        activation_case("softmax", [3, 6], 50),
        activation_case("leaky_relu", [2, 3, 4], 51, alpha=0.2),
        activation_case("sigmoid", [2, 7], 52),
        activation_case("tanh", [2, 2, 3], 53),
    ]
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "golden",
                       "layers.json")
    with open(out, "w") as f:
        # One case per line: small, and diffs stay readable.
        f.write('{"generator": "scripts/make_goldens.py", "torch": %s, "cases": [\n'
                % json.dumps(torch.__version__))
        f.write(",\n".join(json.dumps(c) for c in cases))
        f.write("\n]}\n")
    print(f"wrote {len(cases)} cases to {os.path.normpath(out)}")


if __name__ == "__main__":
    main()
