"""The observational scaling data of Ruan, Maddison and Hashimoto (2024): public base
language models with their size, pretraining tokens, compute and benchmark accuracies.

"Observational Scaling Laws and the Predictability of Language Model Performance"
(arXiv:2405.10938) collects 148 models of some 50 families (Llama, Qwen, Pythia, OPT,
BLOOM, ...) evaluated on MMLU, ARC-C, HellaSwag, Winograd, TruthfulQA, GSM8K, XWinograd
and HumanEval; Apache-2.0. Families differ in how much capability a FLOP buys, which is
what a forecast across families must model.

>>> OBS_BENCHMARKS[:3]
('MMLU', 'ARC-C', 'HellaSwag')
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..curve import Curve, CurveSet
from .loaders import _need, data_dir

OBS_BENCHMARKS = ("MMLU", "ARC-C", "HellaSwag", "Winograd", "TruthfulQA", "GSM8K",
                  "XWinograd", "HumanEval")
OBS_CHANCE = {"MMLU": 0.25, "ARC-C": 0.25, "HellaSwag": 0.25, "Winograd": 0.5,
              "TruthfulQA": 0.0, "GSM8K": 0.0, "XWinograd": 0.5, "HumanEval": 0.0}
"""Accuracy of a guess: four-way choices, two-way Winograd schemas, and open-ended
generation (GSM8K, HumanEval; TruthfulQA's MC2 score has no fixed guessing floor)."""
_RENAME = {"Model": "model", "Model Family": "family", "Model Size (B)": "size_b",
           "Pretraining Data Size (T)": "tokens_t", "FLOPs (1E21)": "flops_1e21"}


def obsscaling_table(path=None, file: str = "base_llm_benchmark_eval.csv") -> pd.DataFrame:
    """The models of ``file`` (in ``scaling/obsscaling_ruan``), one row each: ``model``,
    ``family``, ``n`` (parameters), ``d`` (pretraining tokens), ``flops`` (as published,
    FLOPs), the source's own ``size_b``, ``tokens_t``, ``flops_1e21``, and the benchmark
    columns (accuracies in [0, 1], NaN where a model was not evaluated). Models without a
    published token count have NaN ``d`` and ``flops``.

    >>> t = obsscaling_table()  # doctest: +SKIP
    >>> len(t), t["family"].nunique()  # doctest: +SKIP
    (148, 47)
    """
    f = _need(data_dir(path) / "scaling" / "obsscaling_ruan" / file,
              "observational scaling evaluations (Ruan et al. 2024)")
    df = pd.read_csv(f).rename(columns=_RENAME)
    df.insert(2, "n", df["size_b"] * 1e9)
    df.insert(3, "d", df["tokens_t"] * 1e12)
    df.insert(4, "flops", df["flops_1e21"] * 1e21)
    df.attrs["source"] = str(f)
    return df


def load_obsscaling(path=None) -> CurveSet:
    """Benchmark accuracy against published training compute, one curve per (family,
    benchmark) of the models with a known compute: the 'scaling curves' of each family,
    for ``curvecast datasets export``. Models of a family at the same compute (a
    long-context or re-released variant) are averaged; Apache-2.0.

    >>> load_obsscaling()  # doctest: +SKIP
    CurveSet(321 runs, ...)
    """
    table = obsscaling_table(path)
    table = table[np.isfinite(table["flops"])]
    curves = []
    for family, g in table.groupby("family", sort=True):
        for bench in OBS_BENCHMARKS:
            vals = g.groupby("flops")[bench].mean().dropna()
            if len(vals):
                curves.append(Curve(f"{family}/{bench}", vals.index.to_numpy(float),
                                    vals.to_numpy(float), "max", {"family": family},
                                    {"benchmark": bench}))
    return CurveSet(curves, source=table.attrs.get("source", ""))
