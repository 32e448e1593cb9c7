"""Schedule-aware forecasts (issue 16) and the exact-fit test on long curves."""

import numpy as np

from curvecast.curve import Curve
from curvecast.forecasters import EnsembleForecaster, LearnedForecaster
from curvecast.forecasters.schedule import (
    Schedule,
    ScheduleForecaster,
    cosine_lr,
    schedule_of,
)


def _cosine_run(n=100):
    s = np.arange(1, n + 1.0)
    sch = Schedule(lambda x: cosine_lr(x, n), n)
    loss = 2 + 0.5 / np.sqrt(sch.area(s)) + 0.8 * sch.ema(s)
    return s, loss, {"schedule": "cosine", "total_steps": n}


def test_cosine_run_is_not_forecast_flat():
    s, loss, hp = _cosine_run()
    c = Curve("c", s[:40], loss[:40], hp=hp)
    f = ScheduleForecaster().forecast([c], [100])
    drop_true = loss[39] - loss[-1]
    drop = loss[39] - f.median[0, 0]
    assert drop > 0.5 * drop_true
    lo, hi = f.interval(0.9, axis=-1)[0, 0]
    assert lo <= loss[-1] <= hi


def test_schedules_read_from_hp_and_lr_log():
    c = Curve("a", [1, 2, 3], [3, 2, 1], hp={"epochs": 20, "lr_peak_epoch": 5})
    sch = schedule_of(c)
    assert sch.end == 20.0 and abs(sch.lr(np.array([5.0]))[0] - 1.0) < 1e-3
    assert schedule_of(Curve("b", [1, 2, 3], [3, 2, 1])) is None
    logged = {"steps": [0, 50, 100], "lr": [1.0, 0.5, 0.0]}
    sch = schedule_of(Curve("d", [1, 2, 3], [3, 2, 1], meta={"lr": logged}))
    assert sch.end == 100.0 and abs(sch.lr(np.array([75.0]))[0] - 0.25) < 1e-3


def test_no_schedule_gives_the_base_forecast():
    c = Curve("a", np.arange(1, 21.0), 1 + np.arange(1, 21.0) ** -0.5)
    base = EnsembleForecaster().forecast([c], [40])
    got = ScheduleForecaster(base=EnsembleForecaster()).forecast([c], [40])
    assert np.allclose(base.median, got.median)


def test_noise_free_dense_power_law_inside_its_interval():
    x = np.arange(1, 40001.0)
    y = 2.0 + 5.0 * x**-0.3
    f = LearnedForecaster().forecast([Curve("p", x[:12000], y[:12000])], [40000])
    lo, hi = f.interval(0.8, axis=-1)[0, 0]
    assert lo <= y[-1] <= hi


def test_noisy_dense_curve_keeps_the_network():
    rng = np.random.default_rng(0)
    x = np.arange(1, 20001.0)
    y = 2.0 + 5.0 * x**-0.3 + rng.normal(0, 0.02, x.size)
    f = LearnedForecaster()
    from curvecast.forecasters.features import Anchor
    from curvecast.transform import Frame

    fr = Frame.build([Curve("n", x[:6000], y[:6000])], None, f.max_points)
    t = fr.t_at(np.array([20000.0]))
    fits = f._ensemble.family_fits(fr, t)
    from curvecast.forecasters.features import features

    anchor = Anchor.of(fr)
    net = f._network_applies(fr, fits, anchor, features(fr, fits, t, anchor))
    assert net.all()


def test_lr_column_is_read_per_step(tmp_path):
    from curvecast.io import read_csv

    p = tmp_path / "runs.csv"
    rows = ["run,step,value,lr"] + [f"a,{s},{3 - 0.01 * s},{1 - s / 100}" for s in range(1, 51)]
    p.write_text("\n".join(rows) + "\n")
    cs = read_csv(p)
    lr = cs["a"].meta["lr"]
    assert len(lr["steps"]) == 50 and abs(lr["lr"][-1] - 0.5) < 1e-12
    assert schedule_of(cs["a"]).end == 50.0
    q = tmp_path / "text.csv"
    q.write_text("run,step,value,lr\nb,1,2.0,x\nb,2,1.5,y\nb,3,1.2,z\n")
    assert read_csv(q)["b"].meta["lr"] == "z"  # not a learning rate: plain metadata
