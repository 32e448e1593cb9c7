"""ImageNet random-search sweeps of OPDA (Lourie et al.): AlexNet and ConvNeXt-tiny, 512
configurations each, validation accuracy after every epoch.

Source: github.com/nicholaslourie/opda (commit 9529a34b7715, data/alexnet, data/convnext),
CC BY-SA 4.0, (c) 2025 Nicholas Lourie; share-alike, so used in tests and benchmarks and
never bundled. The epoch budget (20-100) is itself a hyperparameter, and every run follows a
one-cycle learning-rate schedule whose peak (``lr_peak_epoch``) varies, so the curves differ
in length and bend where their schedule does: both are kept as hyperparameters.

Decisions on the data, made here:

* step = epochs trained (the file's 0-indexed ``epoch`` + 1), so a run of budget E ends
  at step E;
* a run whose training loss became NaN (``nan_train_loss``; 147 AlexNet and 224 ConvNeXt
  runs, some before their first evaluation) stopped there: a NaN is added at the next
  epoch, so it reads as diverged, as NAS-Bench-NLP's "loss is nan!" runs do.
"""

from __future__ import annotations

import json
import os

import numpy as np

from ..curve import Curve, CurveSet
from ..errors import InputError
from .loaders import _need, data_dir

OPDA_FILES = {"alexnet": "alexnet-alexnet_tuning.results.jsonl",
              "convnext": "convnext-convnext-tiny_tuning.results.jsonl"}
"""The two sweeps, by model, in ``opda_imagenet/``."""

OPDA_METRICS = {"top_1": "max", "top_5": "max", "train_loss": "min"}
"""The per-epoch records' metrics, and which direction is better."""

OPDA_HP = ("epochs", "lr_peak_epoch", "lr", "batch_size", "momentum", "weight_decay",
           "label_smoothing")


def load_opda(model: str = "alexnet", metric: str = "top_1",
              path: str | os.PathLike | None = None) -> CurveSet:
    """One OPDA ImageNet sweep: ``metric`` ('top_1', 'top_5' accuracy or 'train_loss')
    after each epoch of the 512 configurations of ``model`` ('alexnet' or 'convnext').

    Runs are named ``<model>-<iteration>`` (001-512); hp holds the epoch budget
    ``epochs``, the schedule's peak ``lr_peak_epoch`` and the optimiser's settings.

    >>> cs = load_opda("convnext")  # doctest: +SKIP
    >>> len(cs), cs[0].goal, sorted(cs[0].hp)[:2]  # doctest: +SKIP
    (512, 'max', ['batch_size', 'epochs'])
    """
    if model not in OPDA_FILES:
        raise InputError(f"no OPDA sweep of {model!r}; known: {', '.join(OPDA_FILES)}")
    if metric not in OPDA_METRICS:
        raise InputError(f"OPDA has no metric {metric!r}; known: {', '.join(OPDA_METRICS)}")
    file = _need(data_dir(path) / "opda_imagenet" / OPDA_FILES[model], f"OPDA {model} sweep")
    curves = []
    with open(file, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
                points = r["learning_curve"]
                steps = np.array([p["epoch"] + 1 for p in points], dtype=float)
                values = np.array([np.nan if p[metric] is None else p[metric] for p in points],
                                  dtype=float)
                hp = {k: r[k] for k in OPDA_HP}
                run = f"{model}-{int(r['iteration']):03d}"
            except (ValueError, KeyError, TypeError) as exc:
                raise InputError(f"not an OPDA record ({type(exc).__name__}: {exc})",
                                 file=str(file), row=line_no) from None
            if r.get("nan_train_loss") and np.isfinite(values).all():
                steps = np.append(steps, steps[-1] + 1 if steps.size else 1.0)
                values = np.append(values, np.nan)
            curves.append(Curve(run, steps, values, OPDA_METRICS[metric], hp,
                                {"model": model, "nan_train_loss": bool(r.get("nan_train_loss"))}))
    return CurveSet(curves, source=str(file))
