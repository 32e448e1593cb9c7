"""The estimates behind bench_joint_floor.py's ceilings, on curves whose noise is known."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
floor = pytest.importorskip("bench_joint_floor")


@pytest.mark.parametrize("sigma", [0.002, 0.02])
def test_tail_noise_recovers_white_noise_on_a_bending_curve(sigma):
    """Within 25% over 40 curves of 51 points (TaskSet's length) that still bend at the end."""
    rng = np.random.default_rng(1)
    x = np.arange(1, 52.0)
    est = [floor.tail_noise(0.5 + 2 * x ** -0.7 + sigma * rng.standard_normal(x.size))
           for _ in range(40)]
    assert abs(np.median(est) / sigma - 1) < 0.25


def test_tail_noise_is_zero_on_a_straight_line():
    assert floor.tail_noise(np.linspace(3.0, 1.0, 30)) < 1e-9


def test_noise_ceiling_falls_as_noise_grows():
    """No noise: the oracle ranks perfectly and errs by nothing; noise the size of the
    finals' spread scrambles the ranks and its medAE is about 0.674 sigma."""
    finals = np.linspace(0.0, 1.0, 200)
    clean = floor.noise_ceiling(finals, np.zeros(200))
    noisy = floor.noise_ceiling(finals, np.full(200, 0.3))
    assert clean["rho"] > 0.999 and clean["medae"] < 1e-12
    assert noisy["rho"] < 0.8
    assert abs(noisy["medae"] / (0.6745 * 0.3) - 1) < 0.1


def test_before_final_extrapolates_the_line_not_the_final():
    v = np.r_[np.linspace(10.0, 1.0, 19), 50.0]
    assert abs(floor.before_final(v) - 0.5) < 1e-6
