"""Fixtures of the control-plane tests: the binaries, found or built once."""

from __future__ import annotations

import pytest

from reconcile.testing import AssetsUnavailableError, ControlPlaneAssets, find_assets, skip_or_fail


@pytest.fixture(scope="session")
def assets() -> ControlPlaneAssets:
    """The control-plane binaries; skipped (or failed, under CI) when none can be found or built."""
    try:
        return find_assets()
    except AssetsUnavailableError as exc:
        skip_or_fail(str(exc))
