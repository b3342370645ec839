"""The Applier serves the engine's narrower ObjectClient through the adapter."""

from __future__ import annotations

import pytest

from reconcile.cluster import InMemoryCluster, ObjectClientAdapter
from reconcile.engine.inventory import ObjectClient
from reconcile.errors import InvalidError
from reconcile.objects import ObjectRef

pytestmark = pytest.mark.anyio


async def test_adapter_is_an_object_client() -> None:
    client: ObjectClient = ObjectClientAdapter(InMemoryCluster(field_manager="inv"))
    ref = ObjectRef("v1", "ConfigMap", "parent", "default")
    live = await client.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "parent", "namespace": "default"},
        }
    )
    assert live["metadata"]["managedFields"][0]["manager"] == "inv"
    assert await client.get(ref) is not None
    await client.delete(ref)
    await client.delete(ref)  # absent: not an error
    assert await client.get(ref) is None
    with pytest.raises(InvalidError):
        await client.apply(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "Bad", "namespace": "default"},
            }
        )
