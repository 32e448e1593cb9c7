"""The names the command line offers, kept free of heavy imports so ``--help`` is instant.

Each tuple mirrors a registry in the module that implements it (``tests/test_choices.py``
checks that they agree): importing numpy, scipy or pandas to list a few names would cost
the command line a second before it could print its help.

>>> "ensemble" in METHODS and "pow3" in METHODS, FORMATS[0], GOALS
(True, 'csv', ('min', 'max'))
"""

from __future__ import annotations

GOALS = ("min", "max")
"""Which way is better: 'min' for loss or error, 'max' for accuracy (curve.GOALS)."""
FORMATS = ("csv", "jsonl", "parquet", "tensorboard", "mlflow", "wandb")
"""Input formats of curve files (io.FORMATS)."""
FAMILIES = ("pow3", "pow2", "pow4", "log2", "exp2", "exp3", "exp4", "expp3", "vap3", "mmf4",
            "wbl4", "janoschek", "ilog2", "logpower3", "loglinear", "hill3", "lin2", "last1")
"""Parametric curve families, in families.FAMILIES' order."""
DEFAULT_METHOD = "joint"
"""What method 'default' means: the project's best forecaster of the day."""
METHODS = ("default", "bma", "direct", "ensemble", "joint", "last", "mcmc", "mean_last", "study") + FAMILIES
"""Every forecaster name (api.method_names())."""
LAWS = ("power", "plain_power", "bnsl", "chinchilla", "overtraining", "data_constrained")
"""Scaling laws (scaling.LAWS)."""
