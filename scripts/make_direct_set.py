"""Build the direct network's training set: a synthetic prior plus the shared real curves.

Every run (synthetic or real) is cut at a few random fractions of its points; the head
is featurised by :func:`curvecast.forecasters.direct.inputs` at the run's final step and a
few hidden later steps, and the target is where the run really is there, in the same
scale-free units (``u``). Rows carry their ``source`` (a benchmark family: taskset,
nasbench_nlp, cifar10_cnn, lcdb, opda, ppo_pong, datablations, synthetic) so that
``scripts/train_direct.py`` can train each held-out model without a whole source.
Some real runs are augmented (an affine map of the values, the goal flipped, the steps
rescaled) so that units and orientation are not what the network learns.

    .venv/bin/python scripts/make_direct_set.py --out /tmp/direct_set.npz    # ~2 min
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from curvecast.curve import Curve
from curvecast.datasets import (
    TASKSET_TASKS,
    load_cifar10_cnn,
    load_datablations,
    load_lcdb,
    load_nasbench_nlp,
    load_opda,
    load_ppo_pong,
    load_taskset,
)
from curvecast.forecasters.direct import inputs
from curvecast.forecasters.features import Anchor
from curvecast.transform import Frame

HIDDEN = 3
"""Hidden steps per (run, cut) besides the final one."""
CHUNK = 2000
KIND_P = (0.2, 0.1, 0.08, 0.1, 0.06, 0.1, 0.1, 0.26)
"""How often each shape of the prior is drawn (power law, exponential, late break, rise,
take-off, cosine, one-cycle, flat)."""


def real_sources() -> dict:
    """(source, data set) -> (loader, bound, runs kept at most, cuts per run)."""
    out = {("taskset", t): (lambda t=t: load_taskset(t), None, 1000, 4) for t in TASKSET_TASKS}
    out[("nasbench_nlp", "nasbench_nlp")] = (load_nasbench_nlp, None, 2000, 8)
    out[("cifar10_cnn", "cifar10_cnn")] = (load_cifar10_cnn, None, 2000, 8)
    out[("lcdb", "lcdb")] = (load_lcdb, 1.0, 5000, 3)
    out[("opda", "alexnet")] = (lambda: load_opda("alexnet"), 1.0, 600, 6)
    out[("opda", "convnext")] = (lambda: load_opda("convnext"), 1.0, 600, 6)
    out[("ppo_pong", "ppo_pong")] = (load_ppo_pong, None, 1000, 8)
    out[("datablations", "datablations")] = (load_datablations, None, 100, 30)
    return out


def _steps(rng, n: int) -> np.ndarray:
    kind = rng.integers(4)
    if kind == 0:
        return np.arange(1, n + 1.0)
    if kind == 1:
        return np.arange(0, n, dtype=float) * rng.choice([10, 100, 200, 1000])
    if kind == 2:
        return np.cumsum(rng.exponential(1.0, n) + 0.05) * rng.choice([1, 50, 1000])
    return np.unique(np.round(np.geomspace(1, 10 ** rng.uniform(2, 4.5), n)))


def synthetic_curve(rng, i: int) -> Curve:
    """One curve of the prior, lower is better, in arbitrary units."""
    dense = rng.random() < 0.08
    n = int(rng.integers(1000, 6000)) if dense else int(rng.integers(8, 200))
    x = _steps(rng, n)
    n = x.size
    t = x / max(x[x > 0].min(), 1e-12) + (1.0 if x[0] == 0 else 0.0)
    T = t[-1]
    a, b = rng.uniform(0, 2), 10 ** rng.uniform(-1, 0.5)
    alpha = rng.uniform(0.1, 1.5)
    base = a + b * (t + rng.uniform(0, 5)) ** -alpha
    # most runs that sit flat stay flat (TaskSet's chance-level runs): take-off is rare
    kind = 0 if dense else int(rng.choice(8, p=KIND_P))
    if kind == 1:  # exponential to a floor
        base = a + b * np.exp(-t / (T * rng.uniform(0.05, 1.5)))
    elif kind == 2:  # plateau that breaks late
        tb = T * rng.uniform(0.2, 1.3)
        base = a + b * (1 + rng.uniform(0.5, 2)) / (1 + (t / tb) ** rng.uniform(2, 8))
    elif kind == 3:  # falls, then rises (overfitting) or collapses
        t0 = T * rng.uniform(0.2, 0.9)
        base = base + b * rng.uniform(0.05, 1) * (np.maximum(t - t0, 0) / T) ** rng.uniform(0.7, 3)
    elif kind == 4:  # chance level, then take-off
        t0 = T * rng.uniform(0.05, 0.8)
        base = a + b * (np.maximum(t - t0, 0) / (T * 0.05) + 1) ** -alpha
    elif kind == 5:  # cosine cool-down to the last step
        lr = 0.5 * (1 + np.cos(np.pi * t / (T * rng.uniform(1.0, 1.1))))
        base = base + b * rng.uniform(0.05, 0.5) * lr
    elif kind == 6:  # one-cycle: warm-up to a peak, linear decay to the end
        peak = T * rng.uniform(0.05, 0.4)
        lr = np.where(t < peak, t / peak, 1 - (t - peak) / (T - peak + 1e-12))
        base = base + b * rng.uniform(0.05, 0.5) * lr
    elif kind == 7:
        base = np.full(n, a + b)
    spread = max(np.ptp(base), 1e-3 * abs(base).max(), 1e-9)
    noise = 0.0 if (dense and rng.random() < 0.5) else 10 ** rng.uniform(-4, -0.5) * spread
    eps = rng.standard_t(rng.choice([2, 4, 30]), n) if rng.random() < 0.5 else rng.standard_normal(n)
    if rng.random() < 0.3:  # heteroscedastic: noisier where the value is larger
        eps = eps * (base - base.min() + 0.1 * spread) / spread
    y = base + noise * eps
    if rng.random() < 0.1:  # spikes
        k = rng.integers(n, size=max(1, n // 30))
        y[k] += spread * rng.uniform(0.5, 3, k.size)
    if rng.random() < 0.1:
        y = np.round(y, int(rng.integers(2, 4)) - int(np.floor(np.log10(abs(y).max() + 1e-12))))
    return _augment(rng, Curve(f"syn{i}", x, y))


def _augment(rng, c: Curve, p: float = 0.5) -> Curve:
    """An affine map of the values, the goal flipped, or the steps rescaled, at random."""
    x, y, goal = c.steps.copy(), c.values.copy(), c.goal
    if rng.random() < p:
        y = y * 10 ** rng.uniform(-2, 2) + (rng.normal() * np.ptp(y) if rng.random() < 0.3 else 0)
    if rng.random() < p * 0.6:
        y, goal = -y + (rng.uniform(0, 2) * abs(y).max() if rng.random() < 0.5 else 0), (
            "max" if goal == "min" else "min")
    if rng.random() < p * 0.4:
        x = x * 10 ** rng.uniform(-1, 2)
    return Curve(c.run, x, y, goal)


def rows_for(curves: list[Curve], cuts: int, bound, rng) -> dict:
    """Inputs and targets of every run cut ``cuts`` times at random fractions."""
    heads, xs, ys, fr = [], [], [], []
    for c in curves:
        n = len(c)
        for f in rng.uniform(0.05, 0.9, cuts):
            k = int(min(max(round(f * n), 3), n - 1))
            later = np.arange(k, n - 1)
            pick = rng.choice(later, size=min(HIDDEN, later.size), replace=False)
            idx = np.concatenate([[n - 1], pick, np.full(HIDDEN - pick.size, n - 1)])
            heads.append(c.head(k))
            xs.append(c.steps[idx])
            ys.append(c.values[idx])
            fr.append(k / n)
    parts = []
    for s in range(0, len(heads), CHUNK):
        h, x, y = heads[s:s + CHUNK], np.array(xs[s:s + CHUNK]), np.array(ys[s:s + CHUNK])
        frame = Frame.build(h, bound)
        anchor = Anchor.of(frame)
        t = frame.t_at(x)
        parts.append({
            "X": inputs(frame, t, anchor).astype(np.float32),
            "u": anchor.to_u(frame.to_z(y)), "y": y, "ref": anchor.ref,
            "spread": anchor.spread, "sign": frame.sign, "floor": frame.floor,
            "zscale": frame.scale, "last": np.array([c.values[-1] for c in h]),
            "has_floor": frame.has_floor,
        })
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    out["cutoff"] = np.array(fr)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--synthetic", type=int, default=10000, help="synthetic runs")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    jobs = dict(real_sources())
    jobs[("synthetic", "synthetic")] = (
        lambda: [synthetic_curve(rng, i) for i in range(args.synthetic)], None, 10**9, 3)
    parts: dict[str, list] = {}
    for (source, name), (load, bound, most, cuts) in jobs.items():
        t0 = time.time()
        curves = [c for c in load() if c.diverged_at is None and len(c) >= 5]
        if len(curves) > most:
            curves = [curves[i] for i in np.sort(rng.choice(len(curves), most, replace=False))]
        r = rows_for(curves, cuts, bound, rng)
        if source != "synthetic":  # a quarter of the real runs again, augmented (no bound)
            extra = rng.choice(len(curves), len(curves) // 4, replace=False)
            aug = rows_for([_augment(rng, curves[i], 1.0) for i in extra], cuts, None, rng)
            r = {k: np.concatenate([r[k], aug[k]]) for k in r}
        B = r["u"].shape[0]
        r["source"], r["dataset"] = np.array([source] * B), np.array([name] * B)
        for k, v in r.items():
            parts.setdefault(k, []).append(v)
        print(f"{source}/{name}: {len(curves)} runs, {B} rows, {time.time() - t0:.1f}s",
              flush=True)
    np.savez_compressed(args.out, **{k: np.concatenate(v) for k, v in parts.items()})


if __name__ == "__main__":
    main()
