"""MLflow tracking stores: one run per MLflow run of an experiment, every point kept.

The store is read through MLflow's own client (``mlflow-skinny``, ``pip install
'curvecast[mlflow]'``): a tracking directory (``mlruns/``, MLflow's file store), an
``mlflow.db`` SQLite file (MLflow 3's default store), or any tracking URI
(``http://...``, ``sqlite:///...``, ``postgresql://...``). The curve of a run is the
metric's whole history (``MlflowClient.get_metric_history``), not the latest value.

* run names are MLflow's run names; two runs of one name are told apart by their run
  id's first 8 characters, ``name (1a2b3c4d)``;
* a step logged twice keeps the value logged last (a run resumed from a checkpoint);
* the run's parameters are its hyperparameters (numbers where they read as numbers);
  its run id, experiment, status and the metric are in ``meta``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ..curve import CurveSet, check_goal
from ..errors import InputError
from .tabular import _make_curve

_URI = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
PAGE = 1000


def is_mlflow_store(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an MLflow tracking directory (its experiments' folders hold a
    ``meta.yaml``) or an ``mlflow.db`` file.

    >>> is_mlflow_store("runs.csv")
    False
    """
    p = Path(path)
    if p.is_file():
        return p.name.lower().endswith(".db")
    if not p.is_dir():
        return False
    return any((d / "meta.yaml").is_file() for d in p.iterdir() if d.is_dir())


MLFLOW_TABLES = {"experiments", "runs", "metrics", "params"}


def check_mlflow_db(path: Path) -> None:
    """Raise :class:`InputError` unless ``path`` is an SQLite file holding MLflow's tables:
    MLflow's client would create its tables in any other database it is pointed at (an
    Optuna study's, say). Opened read-only."""
    import sqlite3

    try:
        with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as db:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master "
                                               "WHERE type = 'table'")}
    except sqlite3.Error as exc:
        raise InputError(f"not an SQLite database ({exc}); give an MLflow tracking "
                         "directory, an mlflow.db file or a tracking URI",
                         file=str(path)) from None
    if not MLFLOW_TABLES <= tables:
        raise InputError("an SQLite database without MLflow's tables (experiments, runs, "
                         "metrics); give the mlflow.db the runs were logged to",
                         file=str(path))


def tracking_uri(source: str | os.PathLike) -> str:
    """The tracking URI of a directory, a ``.db`` file, or a URI given as it is.

    >>> tracking_uri("sqlite:///mlflow.db"), tracking_uri("/tmp/mlruns")
    ('sqlite:///mlflow.db', 'file:///tmp/mlruns')
    """
    text = str(source)
    if _URI.match(text):
        return text
    p = Path(text).resolve()
    return f"sqlite:///{p}" if p.is_file() else p.as_uri()


HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
                 "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                 "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}
"""MLflow's HTTP settings while reading, unless set in the environment: MLflow's own (7
retries, backoff factor 2, 120 s) wait about four minutes on a server that is not running
before they fail; these fail in about three seconds, still retrying a busy server twice."""


def local_store(source: str | os.PathLike) -> Path | None:
    """The local path of a store: a path, a ``file:`` URI's directory, a ``sqlite:///``
    URI's file; None for a server's URI (``http://...``, ``postgresql://...``).

    >>> local_store("sqlite:////tmp/mlflow.db").as_posix(), local_store("http://h:5000")
    ('/tmp/mlflow.db', None)
    """
    from urllib.parse import urlparse
    from urllib.request import url2pathname

    text = str(source)
    if not _URI.match(text):
        return Path(text)
    url = urlparse(text)
    if url.scheme == "file" and url.netloc in ("", "localhost"):
        return Path(url2pathname(url.path))
    if url.scheme == "sqlite" and url.path not in ("", "/", "/:memory:"):
        return Path(url2pathname(url.path[1:]))  # sqlite:///rel.db, sqlite:////abs.db
    return None


@contextmanager
def _reading_env() -> Iterator[None]:
    # MLflow 3 refuses to open a file store (mlruns/) unless MLFLOW_ALLOW_FILE_STORE is set:
    # reading one that an older MLflow wrote is what this reader is for. urllib3 logs each
    # retry as a warning: the error raised says what failed, once.
    env = {**{k: v for k, v in HTTP_DEFAULTS.items() if k not in os.environ},
           "MLFLOW_ALLOW_FILE_STORE": "true"}
    old = {k: os.environ.get(k) for k in env}
    pool = logging.getLogger("urllib3.connectionpool")
    level = pool.level
    os.environ.update(env)
    pool.setLevel(logging.ERROR)
    try:
        yield
    finally:
        pool.setLevel(level)
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def read_mlflow(source: str | os.PathLike, *, experiment: str | None = None,
                metric: str | None = None, goal: str = "min") -> CurveSet:
    """Read ``metric``'s history from every run of ``experiment`` in an MLflow store.

    ``experiment`` (a name or an id) may be left out when the store holds one experiment
    with runs; ``metric`` when its runs log one metric. Errors name what the store holds.

    >>> read_mlflow("mlruns/", experiment="sweep", metric="val_loss")  # doctest: +SKIP
    CurveSet(12 runs, source='mlruns/')
    """
    goal = check_goal(goal)
    file = str(source)
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise InputError("reading an MLflow store needs mlflow: pip install "
                         "'curvecast[mlflow]'", file=file) from None
    local = local_store(file)
    if local is not None and local.is_file():
        check_mlflow_db(local)
    elif local is not None and not is_mlflow_store(local):
        # MLflow's client would create a store there (mlruns/0/, an empty mlflow.db)
        raise InputError("no MLflow tracking directory or mlflow.db here; give the "
                         "directory or URI the runs were logged to", file=file)
    with _reading_env():
        client = MlflowClient(tracking_uri(source))
        exp = _reached(lambda: _experiment(client, experiment, file), file)
        runs = _runs(client, exp.experiment_id)
        if not runs:
            raise InputError(f"experiment {exp.name!r} has no runs", file=file)
        metric = _metric(runs, metric, exp.name, file)
        names = _names(runs)
        curves = []
        for run in runs:
            if metric not in run.data.metrics:
                continue
            steps, values = _points(client.get_metric_history(run.info.run_id, metric))
            meta = {"run_id": run.info.run_id, "experiment": exp.name,
                    "status": run.info.status, "metric": metric}
            curves.append(_make_curve(file, names[run.info.run_id], steps, values, goal,
                                      _params(run.data.params), meta))
    return CurveSet(curves, source=file)


