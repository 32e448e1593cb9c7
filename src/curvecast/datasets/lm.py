"""Learning curves of large language models: validation loss of the data-constrained runs
of Muennighoff et al. (2023) and Pythia's downstream accuracy over its checkpoints.

Both are far from the sweeps of small models the other loaders give (billions of
parameters, tokens as x, log-spaced checkpoints, accuracies at chance for most of a run),
which is what makes them worth learning from.
"""

from __future__ import annotations

import pandas as pd

from ..curve import Curve, CurveSet
from .loaders import _need, data_dir

PYTHIA_FEWSHOT = 0


def load_datablations(path=None) -> CurveSet:
    """Validation loss against tokens seen of the 48 data-constrained runs (2.8B, 4.2B and
    8.7B parameters; C4 or OSCAR repeated for 1 to 44 epochs) of Muennighoff et al. 2023,
    as collected by IBM's ColPret; Apache-2.0 / MIT.

    Runs are named ``<params>-<data>-<epochs>ep``; hp holds params, data, epochs and
    unique tokens per epoch.
    """
    file = _need(data_dir(path) / "scaling" / "datablations_muennighoff"
                 / "colpret_datablations_losses.csv", "datablations loss curves")
    df = pd.read_csv(file)
    curves = []
    for (params, data, epochs), g in df.groupby(["num_params", "data", "epochs"], sort=True):
        g = g.sort_values("token_num")
        hp = {"params": params, "data": data, "epochs": int(epochs),
              "tokens_per_epoch": float(g["tokens_per_epoch"].iloc[0])}
        curves.append(Curve(f"{params}-{data}-{epochs}ep", g["token_num"].to_numpy(float),
                            g["loss"].to_numpy(float), "min", hp))
    return CurveSet(curves, source=str(file))


def load_pythia(metric: str = "acc", tasks: str | None = None, path=None) -> CurveSet:
    """Zero-shot downstream ``metric`` against training step of the Pythia models
    (Biderman et al. 2023; 70M-12B, standard and deduplicated), one curve per (model,
    task), from step 0 (untrained) to 143,000 at log-spaced then regular checkpoints;
    Apache-2.0. ``tasks``: keep the tasks whose name starts with it.
    """
    file = _need(data_dir(path) / "scaling" / "pythia_evals" / "pythia_v1_evals_flat.csv.gz",
                 "Pythia evaluations")
    df = pd.read_csv(file)
    df = df[(df["num_fewshot"] == PYTHIA_FEWSHOT) & (df["metric"] == metric)]
    if tasks is not None:
        df = df[df["task"].str.startswith(tasks)]
    curves = []
    for (model, task), g in df.groupby(["model", "task"], sort=True):
        g = g.sort_values("step").drop_duplicates("step", keep="last")
        first = g.iloc[0]
        hp = {"params": int(first["n_params_total"]), "variant": first["variant"]}
        curves.append(Curve(f"{model}/{task}", g["step"].to_numpy(float),
                            g["value"].to_numpy(float), "max", hp, {"task": task}))
    return CurveSet(curves, source=str(file))

