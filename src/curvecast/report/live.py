"""The live state of an Optuna study, as the dashboard shows it: one JSON-ready dict.

:class:`LiveStudy` reads a study without writing to it (:func:`~..io.optuna.load_study`) and
builds a snapshot: a row per trial (state, points, last value, forecast final with its
interval, ETA to a target, the pruner's latest decision), fans (observed curve, 50/80/95%
bands, median) for the running trials, the latest pruned and the best completed, every
trial's observed curve, and the compute pruning saved. Forecasts are cached per trial
and number of points, so a poll refits only the trials that reported since the last.

What was decided is what is shown: a trial ForecastPruner stopped is shown with the
forecast its stop rested on, as recorded (median and 80% interval of its final, the step
it was made at), never re-forecast; a pruned trial without a record (another pruner's) is
re-forecast, and labelled so. The study is read through :mod:`curvecast.io.optuna`.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass

import numpy as np

from ..api import make_forecaster
from ..curve import Curve, CurveSet
from ..errors import CurvecastError
from ..io.optuna import (
    load_study,
    ran_to_end,
    read_decision,
    run_name,
    shown_storage,
    state,
    study_goal,
)
from ..runs import finite_or_none, observed_eta, run_forecaster
from .curves import FAN_LEVELS
from .page import view_range
from .study import TrialStop, study_line, trial_curves

logger = logging.getLogger(__name__)

FANS = 12
"""Fans of running trials drawn at most (the newest first)."""
PRUNED_FANS = 4
BEST_FANS = 2
GRID = 100
"""Forecast steps per trial, from its last step to the final step (fans and ETA)."""


@dataclass(frozen=True)
class _Fit:
    """One trial's forecast from the points it had: the fan and the final's summary."""

    x: list
    median: list
    bands: dict
    final: tuple  # (median, lower, upper) at the final step
    eta: float | None


def _decision_text(t, stop: TrialStop | None) -> str:
    """What was decided about a trial: its stop, or the pruner's latest judgement."""
    if stop is not None:
        return stop.text()
    shown = state(t)
    rec = read_decision(t)
    if shown == "RUNNING" and rec is not None:
        prob = f", P(better) {rec.prob_better:.3g}" if rec.prob_better is not None else ""
        return f"{rec.reason} at step {'?' if rec.step is None else rec.step}{prob}"
    return {"COMPLETE": "completed", "RUNNING": "running"}.get(shown, shown.lower())


def _curves_by_state(curves, trials) -> dict:
    """Every trial's observed curve, one polyline per state (None between trials)."""
    out: dict[str, dict] = {}
    for c, t in zip(curves, trials, strict=True):
        line = out.setdefault(c.meta["state"], {"x": [], "y": [], "trial": []})
        line["x"] += [*map(float, c.steps), None]
        line["y"] += [*map(finite_or_none, c.values), None]
        line["trial"] += [t.number] * len(c) + [None]
    return out


