"""Fingerprint every run the shipped networks could have been trained on.

Writes ``src/curvecast/models/fingerprints.npz``: a hash of each run's first values
(:func:`curvecast.forecasters.provenance.fingerprint`) with its data set and source,
for every data set of ``scripts/make_training_set.py`` (the LCDB part that the
backtests score apart from the rest), so that ``curvecast backtest`` can say when it
scores a network on runs it learned from.

    .venv/bin/python scripts/make_fingerprints.py      # ~1 minute
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from make_training_set import sources

from curvecast.forecasters.provenance import FILE, fingerprint

KEEP = 15_000
"""Fingerprints kept per data set at most (LCDB's parts have 33,000 and 78,000 runs: a
fifth of them still matches a few runs of any LCDB file of a few dozen)."""
OUT = Path(__file__).resolve().parents[1] / "src" / "curvecast" / "models" / FILE


def main() -> None:
    names, families, hashes, index = [], [], [], []
    for (source, name), (load, _) in sources(bench_sets=50).items():
        if source == "synthetic":
            continue
        prints = sorted({h for h in map(fingerprint, load()) if h is not None})
        if len(prints) > KEEP:
            keep = np.random.default_rng(0).choice(len(prints), KEEP, replace=False)
            prints = [prints[i] for i in sorted(keep)]
        names.append(name)
        families.append(source)
        hashes += prints
        index += [len(names) - 1] * len(prints)
        print(f"{source}/{name}: {len(prints)} runs", flush=True)
    h = np.array(hashes, dtype=np.uint64)
    order = np.argsort(h, kind="stable")
    meta = {"datasets": names, "sources": families}
    np.savez_compressed(OUT, hash=h[order], dataset=np.array(index, np.uint8)[order],
                        meta=np.array(json.dumps(meta)))
    print(f"{OUT}: {h.size} fingerprints", flush=True)


if __name__ == "__main__":
    main()
