"""The quickstart in Python: plan, sync, drift and self-heal on the in-memory cluster.

Run it from a checkout: ``python examples/quickstart_api.py``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import anyio

from reconcile import InMemoryCluster, LocalSource, Reconciler, YamlRenderer
from reconcile.objects import ObjectRef

MANIFESTS = Path(__file__).resolve().parent / "quickstart"


async def main() -> None:
    cluster = InMemoryCluster()  # the embedded cluster: no server needed
    reconciler = Reconciler(
        "quickstart",
        LocalSource(MANIFESTS, cache_dir=tempfile.mkdtemp()),  # or GitSource(url, branch=...)
        YamlRenderer(),
        cluster,  # or KubernetesApplier(field_manager="reconcile")
    )  # the inventory is a ConfigMap "quickstart-inventory" in namespace "default"

    # 1. What would a sync do? Nothing is written.
    plan = await reconciler.plan()
    print(f"plan: {len(plan.creates)} to create, {len(plan.changes)} to change")

    # 2. One pass: CRD and Namespace first, then the rest; inventory; health.
    result = await reconciler.sync()
    print(f"sync: {result.counts()} at {result.revision[:19]}")

    # 3. Someone edits the ConfigMap by hand (as kubectl would, another field manager).
    config = ObjectRef("v1", "ConfigMap", "web-config", "quickstart")
    edit = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "web-config", "namespace": "quickstart"},
        "data": {"GREETING": "edited by hand"},
    }
    await cluster.as_manager("kubectl-edit").apply(edit, force=True)

    # 4. The plan shows the drift, as a diff.
    plan = await reconciler.plan()
    for diff in plan.changes:
        print(diff.unified_diff())

    # 5. The next pass heals it.
    result = await reconciler.sync()
    live = await cluster.get(config)
    assert live is not None
    print(f"healed: {live['data']['GREETING']!r}, drift was {[str(d.ref) for d in result.drift]}")


if __name__ == "__main__":
    anyio.run(main)
