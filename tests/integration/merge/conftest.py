"""Fixtures for the merge integration tests: the Go oracle and an API server."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: the oracle package

from oracle import Oracle, OracleUnavailableError, build
from reconcile.testing import skip_or_fail

from .control_plane import APIServer, control_plane, find_binaries


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
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[APIServer]:
    bin_dir = find_binaries()
    if bin_dir is None:
        skip_or_fail(
            "kube-apiserver and etcd not found (KUBEBUILDER_ASSETS or ~/.cache/reconcile/k8s)"
        )
    with control_plane(bin_dir, tmp_path_factory.mktemp("control-plane")) as server:
        yield server
