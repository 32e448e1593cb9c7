"""Train the direct network (:mod:`curvecast.forecasters.direct`), leave-source-out.

Reads the file of ``make_direct_set.py``. For each real source in turn a network is
trained without any run of it (``<out>_minus_<source>.npz``, used by
``benchmarks/bench_joint.py --methods direct``) and its forecasts of that source's final
values are kept; each held-out network is then recalibrated (a spread multiplier per
horizon bin) on the other sources' held-out forecasts, never its own. ``--full`` trains
on every source (but ``--full-without``) and is recalibrated on all held-out forecasts:
the model curvecast ships. Torch trains; the file holds plain arrays for numpy.

    nice -n 10 .venv/bin/python scripts/train_direct.py --data /tmp/direct_set.npz \
        --out benchmarks/models/direct --full src/curvecast/models/direct.npz

The CIFAR-10 CNN curves carry no license: the shipped model is trained without them
(``--full-without cifar10_cnn``, the default), as the shipped combiner is.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch

from curvecast.forecasters.direct import COMPONENTS, DF, HORIZON_EDGES, DirectNet, horizon_bin

torch.set_num_threads(1)
U_CLIP = 1e4
"""Targets are clipped to this many spreads (runs that explode)."""
ALWAYS = {"synthetic"}
SCALE_GRID = np.exp(np.linspace(np.log(0.4), np.log(4.0), 47))


class Net(torch.nn.Module):
    def __init__(self, n_in: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        layers, w = [], n_in
        for h in hidden:
            layers += [torch.nn.Linear(w, h), torch.nn.GELU()]
            w = h
        layers.append(torch.nn.Linear(w, 3 * COMPONENTS))
        self.body = torch.nn.Sequential(*layers)

    def forward(self, x):
        logit, mu, log_s = self.body(x).split(COMPONENTS, dim=1)
        return torch.log_softmax(logit, 1), mu, log_s.clamp(-12, 8)


def nll(params, u):
    logw, mu, log_s = params
    v = (u[:, None] - mu) / log_s.exp()
    c = math.lgamma((DF + 1) / 2) - math.lgamma(DF / 2) - 0.5 * math.log(DF * math.pi)
    return -torch.logsumexp(logw + c - (DF + 1) / 2 * torch.log1p(v**2 / DF) - log_s, 1)


def row_weights(d: dict, rows: np.ndarray) -> np.ndarray:
    """Each source weighs the same; within a source, each data set the same."""
    w = np.zeros(rows.size)
    src, ds = d["source"][rows], d["dataset"][rows]
    for s in np.unique(src):
        names = np.unique(ds[src == s])
        for n in names:
            m = (src == s) & (ds == n)
            w[m] = 1.0 / (m.sum() * names.size)
    return w / w.mean()


def train(d: dict, rows: np.ndarray, epochs: int, hidden, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    _, H, F = d["X"].shape
    X = d["X"][rows].reshape(-1, F).astype(np.float64)
    u = np.clip(d["u"][rows], -U_CLIP, U_CLIP).reshape(-1)
    w = np.repeat(row_weights(d, rows), H)
    mean, std = X.mean(0), X.std(0) + 1e-6
    Xt = torch.tensor((X - mean) / std, dtype=torch.float32)
    ut, wt = torch.tensor(u, dtype=torch.float32), torch.tensor(w, dtype=torch.float32)
    net = Net(F, hidden)
    bs = 1024
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3,
                                                total_steps=epochs * math.ceil(len(Xt) / bs))
    gen = torch.Generator().manual_seed(seed)
    for ep in range(epochs):
        perm, tot = torch.randperm(len(Xt), generator=gen), 0.0
        for i in range(0, len(Xt), bs):
            b = perm[i:i + bs]
            loss = (wt[b] * nll(net(Xt[b]), ut[b])).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item() * len(b)
    print(f"  {len(Xt)} examples, final epoch loss {tot / len(Xt):.4f}", flush=True)
    lin = [m for m in net.body if isinstance(m, torch.nn.Linear)]
    return {"mean": mean, "std": std, "lo": X.min(0), "hi": X.max(0),
            "W": [m.weight.detach().numpy() for m in lin],
            "b": [m.bias.detach().numpy() for m in lin]}


def save(m: dict, path: str, meta: dict) -> None:
    arrays = {k: m[k].astype(np.float32) for k in ("mean", "std", "lo", "hi")}
    for i, (W, b) in enumerate(zip(m["W"], m["b"], strict=True)):
        arrays[f"W{i}"], arrays[f"b{i}"] = W.astype(np.float32), b.astype(np.float32)
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez_compressed(path, **arrays)


def pit(d: dict, rows: np.ndarray, path: str):
    """Predictive cdf at the true final for every multiplier of SCALE_GRID (G, N), and
    each row's horizon bin."""
    from scipy import special

    X = d["X"][rows, 0]
    logw, mu, sd = DirectNet.load(path).predict(X, calibrated=False)
    u = np.clip(d["u"][rows, 0], -U_CLIP, U_CLIP)
    w = np.exp(logw)
    F = np.stack([(w * special.stdtr(DF, (u[:, None] - mu) / (c * sd))).sum(1)
                  for c in SCALE_GRID])
    return F, horizon_bin(X)


