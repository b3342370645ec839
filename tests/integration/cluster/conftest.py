"""Fixtures for the applier tests: a KubernetesApplier on the session control plane."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from reconcile.cluster import KubernetesApplier


@pytest.fixture
async def applier(control_plane: Any, kube_namespace: str) -> AsyncIterator[KubernetesApplier]:
    """An applier with field manager ``reconcile-test``, defaulting to the test's namespace."""
    async with KubernetesApplier(
        field_manager="reconcile-test",
        kubeconfig=control_plane.kubeconfig,
        context=control_plane.context,
        namespace=kube_namespace,
    ) as app:
        yield app
