"""A TensorBoard log written by PyTorch's SummaryWriter reads back whole: every point,
beyond the 10,000 scalars per tag that TensorBoard's own loader keeps by default."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import need_module

need_module("torch", "lightning")

from torch.utils.tensorboard import SummaryWriter

from curvecast.io import read_curves

N = 15_000


def test_every_point_of_a_long_run_is_kept(tmp_path):
    logged = {}
    for run, lr in (("lr0.1", 0.1), ("lr0.01", 0.01)):
        values = 0.2 + 1.0 / (1.0 + lr * np.arange(N))
        with SummaryWriter(str(tmp_path / run)) as writer:
            for step, v in enumerate(values):
                writer.add_scalar("val/loss", v, step)
                if step % 1000 == 0:
                    writer.add_scalar("train/loss", v / 2, step)
        logged[run] = values
    curves = read_curves(tmp_path, tag="val/loss")
    assert sorted(c.run for c in curves) == sorted(logged)
    for c in curves:
        assert c.steps.tolist() == list(range(N))  # none sampled away
        assert c.values == pytest.approx(logged[c.run], rel=1e-6)  # stored as float32
