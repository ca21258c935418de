#!/usr/bin/env python3
"""A/B of two digitnet builds on the same networks, taking turns in one run.

  /usr/bin/python3 bench/ab/train_ab.py --old OLD/bench/train_bench --new NEW/bench/train_bench
                                        [--nets K,S,L,M] [--reps 7] [--steps 30] [--threads 2]

Build the old revision with `git worktree add /tmp/old REV` and a Release build
with -DDIGITNET_BUILD_BENCH=ON there. Each repetition runs, per network, the
old and the new train_bench one after the other (which goes first alternates),
so both see the same machine conditions; the figures are medians and the ratio
new/old of the medians (training images/s, inference at batch 1000, one-image
latency). An A/A run (the same driver twice) shows the harness's own spread.
"""
import argparse
import json
import statistics
import subprocess


def run(driver, net, a):
    cmd = [driver, "--net", net, "--steps", str(a.steps), "--threads", str(a.threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", required=True)
    ap.add_argument("--new", required=True)
    ap.add_argument("--nets", default="K,S,L,M")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    keys = [("train_images_per_s", "train img/s", True), ("infer1000_images_per_s", "infer img/s", True),
            ("latency1_ms", "latency ms", False)]
    res = {(n, side): {k: [] for k, _, _ in keys} for n in a.nets.split(",") for side in ("old", "new")}
    for rep in range(a.reps):
        for net in a.nets.split(","):
            order = ("old", "new") if rep % 2 == 0 else ("new", "old")
            for side in order:
                r = run(a.old if side == "old" else a.new, net, a)
                for k, _, _ in keys:
                    res[(net, side)][k].append(r[k])
    print(f"| net | figure | old (median) | new (median) | new/old |")
    print(f"|---|---|---|---|---|")
    for net in a.nets.split(","):
        for k, label, higher_better in keys:
            o = statistics.median(res[(net, "old")][k])
            n = statistics.median(res[(net, "new")][k])
            ratio = n / o if higher_better else o / n
            print(f"| {net} | {label} | {o:.4g} | {n:.4g} | {ratio:.3f} |")
    print("(new/old > 1: the new build is faster; latency as old/new)")


if __name__ == "__main__":
    main()
