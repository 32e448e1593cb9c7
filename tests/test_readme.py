"""Every Python snippet in README.md runs, top to bottom in one namespace as a reader
would run them, from a fresh folder that sees the repository's ``src/``."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from conftest import require

ROOT = Path(__file__).resolve().parents[1]
NEEDS_DATA = ("load_nasbench_nlp", "load_taskset", "load_lcdb")


def snippets() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", (ROOT / "README.md").read_text(),
                      re.DOTALL | re.MULTILINE)


def test_readme_has_snippets():
    assert len(snippets()) >= 5


@pytest.mark.slow
def test_every_python_snippet_runs(tmp_path, monkeypatch):
    from curvecast.datasets import data_dir

    try:
        data_dir()
    except Exception as exc:  # noqa: BLE001 (any reason the data is not there)
        require(f"README's data snippets need ../shared/data: {exc}")
    (tmp_path / "src").symlink_to(ROOT / "src")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SWEEP_DB", f"sqlite:///{tmp_path / 'sweep.db'}")
    monkeypatch.setenv("CURVECAST_DATA", str(data_dir()))
    namespace: dict = {}
    for i, code in enumerate(snippets()):
        try:
            exec(compile(code, f"README.md python snippet {i + 1}", "exec"), namespace)  # noqa: S102
        except Exception as exc:
            raise AssertionError(f"README snippet {i + 1} failed: {exc!r}\n{code}") from exc
    assert os.path.exists("runs.csv") and namespace["fc"].median.size > 0
