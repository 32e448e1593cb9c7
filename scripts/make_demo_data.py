"""Write the demo's bundled sample: 24 TaskSet runs (valid loss) as long-format CSV.

TaskSet (Metz et al. 2020, github.com/google-research/google-research/tree/master/task_set)
is Apache-2.0; see src/curvecast/data/README.md for the attribution.

    python scripts/make_demo_data.py ../shared/data/taskset
"""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import numpy as np

TASK = "FixedTextRNNClassification_imdb_patch32_GRU128_bs128"
N_RUNS = 24


def main(taskset_dir: str) -> None:
    runs = json.loads((Path(taskset_dir) / f"{TASK}.json").read_text())
    rng = np.random.default_rng(0)
    diverged = [i for i, r in enumerate(runs) if any(v is None or not math.isfinite(v) for v in r["valid"]["loss"])]
    pick = sorted(set(rng.choice(len(runs), N_RUNS - len(diverged[:1]), replace=False)) | set(diverged[:1]))
    out = Path(__file__).resolve().parents[1] / "src" / "curvecast" / "data" / "taskset_gru_sample.csv"
    hp_names = sorted(runs[0]["hp"])
    with out.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["run", "step", "value", *[f"hp.{h}" for h in hp_names]])
        for i in pick:
            hp = [f"{runs[i]['hp'][h]:.6g}" for h in hp_names]
            for k, v in enumerate(runs[i]["valid"]["loss"]):
                v = "nan" if v is None else f"{v:.6g}"
                w.writerow([f"gru-{i:04d}", 200 * k, v, *hp])
    print(f"wrote {len(pick)} runs to {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/taskset")
