"""The core every training-loop callback shares: points in, a stop decision out.

A callback hands :class:`RunWatch` the monitored value at each evaluation; the watch
keeps the run's curve, forecasts it to the run's last step when its points have grown
enough (see :func:`curvecast.decisions.due`), and judges it with the rules of
:mod:`curvecast.decisions`: stop when the probability that the final value reaches
``target`` is below ``risk`` (confirmed by a second judgement unless far below it, see
:func:`~curvecast.decisions.confirm`), when the forecast expects less than ``min_gain``
of further improvement (converged), or at once on a NaN or inf. Each judgement also
gives the step at which the target is reached with probability one half (the ETA), and
the numbers a callback logs (:meth:`Judgement.metrics`). The callbacks are adapters:
they read the framework's state, call :meth:`RunWatch.update`, log and stop.

>>> watch = RunWatch(target=0.1, max_steps=100)
>>> for step in range(1, 13):
...     j = watch.update(step, 0.9 + 0.5 / step)  # a plateau far above 0.1
>>> j.stop, j.decision.reason
(True, 'cannot_win')
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace

import numpy as np

from ..api import make_forecaster
from ..curve import MIN_POINTS, Curve, check_goal
from ..decisions import LEVEL, Decision, confirm, decide, diverged, due
from ..forecast import Forecast
from ..forecasters import Forecaster
from ..runs import eta_grid

log = logging.getLogger("curvecast.integrations")

ETA_PROB = 0.5
"""The ETA is the first step at which the target is reached with this probability."""


@dataclass(frozen=True)
class Judgement:
    """A run's latest judgement: the :class:`~curvecast.decisions.Decision` (its
    forecast of the final value at ``decision.final_step``) and ``eta``, the step at
    which the forecast reaches the target with probability 1/2 (NaN: not by the final
    step; None: no target, or no forecast).

    >>> j = Judgement(Decision(False, "continue", prob_better=0.4, median=0.2, lower=0.1,
    ...                        upper=0.3, step=10, final_step=50), eta=30.0)
    >>> sorted(j.metrics())
    ['forecast/eta', 'forecast/lower', 'forecast/median', 'forecast/prob_target', 'forecast/upper']
    """

    decision: Decision
    eta: float | None = None

    @property
    def stop(self) -> bool:
        """Whether the run should stop now."""
        return self.decision.stop

    def metrics(self, prefix: str = "forecast/", *, fill: bool = False) -> dict[str, float]:
        """The forecast as loggable numbers (those that are known; ``fill``: all five,
        NaN where unknown, for loggers whose columns are fixed by their first row):
        ``median``, ``lower`` and ``upper`` of the 80% interval of the final value,
        ``prob_target`` (the probability of reaching the target) and ``eta``."""
        d = self.decision
        named = {"median": d.median, "lower": d.lower, "upper": d.upper,
                 "prob_target": d.prob_better, "eta": self.eta}
        return {prefix + k: math.nan if v is None else float(v) for k, v in named.items()
                if fill or v is not None}

    def describe(self, monitor: str) -> str:
        """One line for a log: what was decided and the forecast it rests on."""
        d = self.decision
        text = f"curvecast: {monitor} at step {d.step}: {d.reason}"
        if d.median is not None:
            text += (f"; final at step {d.final_step}: median {d.median:.4g}, "
                     f"{LEVEL:.0%} interval [{d.lower:.4g}, {d.upper:.4g}]")
        if d.prob_better is not None:
            text += f", P(reach target {d.incumbent:.4g}) = {d.prob_better:.3f}"
        if self.eta is not None:
            text += f", ETA step {self.eta:.4g}" if math.isfinite(self.eta) else ", ETA never"
        return text


class RunWatch:
    """One training run's curve and its judgements (see the module docstring).

    Args:
        mode: 'min' (a loss) or 'max' (an accuracy).
        target: the value the run must reach (or a reference run's final to beat);
            None: judge convergence and divergence only.
        risk: stop when the probability of reaching ``target`` by ``max_steps`` is
            below this. Default 0.05.
        min_gain: if given, stop when the forecast expects less improvement than this
            from the run's level now (mean of its last 3 values) to its final value.
        max_steps: the run's last step (its budget); None: give it to ``update``.
        growth: forecast again when the run's points have grown by this factor (at
            least one point). Default 1.0: at every evaluation.
        method: the forecaster (a name of :func:`curvecast.make_forecaster`, or one).
        bound: the metric's best attainable value, if known (0 for a loss).

    >>> watch = RunWatch(target=0.35, max_steps=200)
    >>> for step in range(10, 110, 10):
    ...     j = watch.update(step, 0.3 + 2.0 / step)  # heading for 0.3
    >>> j.stop, bool(j.eta < 200)
    (False, True)
    """

    def __init__(self, *, mode: str = "min", target: float | None = None, risk: float = 0.05,
                 min_gain: float | None = None, max_steps: int | None = None,
                 growth: float = 1.0, method: str | Forecaster = "default",
                 bound: float | None = None) -> None:
        check_args(mode, target, risk, min_gain, max_steps)
        if growth < 1.0:
            raise ValueError(f"growth must be at least 1, but got {growth=}.")
        self.mode = check_goal(mode)
        self.target = None if target is None else float(target)
        self.risk, self.min_gain, self.max_steps = risk, min_gain, max_steps
        self.growth = growth
        self._forecaster = make_forecaster(method, bound)
        self.steps: list[float] = []
        self.values: list[float] = []
        self.last: Judgement | None = None
        self._judged = 0  # points at the last forecast

    def update(self, step: float, value: float, max_steps: int | None = None) -> Judgement:
        """Add the value at ``step`` and judge the run; ``max_steps``: its last step
        where the watch was not given one. A step at or before the last one (a run
        resumed from a checkpoint) replaces the points from there on."""
        step, value = float(step), float(value)
        while self.steps and self.steps[-1] >= step:
            self.steps.pop()
            self.values.pop()
            self._judged = min(self._judged, len(self.steps))
        self.steps.append(step)
        self.values.append(value)
        final = self.max_steps if self.max_steps is not None else max_steps
        if final is None:
            raise ValueError("the run's last step is unknown: give max_steps")
        if not math.isfinite(value):
            return self._keep(Judgement(replace(diverged(), step=_whole(step))))
        if len(self.steps) < MIN_POINTS or not due(len(self.steps), self._judged, self.growth):
            kept = self.last.decision if self.last is not None else Decision(False, "no_forecast")
            return Judgement(replace(kept, stop=False) if kept.stop else kept,
                             None if self.last is None else self.last.eta)
        self._judged = len(self.steps)
        return self._keep(self._judge(max(int(final), math.ceil(step))))

    def _judge(self, final: int) -> Judgement:
        curve = Curve("run", self.steps, self.values, self.mode)
        if curve.status != "ok":  # an earlier NaN the loop went past
            return Judgement(replace(diverged(), step=_whole(curve.last_step)))
        at_final = final <= curve.last_step
        grid = np.array([float(final)]) if at_final else eta_grid(curve, float(final))
        fc = self._forecaster.forecast([curve], grid)[0]
        decision = decide(_last_step(fc), curve.values, self.target, self.risk, self.min_gain)
        warned = self.last is not None and self.last.decision.reason == "warning"
        decision = replace(confirm(decision, warned, self.risk), step=_whole(curve.last_step),
                           final_step=final, incumbent=self.target)
        eta = None
        if self.target is not None and bool(np.ravel(fc.valid)[0]):
            eta = float(fc.eta(self.target, ETA_PROB, after=curve.last_step, refine=True))
            if curve.values[-1] * (1 if self.mode == "min" else -1) <= (
                    self.target * (1 if self.mode == "min" else -1)):
                eta = float(curve.last_step)  # reached already
        return Judgement(decision, eta)

    def _keep(self, judgement: Judgement) -> Judgement:
        self.last = judgement
        return judgement


def check_args(mode: str, target: float | None, risk: float, min_gain: float | None,
               max_steps: int | None) -> None:
    """The callbacks' shared arguments, checked when the callback is made."""
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', but got {mode=}.")
    if target is not None and not math.isfinite(target):
        raise ValueError(f"target must be a finite number, but got {target=}.")
    if not 0.0 < risk < 1.0:
        raise ValueError(f"risk must lie strictly between 0 and 1, but got {risk=}.")
    if min_gain is not None and not min_gain >= 0:
        raise ValueError(f"min_gain must be non-negative, but got {min_gain=}.")
    if max_steps is not None and max_steps < 1:
        raise ValueError(f"max_steps must be at least 1, but got {max_steps=}.")


def _last_step(fc: Forecast) -> Forecast:
    """The single-step forecast at the grid's last step (the final one)."""
    return Forecast(fc.x[-1:], fc.loc[:, -1:], fc.scale[:, -1:], fc.df, fc.weights[:, -1:],
                    fc.goal, fc.runs, fc.lower, fc.upper, single=True)


def _whole(step: float) -> int:
    return int(step) if float(step).is_integer() else math.ceil(step)
