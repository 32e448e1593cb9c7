"""Pythia's downstream evaluations as a table for scaling downstream accuracy.

Biderman et al. (2023) trained eight GPT-NeoX models (70M to 12B parameters) on the
same 300B tokens of the Pile in the same order, and evaluated every checkpoint on
standard zero-shot tasks; Apache-2.0. :func:`pythia_table` gives one row per (model,
checkpoint): parameters ``n``, tokens seen ``d``, the accuracy of each task, MMLU's
item-weighted mean over its 57 subjects, and LAMBADA's log-perplexity as a downstream
*loss* (Pythia's training losses are not in the shared data; the log-perplexity of
LAMBADA's last words is the one cross-entropy evaluated at every checkpoint).

MMLU subjects' item counts are recovered from lm-eval-harness's standard errors
(se = sqrt(p (1 - p) / (n - 1)), so n = p (1 - p) / se^2 + 1), which lets an aggregate
be formed and clustered by difficulty without per-item data.

>>> PYTHIA_TASKS[:2], MMLU
(('arc_challenge', 'arc_easy'), 'mmlu')
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..curve import Curve, CurveSet
from .loaders import _need, data_dir

PYTHIA_TASKS = ("arc_challenge", "arc_easy", "lambada_openai", "logiqa", "piqa", "sciq",
                "winogrande", "wsc")
"""The zero-shot accuracy tasks evaluated at every checkpoint (CrowS-Pairs measures
bias, not accuracy, and is left out)."""
MMLU = "mmlu"
"""The column of MMLU's item-weighted mean accuracy."""
MMLU_PREFIX = "hendrycksTest-"
LOSS = "lambada_logppl"
"""The column of LAMBADA's log-perplexity (nats per target word)."""
CHANCE = {"arc_challenge": 0.25, "arc_easy": 0.25, "lambada_openai": 0.0, "logiqa": 0.25,
          "piqa": 0.5, "sciq": 0.25, "winogrande": 0.5, "wsc": 0.5, MMLU: 0.25}
"""Accuracy of a uniform guess on each task (LAMBADA is open-vocabulary: 0). WSC as
evaluated here is a two-way choice, but a model that always says 'no' scores 0.63 and
one that always says 'yes' 0.37: chance is not what small models score there."""


def _flat(path) -> pd.DataFrame:
    file = _need(data_dir(path) / "scaling" / "pythia_evals" / "pythia_v1_evals_flat.csv.gz",
                 "Pythia evaluations")
    df = pd.read_csv(file)
    df.attrs["source"] = str(file)
    return df


def mmlu_items(df: pd.DataFrame) -> pd.Series:
    """Items per MMLU subject (index: subject name without the prefix), from the standard
    errors of the accuracy rows of ``df`` (the flat file's columns); the median over rows.

    >>> rows = pd.DataFrame({"task": ["hendrycksTest-x"] * 2, "metric": ["acc"] * 2,
    ...                      "value": [0.5, 0.25], "stderr": [0.05025, 0.04352]})
    >>> int(mmlu_items(rows)["x"])
    100
    """
    m = df[df["task"].str.startswith(MMLU_PREFIX) & (df["metric"] == "acc")
           & (df["stderr"] > 0)]
    n = m["value"] * (1 - m["value"]) / m["stderr"] ** 2 + 1
    items = n.groupby(m["task"].str.removeprefix(MMLU_PREFIX)).median().round()
    return items.astype(int)


def pythia_table(variant: str | None = "standard", subjects: bool = False,
                 path=None) -> pd.DataFrame:
    """One row per (model, checkpoint) of Pythia's zero-shot evaluations, checkpoints with
    at least one step of training (``d`` > 0).

    Columns: ``model``, ``size``, ``variant``, ``step``, ``n`` (total parameters), ``d``
    (tokens seen), :data:`LOSS`, each task of :data:`PYTHIA_TASKS`, :data:`MMLU` and, with
    ``subjects``, ``mmlu:SUBJECT`` for each of its 57 subjects. ``variant``: 'standard'
    (70M-12B on the Pile), 'deduped' (70M-12B on the deduplicated Pile), or None for every
    model (with the 1B bf16 and batch-size variants). Accuracies in [0, 1].

    >>> t = pythia_table()  # doctest: +SKIP
    >>> t.query("step == 143000")[["size", "mmlu"]].round(3).values.tolist()[:1]  # doctest: +SKIP
    [['1.4b', 0.269]]
    """
    df = _flat(path)
    df = df[(df["num_fewshot"] == 0) & (df["step"] > 0)]
    if variant is not None:
        df = df[df["variant"] == variant]
    keys = ["model", "size", "variant", "step", "n_params_total", "tokens_seen"]
    acc = df[df["task"].isin(PYTHIA_TASKS) & (df["metric"] == "acc")]
    wide = acc.pivot_table(index=keys, columns="task", values="value", aggfunc="last")
    ppl = df[(df["task"] == "lambada_openai") & (df["metric"] == "ppl")]
    wide[LOSS] = np.log(ppl.set_index(keys)["value"].groupby(level=keys).last())
    sub = df[df["task"].str.startswith(MMLU_PREFIX) & (df["metric"] == "acc")]
    sub = sub.assign(subject=sub["task"].str.removeprefix(MMLU_PREFIX))
    per = sub.pivot_table(index=keys, columns="subject", values="value", aggfunc="last")
    items = mmlu_items(df).reindex(per.columns)
    wide[MMLU] = (per * items).sum(axis=1, min_count=len(items)) / items.sum()
    if subjects:
        wide = wide.join(per.add_prefix(f"{MMLU}:"))
    out = wide.reset_index().rename(columns={"n_params_total": "n", "tokens_seen": "d"})
    out.columns.name = None
    out["n"] = out["n"].astype(float)
    out["d"] = out["d"].astype(float)
    out.attrs["source"] = df.attrs["source"]
    return out.sort_values(["variant", "n", "step"], kind="stable").reset_index(drop=True)


def load_pythia_downstream(path=None) -> CurveSet:
    """Zero-shot accuracy against tokens seen, one curve per (model, task) of the standard
    and deduplicated Pythia models, with MMLU as its item-weighted mean: the curves
    :func:`pythia_table` holds, for ``curvecast datasets export``; Apache-2.0.

    >>> load_pythia_downstream()  # doctest: +SKIP
    CurveSet(288 runs, ...)
    """
    tables = [pythia_table(v, path=path) for v in ("standard", "deduped")]
    table = pd.concat(tables)
    curves = []
    for model, g in table.groupby("model", sort=True):
        first = g.iloc[0]
        for task in (*PYTHIA_TASKS, MMLU):
            ok = g[task].notna()
            curves.append(Curve(f"{model}/{task}", g["d"][ok].to_numpy(float),
                                g[task][ok].to_numpy(float), "max",
                                {"params": int(first["n"]), "variant": first["variant"]},
                                {"task": task}))
    return CurveSet(curves, source=tables[0].attrs.get("source", ""))
