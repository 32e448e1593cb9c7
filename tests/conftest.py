"""Shared fixtures: the services some tests need (PostgreSQL, a headless browser), which
skip with a message when missing here and fail when missing in CI (CI=true)."""

from __future__ import annotations

import os

import pytest


def require(what: str) -> None:
    """Skip the test because ``what`` is missing; in CI (CI=true), fail it."""
    if os.environ.get("CI") == "true":
        pytest.fail(what)
    pytest.skip(what)


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
