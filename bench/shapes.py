#!/usr/bin/env python3
"""digitnet vs PyTorch on a table of convolution shapes, side by side in one run.

  /usr/bin/python3 bench/shapes.py [--reps 5] [--threads 2] [--rows 0,5,7] [--block 12]
                                   [--build build-speed] [--json bench/results/shapes.json]
                                   [--min-time 0.25] [--min-iters 5] [--target 2.5]
                                   [--quiet 0]

The table is bench/conv_shapes.cpp's (its header says why those rows). Every
repetition times each block of --block rows with digitnet (BUILD/bench/conv_shapes)
and with PyTorch (bench/torch_conv_shapes.py), one process each, in alternating
order (the order also alternates between blocks), so both frameworks see the
same stretch of this shared machine for the same rows. Per row: training images/s
of one Conv2D + ReLU layer (forward and backward with dx, batch 128) and the
latency of one image. Once per repetition it also measures the machine's sgemm
rate (BUILD/bench/train_bench --sgemm, both threads busy), to show how close
PyTorch's convolution already runs to it: a row's "direct ceiling" is that rate
over PyTorch's GFLOP/s, the largest ratio any algorithm that performs every
multiply-add of the convolution could reach (only Winograd-style algorithms,
which do fewer, can go past it). Prints a markdown table of medians, the ratio of medians
digitnet / PyTorch (latency: PyTorch's time over digitnet's, so > 1 is faster
too), the min–max of the per-repetition training ratios, and the rows below
--target; writes everything to --json. Absolute figures on a shared machine are
noise; the ratios are what is compared. Before every process the script samples
for a second how many cores other programs keep busy (recorded, and shown as a
median); with --quiet S it waits up to S seconds for that to fall below 0.3 of a
core: OpenMP's threads (PyTorch) wait for a descheduled partner a scheduler tick
at a time, so on a busy machine PyTorch's small steps take whole multiples of
4 ms, and digitnet's pool suffers less.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_lines(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def busy_cores(seconds=1.0):
    """Cores other programs kept busy over `seconds` (this script sleeps meanwhile)."""
    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]  # total and idle + iowait jiffies
    t0, i0 = sample()
    time.sleep(seconds)
    t1, i1 = sample()
    return (os.cpu_count() or 1) * (1.0 - (i1 - i0) / max(t1 - t0, 1))


def wait_quiet(limit):
    """Waits up to `limit` seconds for others to use under 0.3 of a core; the last reading."""
    start = time.monotonic()
    busy = busy_cores()
    while busy >= 0.3 and time.monotonic() - start < limit:
        time.sleep(4.0)
        busy = busy_cores()
    return busy


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rows", default=None, help="comma-separated row indices (default all)")
    ap.add_argument("--block", type=int, default=12, help="rows per process")
    ap.add_argument("--build", default=os.path.join(ROOT, "build-speed"))
    ap.add_argument("--json", default=os.path.join(ROOT, "bench", "results", "shapes.json"))
    ap.add_argument("--min-time", type=float, default=0.25)
    ap.add_argument("--min-iters", type=int, default=5)
    ap.add_argument("--target", type=float, default=2.5)
    ap.add_argument("--quiet", type=float, default=0.0,
                    help="seconds to wait for an idle machine before each process")
    a = ap.parse_args()
    dn = os.path.join(a.build, "bench", "conv_shapes")
    if not os.path.exists(dn):
        sys.exit(f"{dn} not found: cmake -B {a.build} -DDIGITNET_BUILD_BENCH=ON && "
                 f"cmake --build {a.build} --target conv_shapes")
    list_cmd = [dn, "--list"] + (["--rows", a.rows] if a.rows else [])
    table = run_lines(list_cmd)
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        f.write("".join(json.dumps(r) + "\n" for r in table))
        shapes_file = f.name
    timing = ["--threads", str(a.threads), "--min-time", str(a.min_time), "--min-iters",
              str(a.min_iters)]
    ids = [r["row"] for r in table]
    blocks = [ids[i:i + a.block] for i in range(0, len(ids), a.block)]
    res = {i: {"digitnet": [], "pytorch": []} for i in ids}
    sgemm = []  # the machine's sgemm GFLOP/s, once per repetition
    tb = os.path.join(a.build, "bench", "train_bench")
    busy = []  # cores other programs kept busy just before each process
    try:
        for rep in range(a.reps):
            for b, block in enumerate(blocks):
                rows = ",".join(map(str, block))
                order = ["digitnet", "pytorch"] if (rep + b) % 2 == 0 else ["pytorch", "digitnet"]
                for fw in order:
                    busy.append(wait_quiet(a.quiet))
                    if fw == "digitnet":
                        cmd = [dn, "--rows", rows] + timing
                    else:
                        cmd = ["/usr/bin/python3", os.path.join(ROOT, "bench", "torch_conv_shapes.py"),
                               "--shapes", shapes_file, "--rows", rows] + timing
                    for r in run_lines(cmd):
                        res[r["row"]][fw].append(r)
            if os.path.exists(tb):
                busy.append(wait_quiet(a.quiet))
                sgemm += [r["sgemm_gflops"] for r in run_lines([tb, "--sgemm", "--threads",
                                                                str(a.threads)])]
            print(f"repetition {rep + 1}/{a.reps} done (others busy before the last process: "
                  f"{busy[-1]:.2f} cores)", file=sys.stderr)
    finally:
        os.unlink(shapes_file)

    def med(i, fw, key):
        return statistics.median(r[key] for r in res[i][fw])

    lines = []
    p = lines.append
    p("| row | kernel | padding | stride | channels | plane | digitnet train img/s | "
      "PyTorch train img/s | train ratio | (min–max) | digitnet latency µs | "
      "PyTorch latency µs | latency ratio | PyTorch GFLOP/s | direct ceiling |")
    p("| ---: | --- | --- | ---: | --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    peak = statistics.median(sgemm) if sgemm else float("nan")
    below, slower_latency, summary = [], [], []
    for r in table:
        i = r["row"]
        dt, pt = med(i, "digitnet", "train_images_per_s"), med(i, "pytorch", "train_images_per_s")
        dl, pl = med(i, "digitnet", "latency_us"), med(i, "pytorch", "latency_us")
        per_rep = [d["train_images_per_s"] / t["train_images_per_s"]
                   for d, t in zip(res[i]["digitnet"], res[i]["pytorch"])]
        ratio, lat_ratio = dt / pt, pl / dl
        # FLOP per training image from digitnet's own count (both do the same work)
        flop = med(i, "digitnet", "train_gflops") / dt
        pt_gflops = flop * pt
        ceiling = peak / pt_gflops
        name = f"{r['k']}x{r['k']} {r['padding']} s{r['stride']} {r['cin']}->{r['cout']} @{r['h']}"
        if ratio < a.target:
            below.append(f"{name} ({ratio:.2f}×)")
        if lat_ratio < 1.0:
            slower_latency.append(f"{name} ({lat_ratio:.2f}×)")
        summary.append({"name": name, "train_ratio": ratio, "latency_ratio": lat_ratio,
                        "pytorch_gflops": pt_gflops, "direct_ceiling": ceiling})
        p(f"| {i} | {r['k']}×{r['k']} | {r['padding']} | {r['stride']} | {r['cin']}→{r['cout']} | "
          f"{r['h']}→{r['oh']} | {dt:.0f} | {pt:.0f} | {ratio:.2f}× | "
          f"{min(per_rep):.2f}–{max(per_rep):.2f} | {dl:.1f} | {pl:.1f} | {lat_ratio:.2f}× | {pt_gflops:.0f} | {ceiling:.2f}× |")
    p("")
    p(f"Training below {a.target}× PyTorch: {len(below)} of {len(table)} rows"
      + (": " + "; ".join(below) if below else ""))
    capped = [x for x in summary if x["direct_ceiling"] < a.target]
    p(f"sgemm on this machine: {peak:.0f} GFLOP/s (median of {len(sgemm)}). Rows whose direct "
      f"ceiling is below {a.target}× (PyTorch already runs within {a.target}× of sgemm): "
      f"{len(capped)} of {len(table)}")
    p(f"Latency slower than PyTorch: {len(slower_latency)} of {len(table)} rows"
      + (": " + "; ".join(slower_latency) if slower_latency else ""))
    p(f"Repetitions: {a.reps}; one Conv2D + ReLU, batch 128 (training: forward + backward with dx, "
      f"no dx for one input channel) and batch 1 (latency); {a.threads} threads; medians, "
      "ratios of medians.")
    p(f"Cores other programs kept busy before each process: median {statistics.median(busy):.2f}, "
      f"max {max(busy):.2f} (above ~0.3 the figures, PyTorch's most, are the machine's).")
    print("\n".join(lines))
    os.makedirs(os.path.dirname(a.json), exist_ok=True)
    with open(a.json, "w") as f:
        json.dump({"threads": a.threads, "reps": a.reps, "sgemm_gflops": sgemm, "others_busy_cores": busy, "table": table, "summary": summary,
                   "runs": {str(i): v for i, v in res.items()}, "report": lines}, f, indent=1)


if __name__ == "__main__":
    main()
