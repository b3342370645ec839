"""The watch cache relists when its resourceVersion is compacted away (410 Gone)."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest

from reconcile.cluster import KubernetesApplier
from reconcile.cluster.kubernetes._cache import Informer
from reconcile.testing import ControlPlane

from .conftest import dedicated_control_plane

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture(scope="module")
def compacting_plane() -> Iterator[ControlPlane]:
    """A control plane whose watches go to etcd, compacted every second."""
    with dedicated_control_plane(["--watch-cache=false", "--etcd-compaction-interval=1s"]) as plane:
        yield plane


async def test_gone_resource_version_relists(compacting_plane: ControlPlane) -> None:
    async with KubernetesApplier(
        field_manager="relist", kubeconfig=compacting_plane.kubeconfig, cache=False
    ) as applier:
        info = await applier.resource_for("v1", "ConfigMap")
        informer = Informer(applier.transport, info, "default", page_size=50, silence_timeout=30)
        await informer._list()
        stale = informer.resource_version
        for i in range(5):
            await applier.apply(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": f"g{i}"},
                    "data": {"i": str(i)},
                }
            )
        await anyio.sleep(3)  # two compactions: the list's resourceVersion is gone
        assert informer.resource_version == stale
        async with anyio.create_task_group() as tg:
            tg.start_soon(informer.run)
            with anyio.fail_after(30):
                while informer.relists < 1 or "default/g4" not in informer.store:  # noqa: ASYNC110
                    await anyio.sleep(0.05)
            tg.cancel_scope.cancel()
        assert informer.relists >= 1
        assert {f"default/g{i}" for i in range(5)} <= set(informer.store)
