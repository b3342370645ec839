"""Fixtures for the applier tests: a KubernetesApplier on the session control plane."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import pytest

from reconcile.cluster import KubernetesApplier
from reconcile.testing import AssetsUnavailableError, ControlPlane, skip_or_fail


@contextlib.contextmanager
def dedicated_control_plane(apiserver_flags: Sequence[str]) -> Iterator[ControlPlane]:
    """A control plane of a test module's own, for flags the shared one must not have."""
    plane = ControlPlane(apiserver_flags=list(apiserver_flags))
    try:
        plane.assets  # noqa: B018 - finds or builds the binaries now
    except AssetsUnavailableError as exc:
        plane.stop()
        skip_or_fail(f"no control plane: {exc}")
    with plane:
        yield plane


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