def _reached(call: Callable[[], Any], file: str) -> Any:
    """``call()``, the store's first request: a store that cannot be reached (a server
    not running, a refused connection) is one :class:`InputError` line."""
    from mlflow.exceptions import MlflowException

    try:
        return call()
    except MlflowException as exc:
        why = str(exc.message if hasattr(exc, "message") else exc).splitlines()[0]
        # urllib3's "API request to URL failed with exception HTTPConnectionPool(...): Max
        # retries exceeded ... (Caused by NewConnectionError(...: [Errno 111] Connection
        # refused"))": the URL and the cause are what a user needs
        url = re.match(r"API request to (\S+) failed", why)
        cause = re.search(r"\[Errno -?\d+\] [^\"')]+|[Rr]ead timed out[^\"')]*", why)
        if url and cause:
            why = f"{url.group(1)}: {cause.group(0).strip()}"
        raise InputError(f"cannot read the MLflow store ({why[:300]}); check the tracking "
                         "URI and that its server runs (MLFLOW_HTTP_REQUEST_MAX_RETRIES and "
                         "MLFLOW_HTTP_REQUEST_TIMEOUT allow a slow one longer)",
                         file=file) from None


def _experiment(client: Any, wanted: str | None, file: str) -> Any:
    experiments = client.search_experiments()
    if wanted is not None:
        for e in experiments:
            if wanted in (e.name, e.experiment_id):
                return e
        raise InputError(f"no experiment {wanted!r} in the store; experiments: "
                         f"{', '.join(sorted(repr(e.name) for e in experiments)) or 'none'}", file=file)
    with_runs = [e for e in experiments if client.search_runs([e.experiment_id], max_results=1)]
    if len(with_runs) == 1:
        return with_runs[0]
    if not with_runs:
        raise InputError("the store holds no runs; point at the tracking directory or URI "
                         "the runs were logged to", file=file)
    raise InputError(f"the store holds {len(with_runs)} experiments with runs; choose one "
                     f"with experiment (--experiment): "
                     f"{', '.join(sorted(repr(e.name) for e in with_runs))}", file=file)


def _runs(client: Any, experiment_id: str) -> list[Any]:
    """Every run of the experiment (all pages), oldest first."""
    runs, token = [], None
    while True:
        page = client.search_runs([experiment_id], max_results=PAGE, page_token=token,
                                  order_by=["attributes.start_time ASC"])
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def _metric(runs: list[Any], wanted: str | None, experiment: str, file: str) -> str:
    keys = sorted({k for r in runs for k in r.data.metrics})
    if wanted is not None:
        if wanted not in keys:
            raise InputError(f"no run of experiment {experiment!r} logged metric {wanted!r}; "
                             f"metrics: {', '.join(keys) or 'none'}", file=file)
        return wanted
    if len(keys) == 1:
        return keys[0]
    raise InputError(f"the runs of experiment {experiment!r} log "
                     f"{len(keys) or 'no'} metrics; choose one with metric (--metric)"
                     + (f": {', '.join(keys)}" if keys else ""), file=file)


def _names(runs: list[Any]) -> dict[str, str]:
    """run id -> run name, with the id's head where names repeat."""
    counts: dict[str, int] = {}
    for r in runs:
        counts[r.info.run_name or r.info.run_id] = counts.get(r.info.run_name or r.info.run_id,
                                                              0) + 1
    out = {}
    for r in runs:
        name = r.info.run_name or r.info.run_id
        out[r.info.run_id] = name if counts[name] == 1 else f"{name} ({r.info.run_id[:8]})"
    return out


def _points(history: list[Any]) -> tuple[np.ndarray, list[float]]:
    """Steps and values of a metric history, a step logged twice keeping its last value."""
    by_step: dict[int, float] = {}
    for m in sorted(history, key=lambda m: (m.step, m.timestamp)):
        by_step[m.step] = float(m.value)
    steps = sorted(by_step)
    return np.asarray(steps, float), [by_step[s] for s in steps]


def _params(params: dict[str, str]) -> dict[str, Any]:
    """MLflow keeps parameters as text: numbers read back as numbers."""
    out: dict[str, Any] = {}
    for k, v in params.items():
        try:
            f = float(v)
        except ValueError:
            out[k] = v
            continue
        out[k] = int(f) if re.fullmatch(r"[+-]?\d+", v.strip()) else f
    return out
