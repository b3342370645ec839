"""InMemoryCluster on its own: bookkeeping, watch events, deletion, discovery."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from reconcile.cluster import (
    Action,
    Applier,
    ApplyMode,
    InMemoryCluster,
    Propagation,
    WatchEvent,
)
from reconcile.cluster.memory import plural_of
from reconcile.errors import ConflictError, FieldConflict, ImmutableFieldError, NotFoundError
from reconcile.objects import ObjectRef

pytestmark = pytest.mark.anyio


def cm(name: str, data: dict[str, str], **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, **meta},
        "data": data,
    }


async def test_is_an_applier_and_keeps_server_bookkeeping() -> None:
    cluster = InMemoryCluster(field_manager="me")
    assert isinstance(cluster, Applier)
    created = await cluster.apply(cm("a", {"k": "1"}))
    assert created.action is Action.CREATED
    assert created.object is not None
    meta = created.object["metadata"]
    assert meta["namespace"] == "default"
    assert meta["uid"]
    rv = int(meta["resourceVersion"])
    assert [(m["manager"], m["operation"]) for m in meta["managedFields"]] == [("me", "Apply")]
    same = await cluster.apply(cm("a", {"k": "1"}))
    assert same.action is Action.UNCHANGED
    assert same.object is not None
    assert int(same.object["metadata"]["resourceVersion"]) == rv
    changed = await cluster.apply(cm("a", {"k": "2"}))
    assert changed.object is not None
    assert int(changed.object["metadata"]["resourceVersion"]) > rv
    assert changed.object["metadata"]["uid"] == meta["uid"]


async def test_conflicts_go_through_the_prediction() -> None:
    cluster = InMemoryCluster(field_manager="a")
    await cluster.apply(cm("c", {"k": "1"}))
    other = cluster.as_manager("b")
    with pytest.raises(ConflictError) as caught:
        await other.apply(cm("c", {"k": "2"}))
    assert caught.value.conflicts == (FieldConflict("a", ".data.k"),)
    forced = await other.apply(cm("c", {"k": "2"}), force=True)
    assert forced.object is not None
    assert forced.object["data"] == {"k": "2"}


async def test_generation_moves_with_spec_only() -> None:
    cluster = InMemoryCluster()
    dep: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "i"}]},
            },
        },
    }
    first = await cluster.apply(dep)
    assert first.object is not None
    assert first.object["metadata"]["generation"] == 1
    dep["metadata"]["labels"] = {"x": "y"}
    relabeled = await cluster.apply(dep)
    assert relabeled.object is not None
    assert relabeled.object["metadata"]["generation"] == 1
    dep["spec"]["replicas"] = 2
    scaled = await cluster.apply(dep)
    assert scaled.object is not None
    assert scaled.object["metadata"]["generation"] == 2


async def test_watch_sees_added_modified_deleted() -> None:
    cluster = InMemoryCluster()
    seen: list[WatchEvent] = []

    async def watch(*, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        stream = cluster.watch("v1", "ConfigMap", "default")
        task_status.started()
        async for event in stream:
            seen.append(event)
            if event.type == "DELETED":
                return

    async with anyio.create_task_group() as tg:
        await tg.start(watch)
        await cluster.apply(cm("w", {"k": "1"}))
        await cluster.apply(cm("w", {"k": "2"}))
        await cluster.delete(ObjectRef("v1", "ConfigMap", "w", "default"))
    assert [e.type for e in seen] == ["ADDED", "MODIFIED", "DELETED"]


async def test_delete_propagates_to_dependents_unless_orphaned() -> None:
    cluster = InMemoryCluster()
    owner = await cluster.apply(cm("owner", {}))
    assert owner.object is not None
    ref_to_owner = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "owner",
        "uid": owner.object["metadata"]["uid"],
    }
    await cluster.apply(cm("child", {}, ownerReferences=[ref_to_owner]))
    await cluster.delete(ObjectRef("v1", "ConfigMap", "owner", "default"))
    assert await cluster.get(ObjectRef("v1", "ConfigMap", "child", "default")) is None
    owner = await cluster.apply(cm("owner2", {}))
    assert owner.object is not None
    ref_to_owner = {**ref_to_owner, "name": "owner2", "uid": owner.object["metadata"]["uid"]}
    await cluster.apply(cm("kept", {}, ownerReferences=[ref_to_owner]))
    await cluster.delete(
        ObjectRef("v1", "ConfigMap", "owner2", "default"), propagation=Propagation.ORPHAN
    )
    kept = await cluster.get(ObjectRef("v1", "ConfigMap", "kept", "default"))
    assert kept is not None
    assert kept["metadata"]["ownerReferences"] == []


async def test_deleting_a_namespace_deletes_its_objects() -> None:
    cluster = InMemoryCluster()
    await cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tmp"}})
    await cluster.apply(cm("x", {}, namespace="tmp"))
    await cluster.delete(ObjectRef("v1", "Namespace", "tmp"))
    assert await cluster.list_objects("v1", "ConfigMap", "tmp") == []
    with pytest.raises(NotFoundError, match='namespaces "tmp" not found'):
        await cluster.apply(cm("x", {}, namespace="tmp"))


async def test_immutable_fields_refused_or_recreated() -> None:
    svc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s"},
        "spec": {"clusterIP": "10.0.0.9", "ports": [{"port": 80}]},
    }
    cluster = InMemoryCluster()
    first = await cluster.apply(svc)
    svc["spec"]["clusterIP"] = "10.0.0.10"
    with pytest.raises(ImmutableFieldError) as caught:
        await cluster.apply(svc)
    assert caught.value.path == "spec.clusterIP"
    recreated = await cluster.as_manager("reconcile", recreate_immutable=True).apply(svc)
    assert recreated.action is Action.RECREATED
    assert recreated.object is not None
    assert first.object is not None
    assert recreated.object["metadata"]["uid"] != first.object["metadata"]["uid"]


async def test_crds_extend_discovery() -> None:
    cluster = InMemoryCluster()
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gizmos.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Cluster",
            "names": {"plural": "gizmos", "singular": "gizmo", "kind": "Gizmo"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object"}},
                }
            ],
        },
    }
    with pytest.raises(NotFoundError):
        await cluster.resource_for("example.com/v1", "Gizmo")
    await cluster.apply(crd)
    info = await cluster.resource_for("example.com/v1", "Gizmo")
    assert (info.resource, info.namespaced) == ("gizmos", False)
    live_crd = await cluster.get(
        ObjectRef("apiextensions.k8s.io/v1", "CustomResourceDefinition", "gizmos.example.com")
    )
    assert live_crd is not None
    assert {"type": "Established", "status": "True", "reason": "InitialNamesAccepted"} in (
        live_crd["status"]["conditions"]
    )
    result = await cluster.apply(
        {
            "apiVersion": "example.com/v1",
            "kind": "Gizmo",
            "metadata": {"name": "g", "namespace": "ignored"},
        }
    )
    assert result.ref == ObjectRef("example.com/v1", "Gizmo", "g")


async def test_client_side_apply_and_apply_all() -> None:
    cluster = InMemoryCluster()
    results = await cluster.apply_all(
        [cm("a", {"k": "1"}), cm("Bad", {})], mode=ApplyMode.CLIENT_SIDE
    )
    assert [r.action for r in results] == [Action.CREATED, Action.FAILED]
    again = await cluster.apply(cm("a", {"k": "1"}), mode=ApplyMode.CLIENT_SIDE)
    assert again.action is Action.UNCHANGED


def test_plurals() -> None:
    assert [plural_of(k) for k in ("Pod", "Ingress", "NetworkPolicy", "Gateway", "Endpoints")] == [
        "pods",
        "ingresses",
        "networkpolicies",
        "gateways",
        "endpoints",
    ]
