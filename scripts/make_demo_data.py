"""Write the demo's bundled sample: 24 NAS-Bench-NLP WikiText-2 runs as long-format CSV.

NAS-Bench-NLP (Klyuchnikov et al. 2020, github.com/fmsnew/nas-bench-nlp-release) is
Apache-2.0; see src/curvecast/data/README.md for the attribution. The sample is 23
random runs that finished and one that diverged to NaN.

    python scripts/make_demo_data.py ../shared/data/nasbench_nlp_wt2
"""

from __future__ import annotations

import csv
import json
import sys
import zipfile
from pathlib import Path

import numpy as np

N_RUNS = 24
OUT = Path(__file__).resolve().parents[1] / "src" / "curvecast" / "data" / "nasbench_nlp_sample.csv"


def main(folder: str) -> None:
    with zipfile.ZipFile(Path(folder) / "train_logs_wikitext-2" / "logs.zip") as z:
        logs = [json.loads(z.read(n)) for n in sorted(z.namelist()) if n.endswith(".json")]
    finished = [r for r in logs if r["status"] == "OK"]
    diverged = [r for r in logs if r["status"] != "OK" and len(r["val_losses"]) > 10]
    rng = np.random.default_rng(0)
    pick = [finished[i] for i in rng.choice(len(finished), N_RUNS - 1, replace=False)]
    pick = sorted(pick + diverged[:1], key=lambda r: r["recepie_id"])
    with OUT.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["run", "step", "value", "hp.num_params", "hp.lr", "hp.dropout"])
        for r in pick:
            for epoch, v in enumerate(r["val_losses"], start=1):
                w.writerow([f"arch-{r['recepie_id']}", epoch, f"{v:.6g}", r["num_params"],
                            r["lr"], r["dropout"]])
    print(f"wrote {len(pick)} runs to {OUT}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/nasbench_nlp_wt2")
