"""Fixtures for the merge integration tests: the Go oracle and an API server."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: the oracle package

from oracle import Oracle, OracleUnavailableError, build
from reconcile.testing import ControlPlane, skip_or_fail

from .control_plane import APIServer


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


@pytest.fixture(scope="session")
def api_server(control_plane: object) -> APIServer:
    if not isinstance(control_plane, ControlPlane):
        pytest.skip("needs reconcile.testing's own control plane (not USE_EXISTING_CLUSTER)")
    return APIServer(control_plane)
