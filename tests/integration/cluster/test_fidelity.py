"""The in-memory cluster against the real API server: one scenario suite, compared."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from reconcile.cluster import InMemoryCluster, KubernetesApplier
from reconcile.cluster._api import Applier
from reconcile.cluster.kubernetes import RestMapper
from reconcile.errors import NotFoundError

from .scenarios import run_scenarios

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


async def test_same_scenarios_same_outcomes(control_plane: Any, kube_namespace: str) -> None:
    async with contextlib.AsyncExitStack() as stack:

        async def real(manager: str) -> Applier:
            return await stack.enter_async_context(
                KubernetesApplier(
                    field_manager=manager,
                    kubeconfig=control_plane.kubeconfig,
                    namespace=kube_namespace,
                )
            )

        real_steps = await run_scenarios(real, kube_namespace)

    memory = InMemoryCluster(namespaces=("default", kube_namespace), namespace=kube_namespace)

    async def fake(manager: str) -> Applier:
        return memory.as_manager(manager)

    memory_steps = await run_scenarios(fake, kube_namespace)
    assert [name for name, _ in memory_steps] == [name for name, _ in real_steps]
    differences = [
        (name, on_server, in_memory)
        for (name, on_server), (_, in_memory) in zip(real_steps, memory_steps, strict=True)
        if on_server != in_memory
    ]
    for name, on_server, in_memory in differences:
        print(f"{name}\n  real:   {on_server}\n  memory: {in_memory}")
    assert differences == []


async def test_discovery_matches_for_built_in_kinds(control_plane: Any) -> None:
    memory = InMemoryCluster()
    async with KubernetesApplier(field_manager="d", kubeconfig=control_plane.kubeconfig) as app:
        mapper: RestMapper = app.mapper
        await mapper.refresh()
        served = list(mapper._by_kind.values())
    mismatches = []
    missing: list[tuple[str, str]] = []
    for info in served:
        try:
            mine = await memory.resource_for(info.api_version, info.kind)
        except NotFoundError:
            missing.append((info.api_version, info.kind))
            continue
        if (mine.resource, mine.namespaced) != (info.resource, info.namespaced):
            mismatches.append(
                (
                    info.api_version,
                    info.kind,
                    mine.resource,
                    info.resource,
                    mine.namespaced,
                    info.namespaced,
                )
            )
    assert mismatches == []
    # Kinds served here that the schema table lacks are few (alpha/aggregated APIs).
    assert len(missing) < len(served) // 10, missing
