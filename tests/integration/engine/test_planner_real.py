"""A plan is executable: Flux's own install manifests applied stage by stage.

Applied in the planner's order, with the waits it asks for between stages,
every object of Flux (14 CRDs, a namespace, RBAC, controllers, then Flux's
custom resources) is accepted by a real kube-apiserver; a custom resource
applied before its CRD is not. Pruning everything in the plan's reverse order
removes the custom resources before their CRDs.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import yaml
from kubernetes_asyncio.dynamic.exceptions import ResourceNotFoundError

from reconcile.engine.health import Status, wait_for_status
from reconcile.engine.planner import StageName, WaitCondition, plan
from reconcile.objects import Manifest, Origin

from ._support import Env

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


def load(path: Path) -> list[Manifest]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    docs = yaml.load_all(path.read_text(), Loader=loader)
    return [
        Manifest(doc, Origin(path.name, document=i))
        for i, doc in enumerate(docs)
        if isinstance(doc, dict) and doc.get("kind")
    ]


async def test_flux_applies_in_plan_order(plain: Env, corpus_dir: Path) -> None:
    flux = corpus_dir / "manifests" / "flux"
    manifests = load(flux / "gotk-components.yaml") + load(flux / "gotk-sync.yaml")
    p = plan(manifests)
    assert [s.name for s in p.stages] == [StageName.FOUNDATION, StageName.RESOURCES]
    custom = [m for m in p.manifests if m.ref.group.endswith("toolkit.fluxcd.io")]
    assert custom, "gotk-sync declares a GitRepository and a Kustomization"

    # Out of order, the API server does not even know the kind yet.
    with pytest.raises(ResourceNotFoundError):
        await plain.objects.apply(custom[0].obj)

    try:
        for stage in p.stages:
            for wave in stage.waves:
                for m in wave.manifests:
                    await plain.objects.apply(m.obj)
            for wait in stage.wait_for:
                result = await wait_for_status(
                    functools.partial(plain.objects.get, wait.ref), wait.ref, timeout=60
                )
                assert result.status is Status.CURRENT
                if wait.condition is WaitCondition.ESTABLISHED:
                    assert result.message == "CRD is established"
        for m in custom:
            live = await plain.objects.get(m.ref)
            assert live is not None, m.ref
    finally:
        # Prune in reverse: custom resources, then controllers, namespace and CRDs last.
        prunes = plan([], prune=[m.ref for m in p.manifests]).prunes
        kinds = [r.kind for r in prunes]
        assert kinds.index("GitRepository") < kinds.index("CustomResourceDefinition")
        assert kinds[-1] == "CustomResourceDefinition"
        for ref in prunes:
            await plain.objects.delete(ref)
