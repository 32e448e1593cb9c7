"""Static plots of forecast fans (matplotlib, no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .curve import Curve  # noqa: E402
from .forecast import Forecast  # noqa: E402

LEVELS = (0.95, 0.8, 0.5)


def plot_fans(
    full: Sequence[Curve], seen: Sequence[Curve], fc: Forecast, path: Path, max_panels: int = 12
) -> Path:
    """One panel per run: the whole run, the part seen, and the forecast fan beyond it."""
    idx = [i for i in range(len(full)) if fc.valid[i]][:max_panels]
    cols = 4
    rows = max(1, -(-len(idx) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.8 * rows), squeeze=False)
    bands = {lv: fc.interval(lv, axis=0) for lv in LEVELS}
    med = fc.median
    for ax, i in zip(axes.flat, idx, strict=False):
        c, s = full[i], seen[i]
        ahead = fc.x >= s.last_step
        ax.plot(c.steps, c.values, color="0.6", lw=1, label="whole run")
        ax.plot(s.steps, s.values, color="k", lw=1.5, label="seen")
        for lv, alpha in zip(LEVELS, (0.15, 0.25, 0.35), strict=True):
            lo, hi = bands[lv][0, i], bands[lv][1, i]
            ax.fill_between(fc.x[ahead], lo[ahead], hi[ahead], color="C0", alpha=alpha, lw=0,
                            label=f"{lv:.0%}")
        ax.plot(fc.x[ahead], med[i][ahead], color="C0", lw=1.5, label="median")
        _zoom(ax, c, bands[0.95][:, i][:, ahead])
        ax.set_title(c.run, fontsize=9)
    for ax in list(axes.flat)[len(idx):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("step")
    fig.suptitle("Observed part (black), forecast fans (50/80/95%) and how each run really went (grey)",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _zoom(ax, c: Curve, band: np.ndarray) -> None:
    """Keep the y-axis on the bulk of the run and the fan, not on a first-point spike."""
    v = c.values[c.finite]
    lo = np.nanmin([np.nanpercentile(v, 1), np.nanmin(band)])
    hi = np.nanmax([np.nanpercentile(v, 90), np.nanmax(band)])
    if np.isfinite(lo) and np.isfinite(hi) and hi > lo:
        pad = 0.05 * (hi - lo)
        ax.set_ylim(lo - pad, hi + pad)
