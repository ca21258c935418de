#!/usr/bin/env python3
"""PyTorch side of bench/compare.py: the same networks, batch, optimizer.

Networks (as bench/train_bench.cpp builds them, where its header describes them):
K classic Keras CNN, S tutorial CNN, L LeNet-5, M tutorial MLP (the reference
four); T TensorFlow's deep-MNIST CNN (5x5 'same'), V VGG-like 3x3 'same' stack,
D stride-2 downsampling, B batch normalisation, N 1x1 convolutions.

Run with Debian's interpreter (python3-torch):
  /usr/bin/python3 bench/torch_bench.py --net K [--threads 2] [--steps 30]
Prints one JSON object (same keys as train_bench). The training set is kept as
uint8 and converted to [0, 1] floats per batch, like digitnet.
"""
import argparse
import json
import os
import resource
import time

import numpy as np
import torch
import torch.nn as nn


def read_idx(path):
    with open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def make_net(name):
    if name == "K":
        return nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Dropout(0.25), nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(128, 10))
    if name == "S":
        return nn.Sequential(
            nn.Conv2d(1, 64, 3), nn.ReLU(), nn.Conv2d(64, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 12 * 12, 10))
    if name == "L":
        return nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.Tanh(), nn.AvgPool2d(2), nn.Conv2d(6, 16, 5),
            nn.Tanh(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.Tanh(),
            nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, 10))
    if name == "M":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    if name == "T":
        return nn.Sequential(
            nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(64 * 7 * 7, 1024), nn.ReLU(), nn.Dropout(0.5), nn.Linear(1024, 10))
    if name == "V":
        return nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2), nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))
    if name == "D":
        # padding 1 on both sides: TensorFlow's 'same' output size for stride 2 (it pads
        # the odd row at the bottom only; the same work)
        return nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 64, 3, stride=2, padding=1),
            nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
            nn.Conv2d(64, 128, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
            nn.Linear(128 * 7 * 7, 10))
    if name == "B":
        # Keras' BatchNormalization: momentum 0.99 (PyTorch's 0.01), epsilon 1e-3
        return nn.Sequential(
            nn.Conv2d(1, 32, 3, bias=False), nn.BatchNorm2d(32, eps=1e-3, momentum=0.01),
            nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3, bias=False),
            nn.BatchNorm2d(64, eps=1e-3, momentum=0.01), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 5 * 5, 128), nn.ReLU(), nn.Linear(128, 10))
    if name == "N":
        return nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 1), nn.ReLU(),
            nn.MaxPool2d(2), nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 1),
            nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 7 * 7, 10))
    raise SystemExit("unknown net " + name)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--net", default="K")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--infer-reps", type=int, default=5)
    ap.add_argument("--data-dir", default=os.path.expanduser("~/.cache/digitnet/mnist"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(42)
    train_x = torch.from_numpy(read_idx(os.path.join(a.data_dir, "train-images-idx3-ubyte")).copy())
    train_y = torch.from_numpy(
        read_idx(os.path.join(a.data_dir, "train-labels-idx1-ubyte")).astype(np.int64))
    test_x = torch.from_numpy(read_idx(os.path.join(a.data_dir, "t10k-images-idx3-ubyte")).copy())
    model = make_net(a.net)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    order = torch.randperm(train_x.shape[0])
    cursor = [0]

    def batch():
        if cursor[0] + a.batch > order.numel():
            cursor[0] = 0
        idx = order[cursor[0]:cursor[0] + a.batch]
        cursor[0] += a.batch
        return train_x[idx].unsqueeze(1).float().div_(255.0), train_y[idx]

    def step():
        x, y = batch()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return float(loss)

    model.train()
    for _ in range(a.warmup):
        loss = step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        loss = step()
    train_s = time.perf_counter() - t0
    train_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    model.eval()
    x1000 = test_x[:1000].unsqueeze(1).float().div_(255.0)
    x1 = test_x[:1].unsqueeze(1).float().div_(255.0)
    t1000, t1 = [], []
    with torch.no_grad():
        torch.softmax(model(x1000), 1)
        for _ in range(a.infer_reps):
            t = time.perf_counter()
            torch.softmax(model(x1000), 1)
            t1000.append(time.perf_counter() - t)
        for _ in range(5):
            torch.softmax(model(x1), 1)
        start = time.perf_counter()  # up to 100 calls or 3 s, at least 5 calls
        while len(t1) < 5 or (len(t1) < 100 and time.perf_counter() - start < 3.0):
            t = time.perf_counter()
            torch.softmax(model(x1), 1)
            t1.append(time.perf_counter() - t)
    t1000.sort()
    t1.sort()
    print(json.dumps({
        "framework": "pytorch", "net": a.net, "threads": a.threads, "batch": a.batch,
        "steps": a.steps, "train_images_per_s": a.steps * a.batch / train_s,
        "infer1000_images_per_s": 1000.0 / t1000[len(t1000) // 2],
        "latency1_ms": 1e3 * t1[len(t1) // 2],
        "peak_rss_mb": train_rss_mb,
        "final_loss": loss, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
