"""Fixtures for the differential tests: the Go oracle, built once and cached."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: the oracle package

from oracle import Oracle, OracleUnavailableError, build
from reconcile.testing import skip_or_fail


@pytest.fixture(scope="session")
def oracle_binary() -> Path:
    try:
        return build()
    except OracleUnavailableError as e:
        skip_or_fail(str(e))


@pytest.fixture(scope="session")
def oracle(oracle_binary: Path) -> Iterator[Oracle]:
    with Oracle(oracle_binary) as o:
        yield o