def fit_scales(pits: dict) -> list[float]:
    """Per horizon bin, the multiplier whose 80% and 90% intervals cover closest to
    nominal, each source weighing the same."""
    out = []
    for b in range(len(HORIZON_EDGES) + 1):
        loss = np.zeros(SCALE_GRID.size)
        for F, bins in pits.values():
            Fb = F[:, bins == b]
            if Fb.shape[1]:
                loss += np.abs(((Fb >= 0.1) & (Fb <= 0.9)).mean(1) - 0.8)
                loss += np.abs(((Fb >= 0.05) & (Fb <= 0.95)).mean(1) - 0.9)
        out.append(float(SCALE_GRID[np.argmin(loss)]))
    return out


def report(d: dict, rows: np.ndarray, path: str, name: str) -> None:
    """Held-out median |error| of the final in spreads, against the last value's, and
    coverage of the 80% interval, at cutoffs near 0.1, 0.2, 0.4."""
    from curvecast.forecast import Forecast

    net = DirectNet.load(path)
    for lo, hi in ((0.05, 0.15), (0.15, 0.3), (0.3, 0.5)):
        r = rows[(d["cutoff"][rows] >= lo) & (d["cutoff"][rows] < hi)]
        if r.size == 0:
            continue
        logw, mu, sd = net.predict(d["X"][r, 0])
        fc = Forecast([0.0], mu[:, None], sd[:, None], np.full(mu.shape, DF), np.exp(logw))
        q = fc.quantiles([0.1, 0.5, 0.9])[:, 0]
        u = d["u"][r, 0]
        print(f"  {name} cut {lo:.2f}-{hi:.2f}: medAE(u) {np.median(np.abs(q[:, 1] - u)):.3f}"
              f" last {np.median(np.abs(u)):.3f} cov80 "
              f"{np.mean((u >= q[:, 0]) & (u <= q[:, 2])):.3f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", default="benchmarks/models/direct")
    ap.add_argument("--full", default=None)
    ap.add_argument("--full-without", default="cifar10_cnn")
    ap.add_argument("--only", default=None, help="comma-separated sources to hold out")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--hidden", default="128,128")
    args = ap.parse_args()
    d = dict(np.load(args.data))
    ok = np.isfinite(d["u"]).all(1) & np.isfinite(d["X"]).all((1, 2))
    rows = np.flatnonzero(ok)
    hidden = tuple(int(h) for h in args.hidden.split(","))
    held = sorted(set(d["source"]) - ALWAYS)
    if args.only:
        held = args.only.split(",")
    models, pits = {}, {}
    for name in held:
        t0 = time.time()
        models[name] = train(d, rows[d["source"][rows] != name], args.epochs, hidden)
        path = f"{args.out}_minus_{name}.npz"
        save(models[name], path, {"left_out": name})
        pits[name] = pit(d, rows[d["source"][rows] == name], path)
        print(f"{name}: {time.time() - t0:.0f}s", flush=True)
    for name in held:
        path = f"{args.out}_minus_{name}.npz"
        scales = fit_scales({k: v for k, v in pits.items() if k != name})
        save(models[name], path, {"left_out": name, "scales": scales})
        report(d, rows[d["source"][rows] == name], path, name)
    if args.full:
        without = [s for s in args.full_without.split(",") if s]
        keep = rows[~np.isin(d["source"][rows], without)]
        full = train(d, keep, args.epochs, hidden)
        scales = fit_scales({k: v for k, v in pits.items() if k not in without})
        save(full, args.full, {"sources": sorted(set(d["source"][keep])), "scales": scales})


if __name__ == "__main__":
    main()
