"""The named real data sets of learning curves: what ``curvecast datasets list`` shows and
``curvecast datasets export NAME`` writes.

Light by design (no numpy or pandas until a data set is loaded), so the command line's
start-up stays instant. The run and point counts are those of the data as shipped, checked
against a load of each by tests/datasets/test_cli_datasets.py, so that listing never reads
the data (LCDB alone is 144 MB).

>>> names()[:2]
['cifar10-cnn', 'datablations']
>>> get("opda-alexnet").goal
'max'
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UsageError

if TYPE_CHECKING:
    from ..curve import CurveSet


@dataclass(frozen=True)
class Dataset:
    """One named data set: where it comes from, what its curves are, and its loader.

    ``loader`` is ``"module:function"`` in :mod:`curvecast.datasets`, called with
    ``kwargs`` and the data folder; ``files`` are the paths it reads, relative to the data
    folder (none for LCDB, which is read from the ``lcdb`` package).

    >>> d = get("ppo-pong")
    >>> d.runs, d.points, d.x
    (324, 32400, 'environment timesteps')
    """

    name: str
    source: str
    goal: str
    runs: int
    points: int
    license: str
    x: str
    value: str
    loader: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    files: tuple[str, ...] = ()
    package: str | None = None

    def to_dict(self) -> dict:
        """The listing's fields, for ``--json``."""
        return {k: getattr(self, k) for k in ("name", "source", "goal", "runs", "points",
                                             "license", "x", "value")}

    def expected(self, folder: str | os.PathLike | None = None) -> list[str]:
        """Where the data must be: its files in the data folder, or its package."""
        if self.package is not None:
            return [f"the {self.package!r} Python package (pip install {self.package})"]
        from .loaders import data_dir

        base = Path(data_dir(folder))
        return [str(base / f) for f in self.files]

    def available(self, folder: str | os.PathLike | None = None) -> bool:
        """Whether its data are here (no data folder at all counts as not)."""
        if self.package is not None:
            return importlib.util.find_spec(self.package) is not None
        from ..errors import InputError

        try:
            return all(Path(p).exists() for p in self.expected(folder))
        except InputError:
            return False

    def load(self, folder: str | os.PathLike | None = None) -> CurveSet:
        """Its curves, by its loader (``folder``: the data folder, see ``data_dir``).

        >>> get("cifar10-cnn").load()  # doctest: +SKIP
        CurveSet(265 runs, ...)
        """
        module, func = self.loader.split(":")
        load = getattr(import_module(f"curvecast.datasets.{module}"), func)
        kwargs = dict(self.kwargs)
        if self.package is None:
            kwargs["path"] = folder
        return load(**kwargs)


_TASKSET_LICENSE = "Apache-2.0"
_TASKSET = (
    ("imdb_patch128_LSTM128_avg_bs64", "FixedTextRNNClassification_imdb_patch128_LSTM128_avg_bs64"),
    ("imdb_patch128_LSTM128_embed128_bs64",
     "FixedTextRNNClassification_imdb_patch128_LSTM128_embed128_bs64"),
    ("imdb_patch32_GRU128_bs128", "FixedTextRNNClassification_imdb_patch32_GRU128_bs128"),
    ("imdb_patch32_IRNN64_relu_avg_bs128",
     "FixedTextRNNClassification_imdb_patch32_IRNN64_relu_avg_bs128"),
    ("imdb_patch32_LSTM128_bs128", "FixedTextRNNClassification_imdb_patch32_LSTM128_bs128"),
    ("imdb_patch32_VRNN128_tanh_bs128", "FixedTextRNNClassification_imdb_patch32_VRNN128_tanh_bs128"),
)

