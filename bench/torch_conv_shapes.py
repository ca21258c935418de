#!/usr/bin/env python3
"""PyTorch side of bench/shapes.py: one Conv2d + ReLU per shape, timed as bench/conv_shapes does.

  /usr/bin/python3 bench/torch_conv_shapes.py [--threads 2] [--batch 128] [--rows 0,5,7]
      [--shapes FILE] [--conv-shapes build-speed/bench/conv_shapes] [--min-time 0.25]
      [--min-iters 5] [--warmup 2]

The rows come from `conv_shapes --list` (JSON lines; --shapes FILE reads them from
a file), so both frameworks time one table. Per row, as in conv_shapes.cpp:
training = forward (torch.relu(conv(x))) and backward with dx of a batch of 128
(no dx for one input channel, a first layer), gradients set to None before each
step so backward writes them; the weights get an untimed ±1e-4 nudge between
steps like digitnet's; latency = one image under torch.no_grad(). Weights are
glorot-uniform and biases zero (Keras' initialisers, as digitnet's), x uniform in
[0, 1), dy in [-1, 1); float32, NCHW, torch.set_num_threads(threads).
'same' is padding (k - 1) / 2 on every side: the output size TensorFlow's 'same'
gives, stride 2 included, though TensorFlow puts an odd padding row at the
bottom (the same work, the grid one pixel apart).
Prints one JSON line per row (same keys as conv_shapes).
"""
import argparse
import json
import os
import subprocess
import time

import torch
import torch.nn as nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def median_seconds(once, warmup, min_iters, min_time):
    for _ in range(warmup):
        once()
    times = []
    while len(times) < min_iters or sum(times) < min_time:
        times.append(once())
    times.sort()
    return times[len(times) // 2]


def run_row(r, a):
    k, stride, cin, cout, h = r["k"], r["stride"], r["cin"], r["cout"], r["h"]
    pad = (k - 1) // 2 if r["padding"] == "same" else 0
    conv = nn.Conv2d(cin, cout, k, stride=stride, padding=pad)
    nn.init.xavier_uniform_(conv.weight)
    nn.init.zeros_(conv.bias)
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(a.batch, cin, h, h, generator=gen)
    first = cin == 1  # a first layer: no dx
    x.requires_grad_(not first)
    with torch.no_grad():
        oh = conv(x[:1]).shape[-1]
    if oh != r["oh"]:
        raise SystemExit(f"row {r['row']}: output {oh}, conv_shapes says {r['oh']}")
    dy = torch.rand(a.batch, cout, oh, oh, generator=gen) * 2 - 1
    step = [0]

    def train_step():
        nudge = 1e-4 if step[0] % 2 == 0 else -1e-4
        step[0] += 1
        with torch.no_grad():
            for p in conv.parameters():
                p.add_(nudge)
        conv.weight.grad = None
        conv.bias.grad = None
        x.grad = None
        t0 = time.perf_counter()
        y = torch.relu(conv(x))
        y.backward(dy)
        return time.perf_counter() - t0

    train_s = median_seconds(train_step, a.warmup, a.min_iters, a.min_time)

    x1 = x[:1].detach().clone()

    def infer():
        with torch.no_grad():
            t0 = time.perf_counter()
            torch.relu(conv(x1))
            return time.perf_counter() - t0

    lat_s = median_seconds(infer, 10, 50, min(a.min_time, 0.1))
    macs = oh * oh * cout * cin * k * k
    out = {"framework": "pytorch"}
    out.update({key: r[key] for key in ("row", "k", "padding", "stride", "cin", "cout", "h", "oh")})
    out.update({"threads": a.threads, "batch": a.batch, "micro_batch": a.batch,
                "train_images_per_s": a.batch / train_s, "train_ms": 1e3 * train_s,
                "train_gflops": (4.0 if first else 6.0) * macs * a.batch / train_s / 1e9,
                "latency_us": 1e6 * lat_s, "latency_images_per_s": 1.0 / lat_s,
                "torch": torch.__version__})
    print(json.dumps(out), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--rows", default=None, help="comma-separated row indices (default all)")
    ap.add_argument("--shapes", default=None, help="JSON lines of `conv_shapes --list`")
    ap.add_argument("--conv-shapes", default=os.path.join(ROOT, "build-speed", "bench", "conv_shapes"))
    ap.add_argument("--min-time", type=float, default=0.25)
    ap.add_argument("--min-iters", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.shapes:
        with open(a.shapes) as f:
            text = f.read()
    else:
        text = subprocess.run([a.conv_shapes, "--list"], check=True, capture_output=True,
                              text=True).stdout
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    if a.rows is not None:
        wanted = {int(i) for i in a.rows.split(",")}
        rows = [r for r in rows if r["row"] in wanted]
    for r in rows:
        run_row(r, a)


if __name__ == "__main__":
    main()
