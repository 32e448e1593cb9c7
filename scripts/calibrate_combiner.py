"""Recalibrate the combiner's spreads by how sure the network says it is, leaving each source out.

The per-horizon multipliers of ``train_combiner.py`` are one number per horizon bin, yet
a held-out network is overconfident in proportion to how narrow it says the answer is:
on every source, the rows whose predicted spread is smallest need the largest
multiplier (TaskSet 2.4x vs 0.8x, LCDB 13x vs 1.6x, NAS-Bench-NLP 3.5x vs 1.0x between
the narrowest and widest fifth; the dense language-model runs, all narrow, 3.7x). So the
multiplier becomes ``exp(a[horizon bin] + b * clip(log sd, LSD_RANGE))``, with ``sd``
the network's own mixture spread in its units (see
:mod:`curvecast.forecasters.learned`), fitted to the 80% and 90% coverage of held-out
forecasts in bins of ``log sd``, each source weighing the same.

Every source's forecasts come from a network that never saw it (``--models``; the
sources of ``make_training_set.py --calibration-only`` from the shipped network, which
never saw them), and every source's calibration is fitted without that source's rows:
for each source S, ``--out-dir/combiner_minus_<S>.npz`` is S's network with a fit on the
other sources. The leave-one-source-out table printed compares it with the horizon-only
multipliers fitted the same way.

    .venv/bin/python scripts/calibrate_combiner.py --data /tmp/cc_train.npz \\
        --calib /tmp/cc_calib.npz --out-dir /tmp/cc_cal \\
        --models taskset=benchmarks/models/combiner_minus_taskset.npz,...
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy import special

from curvecast.curve import MIN_POINTS
from curvecast.forecasters.learned import (
    DF,
    HORIZON_EDGES,
    LSD_RANGE,
    U_CLIP,
    Combiner,
    horizon_bin,
    mixture_log_sd,
)

CUTOFFS = (0.1, 0.2, 0.4)
"""Cutoffs fitted and scored (the issue's)."""
LSD_BINS = np.linspace(*LSD_RANGE, 6)[1:-1]
"""Edges of the log-sd bins whose coverage the fit matches (conditional calibration)."""
A_GRID = np.linspace(np.log(0.5), np.log(8.0), 40)
B_GRID = np.linspace(-0.8, 0.2, 11)
FIT_ROWS = 3000
"""Rows per source the grid search reads at most (drawn with seed 0; all are scored)."""


def rows_of(d: dict, source: str, path: str | None) -> dict:
    """What the fit needs of one source's rows at CUTOFFS, forecast by ``path``."""
    cut = np.isin(np.round(d["cutoff"], 3), CUTOFFS)
    rows = np.flatnonzero((d["n_seen"] >= MIN_POINTS) & (d["source"] == source) & cut)
    X = d["X"][rows, 0]
    logw, mu, sd = Combiner.load(path).predict(X, calibrated=False)
    return {"w": np.exp(logw), "mu": mu, "sd": sd, "u": np.clip(d["u"][rows, 0], -U_CLIP, U_CLIP),
            "hb": horizon_bin(X), "lsd": mixture_log_sd(logw, mu, sd),
            "cut": np.round(d["cutoff"][rows], 3)}


def pit(r: dict, scale: np.ndarray) -> np.ndarray:
    """Predictive cdf at the truth with each row's spreads times ``scale``."""
    v = (r["u"][:, None] - r["mu"]) / (scale[:, None] * r["sd"])
    return (r["w"] * special.stdtr(DF, v)).sum(1)


def coverage(F: np.ndarray) -> tuple[float, float]:
    return float(((F >= 0.1) & (F <= 0.9)).mean()), float(((F >= 0.05) & (F <= 0.95)).mean())


def loss(F: np.ndarray, lsd_bin: np.ndarray) -> float:
    """Coverage error in each log-sd bin, weighted by the bin's share of rows."""
    out = 0.0
    for k in np.unique(lsd_bin):
        c80, c90 = coverage(F[lsd_bin == k])
        out += (lsd_bin == k).mean() * (abs(c80 - 0.8) + abs(c90 - 0.9))
    return out


def fit(data: dict[str, dict], slope: bool) -> dict:
    """a per horizon bin and the shared slope b (0 without ``slope``), by grid search."""
    data = {s: _sample(r) for s, r in data.items()}
    best = None
    for b in (B_GRID if slope else [0.0]):
        a = []
        tot = 0.0
        for h in range(len(HORIZON_EDGES) + 1):
            parts = [(r, r["hb"] == h) for r in data.values()]
            parts = [(r, m) for r, m in parts if m.any()]
            if not parts:
                a.append(0.0)
                continue
            scores = []
            for ah in A_GRID:
                s = 0.0
                for r, m in parts:
                    lsd = np.clip(r["lsd"][m], *LSD_RANGE)
                    F = pit({k: v[m] for k, v in r.items()}, np.exp(ah + b * lsd))
                    s += loss(F, np.searchsorted(LSD_BINS, lsd)) * m.mean()
                scores.append(s)
            a.append(float(A_GRID[int(np.argmin(scores))]))
            tot += min(scores)
        if best is None or tot < best[0]:
            best = (tot, a, float(b))
    return {"a": best[1], "b": best[2]}


def _sample(r: dict) -> dict:
    n = r["u"].size
    if n <= FIT_ROWS:
        return r
    keep = np.sort(np.random.default_rng(0).choice(n, FIT_ROWS, replace=False))
    return {k: v[keep] for k, v in r.items()}


def scales_of(r: dict, cal: dict) -> np.ndarray:
    return np.exp(np.asarray(cal["a"])[r["hb"]] + cal["b"] * np.clip(r["lsd"], *LSD_RANGE))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="make_training_set.py's file")
    ap.add_argument("--calib", required=True, help="make_training_set.py --calibration-only's")
    ap.add_argument("--models", required=True,
                    help="SOURCE=PATH,...: the held-out network of each trained-on source")
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--pool", default=None,
                    help="comma-separated sources the fits may use (default: all; each "
                         "source's own fit never uses it)")
    ap.add_argument("--shipped-out", default=None,
                    help="also write the shipped networks with a fit on every source here")
    args = ap.parse_args()
    d, c = dict(np.load(args.data)), dict(np.load(args.calib))
    models = dict(p.split("=") for p in args.models.split(","))
    data = {s: rows_of(d, s, p) for s, p in models.items()}
    for s in sorted(set(c["source"])):
        models[s] = None
        data[s] = rows_of(c, s, None)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = {}
    pool = set(args.pool.split(",")) if args.pool else set(data)
    for s, r in data.items():
        rest = {k: v for k, v in data.items() if k != s and k in pool}
        fits = {"horizon": fit(rest, slope=False), "log_sd": fit(rest, slope=True)}
        report[s] = {"fits": fits}
        for name, cal in fits.items():
            F = pit(r, scales_of(r, cal))
            cells = {str(cut): coverage(F[r["cut"] == cut]) for cut in CUTOFFS}
            report[s][name] = cells
            print(f"{s:14s} {name:8s} a {np.round(np.exp(cal['a']), 2)} b {cal['b']:+.2f} "
                  + " ".join(f"{k}: {v[0]:.2f}/{v[1]:.2f}" for k, v in cells.items()), flush=True)
        _write(models[s], out / f"combiner_minus_{s}.npz", fits["log_sd"], s)
    if args.shipped_out:
        _write(None, Path(args.shipped_out),
               fit({k: v for k, v in data.items() if k in pool}, slope=True), None)
    (out / "calibration_loso.json").write_text(json.dumps(report, indent=1))


def _write(src: str | None, dest: Path, cal: dict, left_out: str | None) -> None:
    """A copy of model ``src`` (None: the shipped one) whose meta carries ``cal``."""
    if src is None:
        from importlib import resources

        src = str(resources.files("curvecast") / "models" / "combiner.npz")
    with np.load(src) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["meta"]))
    meta["spread_model"] = {"a": cal["a"], "b": cal["b"], "fitted_without": left_out}
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez_compressed(dest, **arrays)


if __name__ == "__main__":
    main()
