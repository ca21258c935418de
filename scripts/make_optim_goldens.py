#!/usr/bin/python3
"""Generates PyTorch reference values for the loss / optimizer / schedule tests.

Run with the system interpreter that has torch:
    /usr/bin/python3 scripts/make_optim_goldens.py
Writes tests/data/golden_optim/{losses,optimizers,schedules}.json. The C++
tests read only the JSON; they never need PyTorch.

Mapping notes (Keras semantics implemented by digitnet vs torch.optim):
  * SGD momentum: Keras keeps v = mu*v - lr*g, w += v; torch keeps
    b = mu*b + g, w -= lr*b. With a constant lr, v == -lr*b, so the parameter
    trajectories are identical (also for Nesterov: w += mu*v - lr*g equals
    torch's w -= lr*(g + mu*b)). Weight decay is L2 on the gradient in both.
  * Adam: torch divides by sqrt(v_hat) + eps exactly like digitnet (eps is
    passed explicitly: 1e-7 as in Keras). torch's weight_decay is L2.
  * AdamW: torch applies w *= 1 - lr*wd before the Adam step; digitnet the same.
  * RMSprop: torch's alpha is Keras' rho; momentum buffer b = mu*b + g/(sqrt+eps)
    with w -= lr*b equals Keras' mom = mu*mom + lr*g/(sqrt+eps) for constant lr.
  * Schedules: torch.optim.lr_scheduler.OneCycleLR(anneal_strategy='cos',
    three_phase=False); the lr before step k is recorded.
"""
import json
import os

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "golden_optim")


def rounded(values):
    return [float(v) for v in values]


def make_losses():
    gen = torch.Generator().manual_seed(1234)
    cases = []
    n, k = 5, 4
    logits = (torch.randn(n, k, generator=gen, dtype=torch.float64) * 3.0)
    labels = torch.randint(0, k, (n,), generator=gen)
    soft = torch.softmax(torch.randn(n, k, generator=gen, dtype=torch.float64), dim=1)
    for eps in (0.0, 0.1, 0.25):
        z = logits.clone().requires_grad_(True)
        loss = F.cross_entropy(z, labels, label_smoothing=eps)
        loss.backward()
        cases.append({
            "kind": "sparse", "label_smoothing": eps, "n": n, "k": k,
            "logits": rounded(logits.flatten()), "labels": labels.tolist(),
            "loss": float(loss), "grad": rounded(z.grad.flatten()),
        })
        z = logits.clone().requires_grad_(True)
        loss = F.cross_entropy(z, soft, label_smoothing=eps)
        loss.backward()
        cases.append({
            "kind": "soft", "label_smoothing": eps, "n": n, "k": k,
            "logits": rounded(logits.flatten()), "targets": rounded(soft.flatten()),
            "loss": float(loss), "grad": rounded(z.grad.flatten()),
        })
    return cases


def run_optimizer(make, w0, grads):
    w = torch.tensor(w0, dtype=torch.float32, requires_grad=True)
    opt = make([w])
    traj = []
    for g in grads:
        opt.zero_grad()
        w.grad = torch.tensor(g, dtype=torch.float32)
        opt.step()
        traj.append(rounded(w.detach()))
    return traj


def make_optimizers():
    w0 = [0.5, -1.25, 2.0]
    grads = [[0.1, -0.4, 0.25], [0.3, 0.2, -0.5], [-0.2, 0.05, 0.6], [0.7, -0.1, 0.0]]
    o = torch.optim
    specs = [
        ("sgd", {"learning_rate": 0.1, "momentum": 0.0, "nesterov": False, "weight_decay": 0.0},
         lambda p: o.SGD(p, lr=0.1)),
        ("sgd", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": False, "weight_decay": 0.0},
         lambda p: o.SGD(p, lr=0.1, momentum=0.9)),
        ("sgd", {"learning_rate": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.01},
         lambda p: o.SGD(p, lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01)),
        ("adam", {"learning_rate": 0.01, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
                  "weight_decay": 0.0},
         lambda p: o.Adam(p, lr=0.01, betas=(0.9, 0.999), eps=1e-7)),
        ("adam", {"learning_rate": 0.02, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-7,
                  "weight_decay": 0.05},
         lambda p: o.Adam(p, lr=0.02, betas=(0.8, 0.99), eps=1e-7, weight_decay=0.05)),
        ("adamw", {"learning_rate": 0.01, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
                   "weight_decay": 0.004},
         lambda p: o.AdamW(p, lr=0.01, betas=(0.9, 0.999), eps=1e-7, weight_decay=0.004)),
        ("adamw", {"learning_rate": 0.05, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
                   "weight_decay": 0.1},
         lambda p: o.AdamW(p, lr=0.05, betas=(0.9, 0.999), eps=1e-7, weight_decay=0.1)),
        ("rmsprop", {"learning_rate": 0.01, "rho": 0.9, "momentum": 0.0, "epsilon": 1e-7,
                     "weight_decay": 0.0},
         lambda p: o.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-7)),
        ("rmsprop", {"learning_rate": 0.01, "rho": 0.8, "momentum": 0.5, "epsilon": 1e-7,
                     "weight_decay": 0.02},
         lambda p: o.RMSprop(p, lr=0.01, alpha=0.8, eps=1e-7, momentum=0.5, weight_decay=0.02)),
    ]
    return [{"name": name, "config": cfg, "w0": w0, "grads": grads,
             "trajectory": run_optimizer(make, w0, grads)} for name, cfg, make in specs]


def make_schedules():
    cases = []
    for total, pct, div, final_div, max_lr in ((100, 0.3, 25.0, 1e4, 0.1),
                                               (37, 0.25, 10.0, 100.0, 0.01)):
        w = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([w], lr=max_lr)
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=max_lr, total_steps=total, pct_start=pct, div_factor=div,
            final_div_factor=final_div, anneal_strategy="cos", three_phase=False,
            cycle_momentum=False)
        lrs = []
        for _ in range(total):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        cases.append({"name": "one_cycle", "total_steps": total, "base_lr": max_lr,
                      "config": {"pct_start": pct, "div_factor": div,
                                 "final_div_factor": final_div},
                      "lr": rounded(lrs)})
    return cases


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in (("losses", make_losses()), ("optimizers", make_optimizers()),
                       ("schedules", make_schedules())):
        with open(os.path.join(OUT, name + ".json"), "w") as f:
            json.dump({"generator": "scripts/make_optim_goldens.py", "torch": torch.__version__,
                       "cases": data}, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
