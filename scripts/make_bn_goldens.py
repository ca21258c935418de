#!/usr/bin/python3
"""PyTorch reference for BatchNormalization's moving statistics after training.

Run with the system interpreter that has torch:
    /usr/bin/python3 scripts/make_bn_goldens.py
It writes tests/data/golden/batchnorm_training.json, which tests/test_layers_batchnorm.cpp
reads (the tests never need PyTorch).

The network, in float64: Conv2D(4, 3x3, 'same', no bias) -> BatchNormalization(momentum
0.99, epsilon 1e-3) -> ReLU -> Flatten -> Dense(10) with softmax cross-entropy, Adam
(lr 1e-3, epsilon 1e-7), on 64 fixed 1x8x8 inputs in batches of 16 taken in turn.
Inputs, labels and initial weights come from the same portable generator as
make_goldens.py, rounded to float32, so the C++ side starts from the same numbers.
The convolution's weights are small, as Glorot's are for a first layer, so that
its outputs' variance (~0.01) is far below the initial moving variance of 1.

digitnet's moving averages are debiased (src/layers/batchnorm.cpp): with w the
averages' weight, w' = m*w + (1 - m) and the update momentum is m*w/w'. PyTorch
reads its module's `momentum` at every forward, so the reference sets it to
1 - m*w/w' before each step. The file records, after steps 1, 10 and 300, the
moving mean, the moving (unbiased) variance and w, and also what PyTorch's own
fixed-momentum averages would be after 300 steps (`pytorch_fixed_momentum`), to
show what the debiasing changes.
"""
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from make_goldens import Gen, enc

torch.set_default_dtype(torch.float64)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "golden", "batchnorm_training.json")

N, BATCH, STEPS, RECORD = 64, 16, 300, (1, 10, 300)
MOMENTUM, EPS, LR = 0.99, 1e-3, 1e-3


def run(debias, gen_seed=7):
    g = Gen(gen_seed)
    x = g.tensor((N, 1, 8, 8), 0.0, 1.0)
    y = torch.tensor([int(g.uniform(0.0, 10.0)) % 10 for _ in range(N)])
    conv = g.tensor((4, 1, 3, 3), -0.15, 0.15)
    dense_k = g.tensor((4 * 8 * 8, 10), -0.12, 0.12)  # digitnet's (in, units)
    dense_b = g.tensor((10,), -0.1, 0.1)
    initial = {"conv2d/kernel": enc(conv), "dense/kernel": enc(dense_k), "dense/bias": enc(dense_b)}

    c = nn.Conv2d(1, 4, 3, padding=1, bias=False)
    bn = nn.BatchNorm2d(4, eps=EPS, momentum=1 - MOMENTUM)
    d = nn.Linear(256, 10)
    with torch.no_grad():
        c.weight.copy_(conv)
        d.weight.copy_(dense_k.t())
        d.bias.copy_(dense_b)
    model = nn.Sequential(c, bn, nn.ReLU(), nn.Flatten(), d)
    opt = torch.optim.Adam(model.parameters(), lr=LR, eps=1e-7)
    w, after = 0.0, {}
    for step in range(1, STEPS + 1):
        w_new = min(1.0, MOMENTUM * w + (1 - MOMENTUM))
        if debias:
            bn.momentum = 1.0 - (MOMENTUM * w / w_new if w < 1.0 else MOMENTUM)
        w = w_new
        i = ((step - 1) % (N // BATCH)) * BATCH
        loss = F.cross_entropy(model(x[i:i + BATCH]), y[i:i + BATCH])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step in RECORD:
            after[str(step)] = {"moving_mean": enc(bn.running_mean),
                                "moving_variance": enc(bn.running_var),
                                "moving_weight": enc(torch.tensor([w])),
                                "loss": float(loss)}
    return x, y, initial, after


def main():
    x, y, initial, after = run(debias=True)
    fixed = run(debias=False)[3][str(STEPS)]
    out = {"momentum": MOMENTUM, "epsilon": EPS, "lr": LR, "batch": BATCH,
           "x": enc(x), "y": [int(v) for v in y], "initial": initial, "after": after,
           "pytorch_fixed_momentum": {str(STEPS): fixed}}
    with open(OUT, "w") as f:
        json.dump(out, f)
    print(f"wrote {OUT}; after {STEPS} steps: debiased var {after[str(STEPS)]['moving_variance']['data']}, "
          f"fixed-momentum var {fixed['moving_variance']['data']}")


if __name__ == "__main__":
    main()