class LiveStudy:
    """A study's dashboard state, rebuilt by :meth:`snapshot` when the study changes.

    ``target``/``prob``: the ETA is the first step at which a trial's value is at least as
    good as ``target`` with probability ``prob``. ``max_step``: the final step (default:
    the longest completed trial's last step; without either, nothing is forecast).
    ``method``/``bound``: the forecaster, as for ``curvecast forecast``.

    >>> live = LiveStudy("sqlite:///sweep.db", "lm-sweep", target=3.2)  # doctest: +SKIP
    >>> state = live.snapshot()  # doctest: +SKIP
    >>> state["counts"], state["best"], state["compute"]["fraction_saved"]  # doctest: +SKIP
    ({'COMPLETE': 12, 'PRUNED': 40, 'RUNNING': 4}, {'trial': 17, 'value': 3.41}, 0.62)
    """

    def __init__(self, storage: str, study_name: str, *, target: float | None = None,
                 prob: float = 0.5, level: float = 0.8, max_step: int | None = None,
                 method: str = "ensemble", bound: float | None = None, fans: int = FANS):
        self.study = load_study(storage, study_name)
        self.goal = study_goal(self.study)
        self.storage_name = shown_storage(storage)
        self.target, self.prob, self.level = target, prob, level
        self.max_step, self.method, self.bound, self.fans = max_step, method, bound, fans
        # Counting from the clock (ms): a restarted dashboard never reissues a version a
        # page left open could already have.
        self.version = time.time_ns() // 10**6
        self._signature = None
        self._state: dict | None = None
        self._fits: dict[int, tuple[tuple, _Fit | None]] = {}
        self._learns_from_study = make_forecaster(method, bound).uses_context

    def snapshot(self) -> dict:
        """The current state; the same object (and version) while nothing changed."""
        trials = self.study.get_trials(deepcopy=False)
        signature = tuple((t.number, state(t), len(t.intermediate_values),
                           str(getattr(read_decision(t), "step", None))) for t in trials)
        if self._state is None or signature != self._signature:
            self.version += 1
            self._state = self._build(trials)
            self._signature = signature
        self._state["checked"] = time.time()
        return self._state

    def _build(self, trials) -> dict:
        drawn = [t for t in trials if t.intermediate_values]
        curves, stops, totals = trial_curves(drawn, self.goal)
        final = self.max_step or totals["final_step"]
        notes = [study_line(self.study.study_name, totals)] if drawn else []
        panels = self._panels(curves, drawn)
        recorded = {c.run for c in curves if c.run in stops and stops[c.run].recorded()}
        try:
            fits = self._forecasts(curves, drawn, final, {t.number for t, _ in panels},
                                   recorded)
        except CurvecastError as exc:  # shown on the page; the dashboard keeps serving
            logger.warning("forecast failed: %s", exc)
            fits, notes = {}, [*notes, f"forecasts failed: {exc}"]
        if final is None:
            notes.append("No trial has completed yet and no --max-step was given, so the "
                         "final step is unknown and nothing is forecast.")
        rows = {t.number: self._row(t, None, None, None) for t in trials}
        for c, t in zip(curves, drawn, strict=True):
            rows[t.number] = self._row(t, c, stops.get(c.run), fits.get(t.number))
        done = ran_to_end(trials)  # not a trial whose objective returned its forecast
        best = (min if self.goal == "min" else max)(done, key=lambda t: t.value, default=None)
        return {
            "version": self.version, "study": self.study.study_name,
            "storage": self.storage_name, "goal": self.goal, "updated": time.time(),
            "final_step": final, "target": self.target, "prob": self.prob,
            "level": self.level, "method": self.method,
            "counts": dict(Counter(state(t) for t in trials)),
            "best": None if best is None else {"trial": best.number, "value": best.value},
            "compute": self._compute(drawn, stops, totals),
            "trials": [rows[t.number] for t in trials],
            "curves": _curves_by_state(curves, drawn),
            "yrange": view_range([c.values for c in curves]),
            "fans": [self._panel(t, c, stops.get(c.run), fits.get(t.number))
                     for t, c in panels],
            "notes": notes,
        }

    def _compute(self, drawn, stops: dict[str, TrialStop], totals: dict) -> dict:
        running = sum(int(t.last_step) for t in drawn if state(t) == "RUNNING")
        saved = sum(s.saved or 0 for s in stops.values())
        full = totals["full"]
        return {"used": totals["used"] + running, "running": running, "saved": saved,
                "fraction_saved": 1 - totals["used"] / full if full else None}

    def _forecasts(self, curves: list[Curve], trials, final, drawn: set[int],
                   recorded: set[str] = frozenset()) -> dict[int, _Fit | None]:
        """Forecasts of the running and pruned trials short of the final step: along the
        way to it for the running ones and those ``drawn`` as fans, at the final step
        only for the rest; none of the trials whose stop has a ``recorded`` forecast
        (that is shown). Cached per trial, refit when its points, the final step or
        (for a forecaster that learns from them) the completed trials change."""
        if final is None:
            return {}
        context = (sum(c.meta["state"] == "COMPLETE" for c in curves)
                   if self._learns_from_study else 0)
        need: dict[bool, list] = {True: [], False: []}
        out = {}
        for c, t in zip(curves, trials, strict=True):
            if c.meta["state"] not in ("RUNNING", "PRUNED") or c.status != "ok" \
                    or c.last_step >= final or c.run in recorded:
                continue
            way = c.meta["state"] == "RUNNING" or t.number in drawn
            key = (len(c), final, context, way)
            cached = self._fits.get(t.number)
            if cached is not None and cached[0] == key:
                out[t.number] = cached[1]
            else:
                need[way].append((t.number, key, c))
        for way, todo in need.items():
            if not todo:
                continue
            fresh = self._forecast([c for _, _, c in todo], curves, final, way)
            for (number, key, _), fit in zip(todo, fresh, strict=True):
                self._fits[number] = (key, fit)
                out[number] = fit
        return out

    def _forecast(self, todo: list[Curve], curves: list[Curve], final: float,
                  way: bool) -> list:
        lasts = np.array([c.last_step for c in todo])
        x = (np.unique(np.append(np.linspace(lasts.min(), final, GRID), final)) if way
             else np.array([float(final)]))
        fc = run_forecaster(CurveSet(curves), final, self.method, self.bound).forecast(todo, x)
        # Every quantile in one solve (each call solves the whole batch): the median, the
        # fans' bands, then the final's interval.
        probs = [0.5, *[p for lv in FAN_LEVELS for p in ((1 - lv) / 2, (1 + lv) / 2)],
                 (1 - self.level) / 2, (1 + self.level) / 2]
        q = fc.quantiles(probs)
        etas = (fc.eta(self.target, self.prob, after=lasts) if way and self.target is not None
                else np.full(len(todo), np.nan))
        fits = []
        for i, c in enumerate(todo):
            if not fc.valid[i]:
                fits.append(None)
                continue
            ahead = x > c.last_step
            qi = q[i, ahead]
            # The fan starts at the last observed point, so it joins the curve.
            start = [float(c.last_step)], [float(c.values[-1])]
            fits.append(_Fit(
                x=start[0] + x[ahead].tolist(), median=start[1] + qi[:, 0].tolist(),
                bands={f"{lv:g}": [start[1] + qi[:, 1 + 2 * k].tolist(),
                                   start[1] + qi[:, 2 + 2 * k].tolist()]
                       for k, lv in enumerate(FAN_LEVELS)},
                final=tuple(finite_or_none(v) for v in q[i, -1, [0, -2, -1]]),
                eta=finite_or_none(etas[i])))
        return fits

    def _row(self, t, c: Curve | None, stop: TrialStop | None, fit: _Fit | None) -> dict:
        shown = state(t)
        row = {"number": t.number, "name": f"trial {t.number}", "run": run_name(t),
               "state": shown,
               "params": {k: str(v) for k, v in t.params.items()},  # an int stays one
               "points": 0 if c is None else len(c),
               "last_step": None if c is None else float(c.last_step),
               "last": None if c is None else finite_or_none(c.last),
               "value": (finite_or_none(t.value) if shown == "COMPLETE"
                         and t.value is not None else None),
               "forecast": None, "forecast_source": None, "eta": None,
               "decision": _decision_text(t, stop)}
        rec = stop.recorded() if stop is not None else None
        if rec is not None:  # what the stop rested on, not a new forecast
            row["forecast"] = {"median": finite_or_none(rec.median),
                               "lower": finite_or_none(rec.lower),
                               "upper": finite_or_none(rec.upper)}
            row["forecast_source"] = f"recorded at step {rec.step:g}"
        elif fit is not None:
            row["forecast"] = dict(zip(("median", "lower", "upper"), fit.final, strict=True))
            row["forecast_source"] = (f"re-forecast by {self.method}" if stop is not None
                                      else f"by {self.method}")
        if c is not None and self.target is not None:
            # Where it got there, else (still running) where its forecast gets there.
            seen = observed_eta(c.steps, c.values, self.target, self.goal)
            row["eta"] = (seen if seen is not None else
                          fit.eta if fit is not None and shown == "RUNNING" else None)
        return row

    def _panels(self, curves, trials) -> list[tuple]:
        """(trial, curve) of the fans: running trials (newest first), the latest pruned,
        the best completed."""
        by_state: dict[str, list] = {}
        for c, t in zip(curves, trials, strict=True):
            by_state.setdefault(c.meta["state"], []).append((t, c))
        sign = 1.0 if self.goal == "min" else -1.0
        done = sorted((p for p in by_state.get("COMPLETE", []) if p[0].value is not None),
                      key=lambda p: sign * p[0].value)
        newest = sorted(by_state.get("RUNNING", []), key=lambda p: -p[0].number)
        pruned = sorted(by_state.get("PRUNED", []), key=lambda p: -p[0].number)
        return newest[:self.fans] + pruned[:PRUNED_FANS] + done[:BEST_FANS]

    def _panel(self, t, c: Curve, stop: TrialStop | None, fit: _Fit | None) -> dict:
        run = run_name(t)
        title = f"trial {t.number}" + (f" ({run})" if run is not None else "")
        rec = stop.recorded() if stop is not None else None
        recorded = None
        if rec is not None:  # drawn as recorded, never re-forecast
            k = np.flatnonzero(c.steps <= rec.step)
            seen = c.values[k[-1]] if k.size else c.values[-1]
            recorded = {"step": float(rec.step), "final_step": float(rec.at),
                        "value": finite_or_none(seen), "median": finite_or_none(rec.median),
                        "lower": finite_or_none(rec.lower), "upper": finite_or_none(rec.upper),
                        "level": rec.level,
                        "best": None if rec.best is None else finite_or_none(rec.best),
                        "prob_better": (None if stop.prob_better is None
                                        else finite_or_none(stop.prob_better))}
            inner = [[rec.lower, rec.upper]] + ([[rec.best]] if rec.best is not None else [])
            fit = None
        else:
            inner = fit.bands[f"{0.8:g}"] if fit is not None else []
        source = (f"forecast recorded at step {rec.step:g}" if rec is not None else
                  None if fit is None else
                  f"re-forecast by {self.method}" if stop is not None else
                  f"forecast by {self.method}")
        return {
            "number": t.number, "title": title, "state": c.meta["state"],
            "steps": [float(s) for s in c.steps], "values": [finite_or_none(v) for v in c.values],
            "fan": None if fit is None else {"x": fit.x, "median": fit.median,
                                             "bands": fit.bands},
            "recorded": recorded, "forecast_source": source,
            "stop": None if stop is None else {"step": stop.step, "text": stop.text()},
            "eta": None if fit is None else fit.eta,
            "decision": _decision_text(t, stop),
            "yrange": _covering(view_range([c.values], inner),
                                [] if rec is None else [rec.lower, rec.upper, rec.best]),
        }


def _covering(yrange: list | None, values) -> list | None:
    """``yrange`` widened to show ``values`` too (a recorded forecast's interval and the
    best final it was compared with: what the decision rested on stays in view)."""
    vals = [float(v) for v in values if v is not None and np.isfinite(v)]
    if yrange is None or not vals:
        return yrange
    lo, hi = min(yrange[0], *vals), max(yrange[1], *vals)
    pad = 0.05 * (hi - lo) if (lo < yrange[0] or hi > yrange[1]) and hi > lo else 0.0
    return [lo - pad if lo < yrange[0] else lo, hi + pad if hi > yrange[1] else hi]
