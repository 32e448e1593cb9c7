"""Shared fixtures: the services some tests need (PostgreSQL, a headless browser), which
skip with a message when missing here and fail when missing in CI (CI=true)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
"""The real data sets (../shared/data beside the checkout; CI copies them there)."""


def require(what: str) -> None:
    """Skip the test because ``what`` is missing; in CI (CI=true), fail it."""
    if os.environ.get("CI") == "true":
        pytest.fail(what)
    pytest.skip(what)


def need(path: Path) -> Path:
    """``path`` of real data; the test skips without it here and fails in CI."""
    if not Path(path).exists():
        require(f"real data not found at {path} (the shared data folder ../shared/data "
                "is absent in this checkout)")
    return Path(path)


def need_module(name: str, extra: str = "test") -> None:
    """A package of an extra (``pip install -e '.[test]'``): skip without it, fail in CI."""
    if importlib.util.find_spec(name) is None:
        require(f"{name} is not installed: pip install -e '.[{extra}]'")


@pytest.fixture
def pg_url() -> str:
    """The URL of a PostgreSQL database (``CURVECAST_PG_URL``; .ci/run starts one)."""
    url = os.environ.get("CURVECAST_PG_URL")
    if not url:
        require("CURVECAST_PG_URL is not set: these tests need a PostgreSQL database, e.g. "
                "postgresql+psycopg2://user@/db?host=/socket/dir (.ci/run starts one)")
    return url


@pytest.fixture(scope="session")
def shared_data():
    """The real-data folder (../shared/data or $CURVECAST_DATA), as the loaders find it."""
    from curvecast.datasets import data_dir
    from curvecast.errors import InputError

    try:
        return data_dir()
    except InputError as exc:
        require(f"the real data are missing: {exc}")


SLOW_DOCTESTS = {"curvecast.demo", "curvecast.demo.run_sweep"}
"""Doctests that replay whole sweeps (20-185 s): run in the suite's second, slow step."""


def pytest_collection_modifyitems(config, items):
    for item in items:
        if isinstance(item, pytest.DoctestItem) and item.name in SLOW_DOCTESTS:
            item.add_marker(pytest.mark.slow)
