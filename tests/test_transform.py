"""The map to fitting space: time and value maps, padding, log-time binning."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curvecast.curve import Curve
from curvecast.transform import MAX_POINTS, Frame, fitted_points, padded_length


@settings(max_examples=60, deadline=None)
@given(st.integers(3, 60), st.floats(1e-3, 1e3), st.booleans(), st.sampled_from(["min", "max"]),
       st.integers(0, 2**32 - 1))
def test_values_map_back_and_a_head_maps_like_its_run(n, scale, from_zero, goal, seed):
    rng = np.random.default_rng(seed)
    x = np.arange(n, dtype=float) + (0.0 if from_zero else 1.0)
    y = scale * (0.5 + np.sort(rng.uniform(0, 1, n))[::-1 if goal == "min" else 1])
    c = Curve("r", x, y, goal=goal)
    fr = Frame.build([c])
    assert fr.t[0, 0] == pytest.approx(1.0)
    back, _ = fr.to_values(fr.z[:, :, None], np.ones((1, n, 1)))
    np.testing.assert_allclose(back[0, :, 0], y, rtol=1e-12)
    np.testing.assert_allclose(fr.t_at(x)[0], fr.t[0], rtol=1e-12)
    # the time map depends only on the first points: a head's times are its run's
    head = Frame.build([c.head(3)])
    np.testing.assert_allclose(head.t_at(x)[0], fr.t[0], rtol=1e-12)


def test_floors_losses_at_zero_and_rates_at_one():
    loss = Frame.build([Curve("l", [1, 2, 3], [2.0, 1.0, 0.5])])
    assert loss.has_floor[0] and loss.floor[0] == 0.0
    acc = Frame.build([Curve("a", [1, 2, 3], [0.2, 0.5, 0.7], goal="max")])
    assert acc.has_floor[0] and acc.sign[0] == -1 and acc.floor[0] == -1.0
    neg = Frame.build([Curve("n", [1, 2, 3], [-2.0, -3.0, -3.5])])  # no real floor
    assert not neg.has_floor[0] and np.all(neg.z[0] > 0)
    bounded = Frame.build([Curve("b", [1, 2, 3], [2.0, 1.0, 0.5])], bound=0.4)
    assert bounded.floor[0] == pytest.approx(0.4)


def test_long_curves_are_binned_in_log_time_keeping_counts_and_noise():
    x = np.arange(1, 100_001, dtype=float)
    y = 1 + x**-0.5 + 0.01 * np.random.default_rng(0).standard_normal(x.size)
    fr = Frame.build([Curve("long", x, y)])
    n = int(fr.mask.sum())
    assert n <= MAX_POINTS and fr.counts.sum() == x.size
    assert fr.counts[0, 0] == 1  # early points stay single
    noise = np.sqrt(fr.wss[0] * fr.scale[0] ** 2 / x.size)
    assert noise == pytest.approx(0.01, rel=0.2)  # the within-bin noise is kept


def test_padding_is_the_curve_own():
    short, long = Curve("s", range(5), np.linspace(2, 1, 5)), Curve("l", range(40), np.ones(40))
    fr = Frame.build([short, long], pad_to=64)
    assert fr.t.shape == (2, 64) and fr.mask.sum(axis=1).tolist() == [5, 40]
    assert fitted_points(long, tail=10) == 10 and fitted_points(long, max_points=None) == 40
    widths = [padded_length(n) for n in range(1, MAX_POINTS + 1)]
    assert all(w >= n for n, w in enumerate(widths, 1)) and widths == sorted(widths)
    assert len(set(widths)) <= 14  # few widths: few groups to fit
