"""The pytest plugin of ``reconcile.testing`` (registered by the ``pytest11`` entry point).

Fixtures:

``control_plane`` (session)
    A real etcd + kube-apiserver on loopback, started once per test session
    (:class:`~reconcile.testing.ControlPlane`). With ``USE_EXISTING_CLUSTER=1`` the
    current kubeconfig's cluster instead (:class:`~reconcile.testing.ExistingCluster`).
    Where the binaries are missing and cannot be built, tests using it are
    skipped — and fail under CI (``CI=true``).
``kubeconfig`` (session)
    The path of an admin kubeconfig for that cluster.
``kube_client`` (function, async)
    A ``kubernetes_asyncio.client.ApiClient`` for it; use in ``@pytest.mark.anyio`` tests.
``kube_namespace`` (function)
    A fresh namespace created for the test and deleted after it.

Example ``test_mine.py``::

    import pytest
    from kubernetes_asyncio import client

    @pytest.mark.anyio
    async def test_configmap(kube_client, kube_namespace):
        api = client.CoreV1Api(kube_client)
        await api.create_namespaced_config_map(
            kube_namespace, {"metadata": {"name": "x"}, "data": {"a": "1"}})

Environment: ``USE_EXISTING_CLUSTER``, ``KUBEBUILDER_ASSETS``, ``TEST_ASSET_*``,
``RECONCILE_BUILD_ASSETS=0`` (never build), ``RECONCILE_KEEP_CONTROL_PLANE=1``
(keep its directory and logs), ``RECONCILE_CONTROLLER_MANAGER=1`` (also run
kube-controller-manager).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from reconcile.testing._assets import AssetsUnavailableError
from reconcile.testing._controlplane import ControlPlane, ExistingCluster, env_flag
from reconcile.testing._require import skip_or_fail

__all__ = ["anyio_backend", "control_plane", "kube_client", "kube_namespace", "kubeconfig"]

_STARTED = pytest.StashKey[ControlPlane | ExistingCluster]()


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """kubernetes-asyncio runs on asyncio; override in your conftest to change it."""
    return "asyncio"


@pytest.fixture(scope="session")
def control_plane(request: pytest.FixtureRequest) -> Iterator[ControlPlane | ExistingCluster]:
    """A real control plane for the whole session (or the existing cluster)."""
    cluster: ControlPlane | ExistingCluster
    if env_flag("USE_EXISTING_CLUSTER"):
        cluster = ExistingCluster()
    else:
        plane = ControlPlane(controller_manager=env_flag("RECONCILE_CONTROLLER_MANAGER"))
        try:
            plane.assets  # noqa: B018 - finds or builds the binaries now
        except AssetsUnavailableError as exc:
            plane.stop()
            skip_or_fail(f"no control plane: {exc}")
        cluster = plane.start()
    request.config.stash[_STARTED] = cluster
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def kubeconfig(control_plane: ControlPlane | ExistingCluster) -> Path:
    """An admin kubeconfig for the session's cluster."""
    return control_plane.kubeconfig


async def _new_client(cluster: ControlPlane | ExistingCluster) -> Any:
    from kubernetes_asyncio import config

    return await config.new_client_from_config(
        config_file=str(cluster.kubeconfig), context=cluster.context
    )


@pytest.fixture
async def kube_client(control_plane: ControlPlane | ExistingCluster) -> AsyncIterator[Any]:
    """A kubernetes-asyncio ``ApiClient`` for the session's cluster."""
    control_plane.check_healthy()
    api = await _new_client(control_plane)
    try:
        yield api
    finally:
        await api.close()


def _namespace_name(node_name: str) -> str:
    stem = re.sub(r"[^a-z0-9-]+", "-", node_name.lower()).strip("-")[:48].strip("-")
    return f"t-{stem}-{secrets.token_hex(3)}"


@pytest.fixture
def kube_namespace(
    request: pytest.FixtureRequest, control_plane: ControlPlane | ExistingCluster
) -> Iterator[str]:
    """A namespace of its own for one test, deleted afterwards."""
    control_plane.check_healthy()
    name = _namespace_name(request.node.name)

    async def create() -> None:
        from kubernetes_asyncio import client

        api = await _new_client(control_plane)
        async with api:
            await client.CoreV1Api(api).create_namespace(
                client.V1Namespace(metadata=client.V1ObjectMeta(name=name))
            )

    async def delete() -> None:
        from kubernetes_asyncio import client

        api = await _new_client(control_plane)
        async with api:
            try:
                await client.CoreV1Api(api).delete_namespace(name, propagation_policy="Background")
            except client.ApiException as exc:
                if exc.status != 404:
                    raise

    anyio.run(create)
    try:
        yield name
    finally:
        anyio.run(delete)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Report where the control plane ran and how long it took to start."""
    cluster = terminalreporter.config.stash.get(_STARTED, None)
    if isinstance(cluster, ControlPlane) and cluster.start_seconds is not None:
        assets = cluster.assets
        terminalreporter.write_line(
            f"reconcile.testing: control plane ({assets.kube_apiserver}) at {cluster.server} "
            f"started in {cluster.start_seconds:.1f} s"
        )
    elif isinstance(cluster, ExistingCluster):
        terminalreporter.write_line(
            f"reconcile.testing: used the existing cluster of {cluster.kubeconfig}"
        )
