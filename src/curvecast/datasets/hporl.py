"""Reinforcement-learning curves of HPO-RL-Bench (Shala et al. 2024, "HPO-RL-Bench: A
Zero-Cost Benchmark for Hyperparameter Optimization in Reinforcement Learning"): PPO on
Atari Pong, 324 runs (108 configurations x 3 seeds), mean evaluation return at 100
irregular environment timesteps.

Source: github.com/machinelearningnuremberg/HPO-RL-Bench (commit 7ea02a32e5d6,
data_hpo_rl_bench/PPO/Pong-v0/*_eval.json), flattened into one CSV without changing a
value. No license is stated upstream: tests and benchmarks only, never bundled. The curves
are what RL gives: noisy, non-monotone, most runs never leave -21 (Pong's floor; +21 is
its ceiling), on timesteps that differ from run to run.
"""

from __future__ import annotations

import os

import pandas as pd

from ..curve import Curve, CurveSet
from ..errors import InputError
from .loaders import _need, data_dir

PPO_HP = ("hp.learning_rate_log10", "hp.gamma", "hp.clip")


def load_ppo_pong(path: str | os.PathLike | None = None) -> CurveSet:
    """PPO's evaluation return (goal max) against environment timesteps on Pong.

    Runs keep the upstream names (``lr_-3_gamma_0.99_clip_0.2_seed1``); hp holds
    learning_rate_log10, gamma, clip and seed.

    >>> cs = load_ppo_pong()  # doctest: +SKIP
    >>> len(cs), cs[0].goal, len(cs[0])  # doctest: +SKIP
    (324, 'max', 100)
    """
    file = _need(data_dir(path) / "rl_ppo_pong" / "ppo_pong_eval.csv", "PPO Pong returns")
    df = pd.read_csv(file)
    missing = [c for c in ("run", "timestep", "eval_return", *PPO_HP, "seed")
               if c not in df.columns]
    if missing:
        raise InputError(f"not the PPO Pong table: no column {', '.join(missing)}",
                         file=str(file))
    curves = []
    for run, g in df.groupby("run", sort=True):
        g = g.sort_values("timestep", kind="stable")
        first = g.iloc[0]
        hp = {k.removeprefix("hp."): first[k].item() for k in PPO_HP}
        hp["seed"] = int(first["seed"])
        curves.append(Curve(str(run), g["timestep"].to_numpy(float),
                            g["eval_return"].to_numpy(float), "max", hp))
    return CurveSet(curves, source=str(file))
