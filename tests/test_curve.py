"""Curve and CurveSet: validation, order, divergence, heads."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curvecast.curve import MIN_POINTS, Curve, CurveSet
from curvecast.errors import InputError, UsageError


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10_000), st.floats(-1e6, 1e6)), min_size=1,
                max_size=40, unique_by=lambda p: p[0]))
def test_any_row_order_gives_the_same_sorted_curve(points):
    steps, values = zip(*points)
    c = Curve("r", steps, values)
    order = np.argsort(steps)
    assert c.steps.tolist() == sorted(float(s) for s in steps)
    assert c.values.tolist() == [float(values[i]) for i in order]
    rev = Curve("r", steps[::-1], values[::-1])
    assert rev.steps.tolist() == c.steps.tolist() and rev.values.tolist() == c.values.tolist()


def test_status_diverged_too_short_ok():
    assert Curve("a", [1, 2, 3], [1.0, float("nan"), 0.5]).status == "diverged"
    assert Curve("a", [1, 2, 3], [1.0, float("inf"), 0.5]).diverged_at == 2.0
    assert Curve("a", range(MIN_POINTS - 1), [1.0] * (MIN_POINTS - 1)).status == "too_short"
    ok = Curve("a", [3, 1, 2], [0.3, 0.9, 0.5])
    assert ok.status == "ok" and ok.last == 0.3 and ok.last_step == 3.0 and ok.best() == 0.3
    assert Curve("m", [1, 2, 3], [0.1, 0.7, 0.5], goal="max").best() == 0.7


@pytest.mark.parametrize(("steps", "values", "message"), [
    ([1, 2], [1.0], "2 steps but 1 values"),
    ([], [], "no points"),
    ([1, float("nan")], [1.0, 2.0], "not a finite number"),
    ([1, -2], [1.0, 2.0], "negative"),
    ([1, 1], [1.0, 2.0], "two values at step 1"),
    ([1, 2], ["a", 2.0], "must be numbers"),
])
def test_bad_curves_name_the_run_and_the_problem(steps, values, message):
    with pytest.raises(InputError, match=message) as exc:
        Curve("run-7", steps, values)
    assert "run-7" in str(exc.value)


def test_steps_and_values_are_read_only():
    c = Curve("a", [1, 2, 3], [3.0, 2.0, 1.0])
    with pytest.raises(ValueError):
        c.values[0] = 0.0


def test_head_and_upto():
    c = Curve("a", [10, 20, 30, 40], [4.0, 3.0, 2.0, 1.0], hp={"lr": 0.1})
    h = c.head(2)
    assert h.steps.tolist() == [10.0, 20.0] and h.hp == {"lr": 0.1} and h.run == "a"
    assert c.upto(35).steps.tolist() == [10.0, 20.0, 30.0]
    with pytest.raises(UsageError):
        c.head(0)
    with pytest.raises(UsageError, match="no point at or before step 5"):
        c.upto(5)


def test_curveset_names_goal_and_slices():
    cs = CurveSet([Curve("a", [1, 2, 3], [3, 2, 1]), Curve("b", [1, 2, 5], [1, 1, 1])],
                  source="f.csv")
    assert cs.runs == ["a", "b"] and cs["b"].last_step == 5.0 and cs.max_step == 5.0
    assert isinstance(cs[:1], CurveSet) and cs[:1].runs == ["a"]
    assert cs.with_goal("max").goal == "max"
    with pytest.raises(InputError, match="f.csv.*appears twice"):
        CurveSet([Curve("a", [1], [1]), Curve("a", [2], [2])], source="f.csv")
    with pytest.raises(InputError, match="mix goals"):
        CurveSet([Curve("a", [1], [1]), Curve("b", [1], [1], goal="max")])
    with pytest.raises(UsageError):
        _ = CurveSet([]).max_step
