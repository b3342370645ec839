"""InMemoryCluster behaviour the Reconciler relies on (the rest is in tests/unit/cluster)."""

from __future__ import annotations

from typing import Any

import pytest

from reconcile.cluster import Action, ApplyMode, InMemoryCluster
from reconcile.errors import ApplyError, ConflictError, NotFoundError
from reconcile.objects import ObjectRef

pytestmark = pytest.mark.anyio


def cm(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


async def test_replace_with_a_stale_resource_version_is_a_conflict() -> None:
    cluster = InMemoryCluster()
    created = (await cluster.apply(cm("a", k="1"))).object
    assert created is not None
    await cluster.apply(cm("a", k="2"))
    stale = {**created, "data": {"k": "3"}}
    with pytest.raises(ConflictError):
        await cluster.apply(stale, mode=ApplyMode.REPLACE)
    live = await cluster.get(ObjectRef("v1", "ConfigMap", "a", "default"))
    assert live is not None
    assert live["data"] == {"k": "2"}


async def test_create_mode_refuses_an_existing_object_and_events_can_be_created() -> None:
    cluster = InMemoryCluster()
    await cluster.apply(cm("a"), mode=ApplyMode.CREATE)
    with pytest.raises(ApplyError):
        await cluster.apply(cm("a"), mode=ApplyMode.CREATE)
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "a.1"},
        "involvedObject": {"kind": "ConfigMap", "name": "a"},
        "reason": "Test",
        "message": "hello",
        "type": "Normal",
    }
    assert (await cluster.apply(event, mode=ApplyMode.CREATE)).action is Action.CREATED
    assert [e["reason"] for e in await cluster.list_objects("v1", "Event", "default")] == ["Test"]


async def test_views_share_one_store_and_record_each_manager() -> None:
    cluster = InMemoryCluster(field_manager="gitops")
    await cluster.apply(cm("a", k="1"))
    other = cluster.as_manager("intruder")
    await other.apply(cm("a", k="2"), force=True)
    live = await cluster.get(ObjectRef("v1", "ConfigMap", "a", "default"))
    assert live is not None
    assert live["data"] == {"k": "2"}
    managers = {m["manager"] for m in live["metadata"]["managedFields"]}
    assert managers == {"intruder"}  # forced: the intruder took the only field


async def test_an_unserved_kind_is_not_found_until_its_crd_is_applied() -> None:
    cluster = InMemoryCluster()
    with pytest.raises(NotFoundError):
        await cluster.resource_for("example.com/v1", "Gadget")
    await cluster.apply(
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "gadgets.example.com"},
            "spec": {
                "group": "example.com",
                "scope": "Namespaced",
                "names": {"kind": "Gadget", "plural": "gadgets"},
                "versions": [{"name": "v1", "served": True, "storage": True}],
            },
        }
    )
    info = await cluster.resource_for("example.com/v1", "Gadget")
    assert info.namespaced
    assert info.resource == "gadgets"


async def test_delete_of_a_missing_object_is_unchanged() -> None:
    cluster = InMemoryCluster()
    result = await cluster.delete(ObjectRef("v1", "ConfigMap", "nope", "default"))
    assert result.action is Action.UNCHANGED
