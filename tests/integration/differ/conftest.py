"""Fixtures of the differ's fidelity tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from reconcile.testing import ControlPlane

from .differ_support import Admin


@pytest.fixture(scope="session")
def admin(control_plane: Any) -> Iterator[Admin]:
    if not isinstance(control_plane, ControlPlane):
        pytest.skip("the differ's fidelity tests need the loopback control plane")
    client = Admin(control_plane)
    client.discover()
    yield client
    client.close()