_ALL = [
    *(Dataset(f"taskset-{short}", "TaskSet (Metz et al. 2020)", "min", 1000, 51000,
              _TASKSET_LICENSE, "training steps", "validation loss", "loaders:load_taskset",
              {"task": task}, (f"taskset/{task}.json",)) for short, task in _TASKSET),
    Dataset("nasbench-nlp", "NAS-Bench-NLP (Klyuchnikov et al. 2020)", "min", 345, 17094,
            "Apache-2.0", "epochs", "WikiText-2 validation log-perplexity",
            "loaders:load_nasbench_nlp", {},
            ("nasbench_nlp_wt2/train_logs_wikitext-2/logs.zip",)),
    Dataset("cifar10-cnn", "CIFAR-10 CNN (Klein et al. 2017)", "min", 265, 10600,
            "none stated (tests only)", "epochs", "validation error",
            "loaders:load_cifar10_cnn", {}, ("cnn_cifar10",)),
    Dataset("opda-alexnet", "OPDA ImageNet (Lourie et al.)", "max", 512, 22025,
            "CC BY-SA 4.0", "epochs", "top-1 validation accuracy", "opda:load_opda",
            {"model": "alexnet"}, ("opda_imagenet/alexnet-alexnet_tuning.results.jsonl",)),
    Dataset("opda-convnext", "OPDA ImageNet (Lourie et al.)", "max", 512, 18586,
            "CC BY-SA 4.0", "epochs", "top-1 validation accuracy", "opda:load_opda",
            {"model": "convnext"},
            ("opda_imagenet/convnext-convnext-tiny_tuning.results.jsonl",)),
    Dataset("ppo-pong", "HPO-RL-Bench (Shala et al. 2024)", "max", 324, 32400,
            "none stated (tests only)", "environment timesteps", "PPO evaluation return",
            "hporl:load_ppo_pong", {}, ("rl_ppo_pong/ppo_pong_eval.csv",)),
    Dataset("datablations", "Data-constrained LMs (Muennighoff et al. 2023)", "min", 48, 9261,
            "Apache-2.0 / MIT", "tokens", "validation loss", "lm:load_datablations", {},
            ("scaling/datablations_muennighoff/colpret_datablations_losses.csv",)),
    Dataset("pythia", "Pythia (Biderman et al. 2023)", "max", 1040, 28080, "Apache-2.0",
            "training steps", "zero-shot task accuracy", "lm:load_pythia", {},
            ("scaling/pythia_evals/pythia_v1_evals_flat.csv.gz",)),
    # downstream accuracy across scales (issue 20): tables via pythia_table, obsscaling_table
    Dataset("pythia-downstream", "Pythia (Biderman et al. 2023)", "max", 135, 3510,
            "Apache-2.0", "tokens seen", "zero-shot accuracy (8 tasks, MMLU mean)",
            "pythia:load_pythia_downstream", {},
            ("scaling/pythia_evals/pythia_v1_evals_flat.csv.gz",)),
    Dataset("obsscaling", "Observational scaling (Ruan et al. 2024)", "max", 304, 963,
            "Apache-2.0", "training FLOPs", "benchmark accuracy per model family",
            "obsscaling:load_obsscaling", {},
            ("scaling/obsscaling_ruan/base_llm_benchmark_eval.csv",)),
    Dataset("lcdb-accuracy", "LCDB 1.0 (Mohr et al. 2022)", "max", 124029, 1953371, "MIT",
            "training-set size", "validation accuracy", "lcdb:load_lcdb",
            {"metric": "accuracy"}, package="lcdb"),
]
DATASETS: dict[str, Dataset] = {d.name: d for d in sorted(_ALL, key=lambda d: d.name)}
"""Every named data set, by name (sorted)."""


def names() -> list[str]:
    """The data sets' names, sorted.

    >>> "nasbench-nlp" in names()
    True
    """
    return list(DATASETS)


def get(name: str) -> Dataset:
    """The data set called ``name``; an unknown name is a :class:`UsageError` listing all.

    >>> get("nope")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    curvecast.errors.UsageError: no data set 'nope'; known: cifar10-cnn, datablations, ...
    """
    try:
        return DATASETS[name]
    except KeyError:
        raise UsageError(f"no data set {name!r}; known: {', '.join(DATASETS)}") from None
