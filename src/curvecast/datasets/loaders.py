"""The loaders behind :mod:`curvecast.datasets`."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np

from ..curve import Curve, CurveSet
from ..errors import InputError

TASKSET_TASKS = (
    "FixedTextRNNClassification_imdb_patch128_LSTM128_avg_bs64",
    "FixedTextRNNClassification_imdb_patch128_LSTM128_embed128_bs64",
    "FixedTextRNNClassification_imdb_patch32_GRU128_bs128",
    "FixedTextRNNClassification_imdb_patch32_IRNN64_relu_avg_bs128",
    "FixedTextRNNClassification_imdb_patch32_LSTM128_bs128",
    "FixedTextRNNClassification_imdb_patch32_VRNN128_tanh_bs128",
)
TASKSET_STEP = 200
"""TaskSet evaluates every 200 training steps, starting at step 0 (before training)."""


def data_dir(path: str | os.PathLike | None = None) -> Path:
    """The real-data folder, by one rule: ``path`` if given, else $CURVECAST_DATA if set
    (either must be a folder: an explicit choice is never silently replaced), else
    ``../shared/data`` from the working directory, else ``shared/data`` in the nearest
    folder above this package (for a checkout, ``../shared/data`` beside it).

    >>> data_dir(".") == Path(".").resolve()
    True
    """
    for given, what in ((path, "the data folder given"),
                        (os.environ.get("CURVECAST_DATA"), "CURVECAST_DATA")):
        if given is not None and str(given) != "":
            if not Path(given).is_dir():
                raise InputError(f"{what} is not a folder: {str(given)!r}; point it at the "
                                 "folder that holds the data sets (see "
                                 "../shared/data/README.md)")
            return Path(given).resolve()
    looked = _default_dirs()
    for c in looked:
        if c.is_dir():
            return c.resolve()
    raise InputError(
        "no real-data folder found (looked for "
        f"{', '.join(str(c) for c in looked[:3])}, ...); set CURVECAST_DATA to the folder "
        "that holds the data sets, or place them in ../shared/data next to the repository"
    )


def _default_dirs() -> list[Path]:
    here = Path(__file__).resolve()
    return [Path.cwd().parent / "shared" / "data",
            *(p / "shared" / "data" for p in here.parents)]


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        raise InputError(f"{what} not found; see ../shared/data/README.md for the data "
                         "sets, or set CURVECAST_DATA to the folder that holds them",
                         file=str(path))
    return path


def _nan_list(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def load_taskset(task: str = TASKSET_TASKS[2], split: str = "valid", path=None) -> CurveSet:
    """Loss curves of one TaskSet task (``split`` is 'train', 'valid' or 'test').

    >>> cs = load_taskset()  # doctest: +SKIP
    >>> len(cs), cs[0].steps[:3].tolist()  # doctest: +SKIP
    (1000, [0.0, 200.0, 400.0])
    """
    file = data_dir(path) / "taskset" / f"{task}.json"
    if task not in TASKSET_TASKS:
        raise InputError(f"no TaskSet task {task!r}; known tasks: {', '.join(TASKSET_TASKS)}")
    _need(file, "TaskSet task file")
    runs = json.loads(file.read_text())
    curves = []
    for i, r in enumerate(runs):
        v = _nan_list(r[split]["loss"])
        curves.append(Curve(f"{i:04d}", np.arange(v.size) * TASKSET_STEP, v, "min", r["hp"],
                            {"task": task}))
    return CurveSet(curves, source=str(file))


def load_nasbench_nlp(path=None) -> CurveSet:
    """Validation log-perplexity per epoch (1..50) of the NAS-Bench-NLP WikiText-2 runs.

    Runs are named ``arch-<recipe id>`` (``arch-<id>.2``, ... for repeated trainings of a
    recipe). A run whose log says "loss is nan!" stopped there: where its last logged
    value is finite, a NaN is added at the next epoch, so that it reads as diverged.
    """
    file = _need(data_dir(path) / "nasbench_nlp_wt2" / "train_logs_wikitext-2" / "logs.zip",
                 "NAS-Bench-NLP WikiText-2 logs")
    curves = []
    seen: dict[str, int] = {}
    with zipfile.ZipFile(file) as z:
        for name in sorted(z.namelist()):
            if not name.endswith(".json"):
                continue
            r = json.loads(z.read(name))
            v = _nan_list(r["val_losses"])
            if "nan" in str(r["status"]).lower() and np.isfinite(v[-1:]).all():
                v = np.append(v, np.nan)
            run = f"arch-{r['recepie_id']}"
            seen[run] = seen.get(run, 0) + 1
            if seen[run] > 1:
                run = f"{run}.{seen[run]}"
            hp = {k: r[k] for k in ("num_params", "lr", "batch_size", "dropout", "nhid", "emsize")}
            curves.append(Curve(run, np.arange(1, v.size + 1), v, "min", hp,
                                {"status": r["status"]}))
    return CurveSet(curves, source=str(file))


def load_cifar10_cnn(path=None) -> CurveSet:
    """Validation error per epoch (1..40) of the CIFAR-10 CNN configurations.

    Runs are named by their file (``config_<n>``): the files' own config_id repeats.
    """
    folder = _need(data_dir(path) / "cnn_cifar10", "CIFAR-10 CNN curves folder")
    files = sorted(folder.glob("config_*.json"), key=lambda p: int(p.stem.split("_")[1]))
    curves = []
    for f in files:
        r = json.loads(f.read_text())
        v = _nan_list(r["learning_curve"])
        curves.append(Curve(f.stem, np.arange(1, v.size + 1), v, "min",
                            r["config"], {"config_id": r["config_id"], "runtime": r["runtime"]}))
    return CurveSet(curves, source=str(folder))
