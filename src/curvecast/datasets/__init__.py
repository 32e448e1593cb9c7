"""Loaders for the public real learning-curve data sets curvecast is tested on.

Each loader returns a :class:`~curvecast.curve.CurveSet` with the runs'
hyperparameters where the source has them. The data live outside the package (they
are large, and not all may be redistributed): pass ``data_dir``, set
``CURVECAST_DATA``, or keep them in ``../shared/data`` relative to the working
directory or to the repository.

* :func:`load_taskset`: TaskSet (Metz et al. 2020), 1,000 Adam configurations per
  task, loss every 200 steps; Apache-2.0.
* :func:`load_nasbench_nlp`: NAS-Bench-NLP (Klyuchnikov et al. 2020), WikiText-2
  validation log-perplexity per epoch of 345 architectures; Apache-2.0.
* :func:`load_cifar10_cnn`: a 3-layer CNN on CIFAR-10 (the curves of Klein et al.
  2017), validation error per epoch of 265 configurations.
* :func:`load_lcdb`: LCDB 1.0 (Mohr et al. 2022), score against training-set size of 20
  scikit-learn learners on 248 OpenML data sets, from the ``lcdb`` package; MIT.
* :func:`load_datablations`: validation loss against tokens of 48 data-constrained
  language-model runs (Muennighoff et al. 2023, via ColPret); Apache-2.0 / MIT.
* :func:`load_pythia`: Pythia's zero-shot downstream accuracy per checkpoint
  (Biderman et al. 2023), one curve per (model, task); Apache-2.0.
* :func:`load_opda`: AlexNet and ConvNeXt-tiny ImageNet sweeps of OPDA (Lourie et al.),
  top-1 accuracy per epoch, epoch budget and one-cycle schedule peak as hyperparameters;
  CC BY-SA 4.0.
* :func:`load_ppo_pong`: PPO's evaluation returns on Atari Pong from HPO-RL-Bench
  (Shala et al. 2024), noisy, at irregular timesteps.
* :func:`load_jena2020`, :func:`load_noaa_wth`: weather series for the retraining
  simulator (:mod:`curvecast.retrain`), as a ``Series`` rather than curves.

:mod:`.catalog` names them (``curvecast datasets list``). The loaders are imported on
first use (PEP 562): the catalog, and so the command line, needs no numpy or pandas.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

_WHERE = {
    "TASKSET_TASKS": "loaders", "data_dir": "loaders", "load_cifar10_cnn": "loaders",
    "load_nasbench_nlp": "loaders", "load_taskset": "loaders",
    "load_lcdb": "lcdb", "load_datablations": "lm", "load_pythia": "lm",
    "load_opda": "opda", "load_ppo_pong": "hporl",
    "DATASETS": "catalog", "Dataset": "catalog",
    "load_jena2020": "weather", "load_noaa_wth": "weather",
}  # fmt: skip

__all__ = [
    "DATASETS",
    "TASKSET_TASKS",
    "Dataset",
    "data_dir",
    "load_cifar10_cnn",
    "load_datablations",
    "load_jena2020",
    "load_lcdb",
    "load_nasbench_nlp",
    "load_noaa_wth",
    "load_opda",
    "load_ppo_pong",
    "load_pythia",
    "load_taskset",
]

if TYPE_CHECKING:
    from .catalog import DATASETS, Dataset
    from .hporl import load_ppo_pong
    from .lcdb import load_lcdb
    from .lm import load_datablations, load_pythia
    from .loaders import (
        TASKSET_TASKS,
        data_dir,
        load_cifar10_cnn,
        load_nasbench_nlp,
        load_taskset,
    )
    from .opda import load_opda
    from .weather import load_jena2020, load_noaa_wth


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'curvecast.datasets' has no attribute {name!r}")
    value = getattr(import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value  # loaded once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
