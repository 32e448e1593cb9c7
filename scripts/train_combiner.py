"""Train the learned combiner (a mixture density network) on the real-curve training set.

Reads the file of ``make_training_set.py`` and writes networks as plain numpy arrays
(``.npz``) that :mod:`curvecast.forecasters.learned` evaluates without torch. For each
data set in turn, networks are trained without it and scored on it (the honest test;
``benchmarks/bench_backtest.py`` uses these files); each is then recalibrated (a spread
multiplier per horizon bin) on the other data sets' held-out forecasts, never its own.
``--full`` also trains on everything (but ``--full-without``), recalibrated on all
held-out forecasts: the model curvecast ships. ``--seeds 0,1`` trains one network per
seed and averages them as a mixture; ``--merge A,B`` does the same for the held-out
models from earlier runs with output prefixes A and B.

    .venv/bin/python scripts/train_combiner.py --data /tmp/cc_train.npz --seeds 0,1 \
        --out benchmarks/models/combiner --full src/curvecast/models/combiner.npz \
        --full-without cifar10_cnn

The CIFAR-10 CNN curves carry no license: the shipped model is trained without them
(``--full-without``); the held-out models, used only by the benchmark, may use them.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch

from curvecast.curve import MIN_POINTS
from curvecast.forecast import Forecast
from curvecast.forecasters.learned import COMPONENTS, DF, HIDDEN, U_CLIP

torch.set_num_threads(1)  # the machine is shared

TEACH_ONLY = {"synthetic", "lm", "datablations", "pythia"}
"""Sources and data sets that are always trained on, never held out: textbook curves, and
language-model curves that no benchmark scores (holding them out too would double the
training time for data sets nobody backtests)."""


class Net(torch.nn.Module):
    """The network of :class:`curvecast.forecasters.learned.Network`, in torch."""

    def __init__(self, n_in: int) -> None:
        super().__init__()
        layers, width = [], n_in
        for h in HIDDEN:
            layers += [torch.nn.Linear(width, h), torch.nn.GELU()]
            width = h
        self.body = torch.nn.Sequential(*layers)
        self.head = torch.nn.Linear(width, 3 * COMPONENTS)

    def forward(self, x):
        logit, mu, log_s = self.head(self.body(x)).split(COMPONENTS, dim=1)
        return torch.log_softmax(logit, dim=1), mu, log_s.clamp(-12, 8)


def t_logpdf(v, df):
    return (math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
            - (df + 1) / 2 * torch.log1p(v**2 / df))


def t_logcdf(v, df):
    # Student-t cdf through the regularised incomplete beta is not in torch; a logistic
    # approximation is enough for the rare censored rows (values exactly at the bound)
    return torch.nn.functional.logsigmoid(1.6 * v)


def nll(params, u, u_floor):
    logw, mu, log_s = params
    v = (u[:, None] - mu) / log_s.exp()
    dens = logw + t_logpdf(v, DF) - log_s
    at_floor = u <= u_floor + 1e-9
    cens = logw + t_logcdf((u_floor[:, None] - mu) / log_s.exp(), DF)
    ll = torch.where(at_floor, torch.logsumexp(cens, 1), torch.logsumexp(dens, 1))
    return -ll


def row_weights(d: dict, rows: np.ndarray) -> np.ndarray:
    """Each source weighs the same; within a source, each data set the same."""
    w = np.zeros(rows.size)
    src, ds = d["source"][rows], d["dataset"][rows]
    srcs = np.unique(src)
    for s in srcs:
        in_s = src == s
        names = np.unique(ds[in_s])
        for n in names:
            m = in_s & (ds == n)
            w[m] = 1.0 / (m.sum() * names.size * srcs.size)
    return w / w.mean()


def flatten(d: dict, runs: np.ndarray):
    """Rows (run-cutoff pairs) -> per-(row, horizon) training arrays."""
    X = d["X"][runs]
    _, H, F = X.shape
    u = np.clip(d["u"][runs], -U_CLIP, U_CLIP)
    has_floor = np.isfinite(d["lower"][runs]) | np.isfinite(d["upper"][runs])
    u_floor = np.where(has_floor, -d["ref"][runs] / d["spread"][runs], -np.inf)
    rep = lambda a: np.repeat(a, H)
    return X.reshape(-1, F), u.reshape(-1), np.maximum(rep(u_floor), -1e9)


def train(d: dict, rows: np.ndarray, epochs: int, seed: int, log=print) -> dict:
    torch.manual_seed(seed)
    X, u, u_floor = flatten(d, rows)
    w = np.repeat(row_weights(d, rows), d["X"].shape[1])
    mean, std = X.mean(0), X.std(0) + 1e-6
    Xt = torch.tensor((X - mean) / std, dtype=torch.float32)
    ut, ft = torch.tensor(u, dtype=torch.float32), torch.tensor(u_floor, dtype=torch.float32)
    wt = torch.tensor(w, dtype=torch.float32)
    net = Net(X.shape[1])
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    steps = epochs * math.ceil(len(Xt) / 1024)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    gen = torch.Generator().manual_seed(seed)
    for ep in range(epochs):
        perm = torch.randperm(len(Xt), generator=gen)
        tot = 0.0
        for i in range(0, len(Xt), 1024):
            b = perm[i : i + 1024]
            loss = (wt[b] * nll(net(Xt[b]), ut[b], ft[b])).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item() * len(b)
        if ep % 5 == 4 or ep == epochs - 1:
            log(f"  epoch {ep + 1}: loss {tot / len(Xt):.4f}")
    state = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    layers = [state[k] for k in sorted(state) if k.endswith("weight")]
    biases = [state[k] for k in sorted(state) if k.endswith("bias")]
    return {"mean": mean, "std": std, "lo": X.min(0), "hi": X.max(0),
            "layers": layers, "biases": biases,
            "seed": seed}


def save(models: list[dict], path: str, meta: dict) -> None:
    """Networks (one per seed) and meta (with 'scales' once recalibrated) to one file."""
    arrays = {}
    for j, m in enumerate(models):
        for k in ("mean", "std", "lo", "hi"):
            arrays[f"net{j}.{k}"] = m[k].astype(np.float32)
        for i, (W, b) in enumerate(zip(m["layers"], m["biases"], strict=True)):
            arrays[f"net{j}.W{i}"], arrays[f"net{j}.b{i}"] = W.astype(np.float32), b.astype(np.float32)
    meta = {"nets": len(models), "seeds": [m["seed"] for m in models], **meta}
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez_compressed(path, **arrays)


def load_models(path: str) -> list[dict]:
    """The networks of a file written by :func:`save`, as :func:`train` returns them."""
    with np.load(path) as z:
        meta = json.loads(str(z["meta"]))
        out = []
        for j in range(meta["nets"]):
            n = sum(1 for k in z.files if k.startswith(f"net{j}.W"))
            out.append({**{k: z[f"net{j}.{k}"] for k in ("mean", "std", "lo", "hi")},
                        "layers": [z[f"net{j}.W{i}"] for i in range(n)],
                        "biases": [z[f"net{j}.b{i}"] for i in range(n)],
                        "seed": meta["seeds"][j]})
    return out


def score(d: dict, rows: np.ndarray, model_path: str) -> list[dict]:
    """Final-value MAE / coverage of the model vs the anchors, per data set and cutoff."""
    from curvecast.forecasters.learned import Combiner

    comb = Combiner.load(model_path)
    out = []
    for name in np.unique(d["dataset"][rows]):
        for cut in (0.1, 0.2, 0.4, 0.6, 0.8):
            r = rows[(d["dataset"][rows] == name) & np.isclose(d["cutoff"][rows], cut)]
            if r.size == 0:
                continue
            logw, mu, sd = comb.predict(d["X"][r, 0])
            fc = Forecast([0.0], mu[:, None], sd[:, None], np.full(mu.shape, DF), np.exp(logw))
            q = fc.quantiles([0.05, 0.1, 0.5, 0.9, 0.95])[:, 0]
            z = d["ref"][r, None] + d["spread"][r, None] * q
            y = d["sign"][r, None] * (d["floor"][r, None] + d["zscale"][r, None] * z)
            y = np.clip(y, d["lower"][r, None], d["upper"][r, None])
            truth = d["y"][r, 0]
            mae = np.mean(np.abs(y[:, 2] - truth))
            fam = np.where(d["fam_ok"][r, 0], d["fam_y"][r, 0], d["last"][r, None])
            fam_mae = np.abs(fam - truth[:, None]).mean(0)
            last_mae = np.mean(np.abs(d["last"][r] - truth))
            best = min(fam_mae.min(), last_mae)
            lo, hi = np.minimum(y[:, 1], y[:, 3]), np.maximum(y[:, 1], y[:, 3])
            lo9, hi9 = np.minimum(y[:, 0], y[:, 4]), np.maximum(y[:, 0], y[:, 4])
            out.append({"dataset": str(name), "cutoff": cut, "nmae": mae / d["iqr"][r[0]],
                        "ratio": mae / best,
                        "cov80": float(np.mean((truth >= lo) & (truth <= hi))),
                        "cov90": float(np.mean((truth >= lo9) & (truth <= hi9)))})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--leave-out", default="datasets",
                    help="'sources', 'datasets', or names: train without each, score on it")
    ap.add_argument("--out", default="/tmp/combiner", help="prefix of the held-out models")
    ap.add_argument("--full", default=None,
                    help="also train on everything, recalibrated, to this file")
    ap.add_argument("--full-without", default=None,
                    help="comma-separated data sets the --full model must not learn from "
                         "(the CIFAR-10 CNN curves carry no license, so the shipped model "
                         "is trained without them)")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seeds", default="0", help="comma-separated: one network per seed")
    ap.add_argument("--calibrate-with", default=None, metavar="NAME=PATH,...",
                    help="held-out models trained before (never on NAME): their forecasts "
                         "of NAME join the recalibration, without retraining them")
    ap.add_argument("--merge", default=None,
                    help="comma-separated prefixes of earlier runs: average their networks "
                         "instead of training")
    args = ap.parse_args()
    d = dict(np.load(args.data))
    # the forecasters never see heads shorter than MIN_POINTS (they fall back to the last value)
    rows = np.flatnonzero(d["n_seen"] >= MIN_POINTS)
    key = "source" if args.leave_out == "sources" else "dataset"
    if args.leave_out in ("sources", "datasets"):
        held = sorted(set(d[key]) - TEACH_ONLY)
    else:
        held = args.leave_out.split(",")
        key = "source" if held[0] in set(d["source"]) else "dataset"
    seeds = [int(x) for x in args.seeds.split(",")]
    merge = args.merge.split(",") if args.merge else None

    def networks(train_rows, suffix: str) -> list[dict]:
        if merge:
            return [m for prefix in merge for m in load_models(f"{prefix}{suffix}")]
        return [train(d, train_rows, args.epochs, seed) for seed in seeds]

    models, pits = {}, {}
    for name in held:
        t0 = time.time()
        models[name] = networks(rows[d[key][rows] != name], f"_minus_{short(name)}.npz")
        path = f"{args.out}_minus_{short(name)}.npz"
        save(models[name], path, {"left_out": name})
        pits[name] = pit_grid(d, rows[d[key][rows] == name], path)
        print(f"{name}: {time.time() - t0:.0f}s", flush=True)
    for pair in (args.calibrate_with.split(",") if args.calibrate_with else []):
        name, path = pair.split("=")
        pits[name] = pit_grid(d, rows[d[key][rows] == name], path)
    # recalibrate each model on the other held-out data sets' forecasts (never its own)
    for name in held:
        path = f"{args.out}_minus_{short(name)}.npz"
        scales = fit_scales({k: v for k, v in pits.items() if k != name})
        save(models[name], path, {"left_out": name, "scales": scales})
        for r in score(d, rows[d[key][rows] == name], path):
            print(f"  {r['dataset'][-30:]:30s} cut {r['cutoff']:.1f} nMAE {r['nmae']:.4g} "
                  f"ratio {r['ratio']:.3f} cov80 {r['cov80']:.3f} cov90 {r['cov90']:.3f}",
                  flush=True)
    if args.full:
        without = args.full_without.split(",") if args.full_without else []
        if without:  # always trained: earlier runs' full models saw these data sets
            keep = rows[~np.isin(d["dataset"][rows], without)]
            full = [train(d, keep, args.epochs, seed) for seed in seeds]
        else:
            full = networks(rows, "_all.npz")
        # recalibrated without those data sets' held-out forecasts too
        scales = fit_scales({k: v for k, v in pits.items() if k not in without})
        save(full, args.full, {"datasets": sorted(set(held) - set(without)), "scales": scales})


def short(name: str) -> str:
    return name.split("_imdb_")[-1]


SCALE_GRID = np.exp(np.linspace(np.log(0.5), np.log(4.0), 43))


def pit_grid(d: dict, rows: np.ndarray, path: str):
    """Predictive cdf at the true final, for every spread multiplier of SCALE_GRID:
    (G, N), with each row's horizon bin (N,)."""
    from scipy import special

    from curvecast.forecasters.learned import Combiner, horizon_bin

    X = d["X"][rows, 0]
    logw, mu, sd = Combiner.load(path).predict(X, calibrated=False)
    u = np.clip(d["u"][rows, 0], -U_CLIP, U_CLIP)
    w = np.exp(logw)
    F = np.stack([(w * special.stdtr(DF, (u[:, None] - mu) / (c * sd))).sum(1)
                  for c in SCALE_GRID])
    return F, horizon_bin(X)


def fit_scales(pits: dict) -> list[float]:
    """Per horizon bin, the multiplier whose 80% and 90% intervals cover closest to
    nominal on the given data sets' forecasts, each data set weighing the same."""
    from curvecast.forecasters.learned import HORIZON_EDGES

    out = []
    for b in range(len(HORIZON_EDGES) + 1):
        loss = np.zeros(SCALE_GRID.size)
        for F, bins in pits.values():
            Fb = F[:, bins == b]
            if Fb.shape[1] == 0:
                continue
            cov80 = ((Fb >= 0.1) & (Fb <= 0.9)).mean(1)
            cov90 = ((Fb >= 0.05) & (Fb <= 0.95)).mean(1)
            loss += np.abs(cov80 - 0.8) + np.abs(cov90 - 0.9)
        out.append(float(SCALE_GRID[np.argmin(loss)]))
    return out


if __name__ == "__main__":
    main()
