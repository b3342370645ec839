"""Fixtures for the engine's integration tests: clusters with and without controllers.

Tests that write ``status`` through the ``/status`` subresource need a control
plane where no controller overwrites it (``plain``); tests that need the
Deployment, ReplicaSet or namespace controllers need kube-controller-manager
(``controllers``). Each reuses the session's ``control_plane`` when it fits and
starts its own otherwise (once per session).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Iterator

import pytest
from kubernetes_asyncio import client, config
from kubernetes_asyncio.dynamic import DynamicClient

from reconcile.testing import AssetsUnavailableError, ControlPlane, ExistingCluster, skip_or_fail

from ._support import Env, KubeObjects

Cluster = ControlPlane | ExistingCluster


def _start(controller_manager: bool) -> ControlPlane:
    plane = ControlPlane(controller_manager=controller_manager)
    try:
        plane.assets  # noqa: B018 - finds or builds the binaries now
    except AssetsUnavailableError as exc:
        plane.stop()
        skip_or_fail(f"no control plane: {exc}")
    return plane.start()


@pytest.fixture(scope="session")
def plain_plane(control_plane: Cluster) -> Iterator[Cluster]:
    """A control plane without kube-controller-manager."""
    if isinstance(control_plane, ControlPlane) and not control_plane.controller_manager:
        yield control_plane
        return
    plane = _start(controller_manager=False)
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def controllers_plane(control_plane: Cluster) -> Iterator[Cluster]:
    """A control plane with kube-controller-manager (or the existing cluster)."""
    if isinstance(control_plane, ExistingCluster) or control_plane.controller_manager:
        yield control_plane
        return
    plane = _start(controller_manager=True)
    try:
        yield plane
    finally:
        plane.stop()


async def _env(plane: Cluster, node_name: str) -> AsyncIterator[Env]:
    plane.check_healthy()
    api = await config.new_client_from_config(
        config_file=str(plane.kubeconfig), context=plane.context
    )
    stem = re.sub(r"[^a-z0-9-]+", "-", node_name.lower()).strip("-")[:40].strip("-")
    namespace = f"e-{stem}-{secrets.token_hex(3)}"
    core = client.CoreV1Api(api)
    try:
        await core.create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace))
        )
        dynamic = await DynamicClient(api)
        yield Env(api, dynamic, KubeObjects(dynamic), namespace, plane)
    finally:
        try:
            await core.delete_namespace(namespace, propagation_policy="Background")
        except client.ApiException as exc:
            if exc.status != 404:
                raise
        await api.close()


@pytest.fixture
async def plain(plain_plane: Cluster, request: pytest.FixtureRequest) -> AsyncIterator[Env]:
    """A client and namespace on a cluster without controllers."""
    async for env in _env(plain_plane, request.node.name):
        yield env


@pytest.fixture
async def controllers(
    controllers_plane: Cluster, request: pytest.FixtureRequest
) -> AsyncIterator[Env]:
    """A client and namespace on a cluster with kube-controller-manager."""
    async for env in _env(controllers_plane, request.node.name):
        yield env
