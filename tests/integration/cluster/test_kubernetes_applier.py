"""KubernetesApplier against the real control plane."""

from __future__ import annotations

from typing import Any

import pytest

from reconcile.cluster import Action, ApplyMode, KubernetesApplier, Propagation
from reconcile.cluster._fields import applied_fieldset, manager_entry
from reconcile.errors import ConflictError, FieldConflict, InvalidError, NotFoundError
from reconcile.objects import ObjectRef
from reconcile.schema import for_kind

pytestmark = [
    pytest.mark.integration,
    pytest.mark.anyio,
]


def configmap(name: str, data: dict[str, str], **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, **meta},
        "data": data,
    }


def deployment(name: str, replicas: int = 1, image: str = "nginx:1.27") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": image,
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        }
                    ]
                },
            },
        },
    }


async def test_apply_create_unchanged_configured_delete(applier: KubernetesApplier) -> None:
    cm = configmap("c1", {"a": "1"}, labels={"app": "x"})
    first = await applier.apply(cm)
    assert first.action is Action.CREATED
    assert first.status == 201
    assert first.object is not None
    assert first.object["metadata"]["uid"]
    requests = dict(applier.transport.requests)
    again = await applier.apply(cm)
    assert again.action is Action.UNCHANGED
    # Decided from the watch cache: not one request more.
    assert dict(applier.transport.requests) == requests
    changed = await applier.apply(configmap("c1", {"a": "2"}, labels={"app": "x"}))
    assert changed.action is Action.CONFIGURED
    assert changed.object is not None
    assert changed.object["data"] == {"a": "2"}
    ref = ObjectRef("v1", "ConfigMap", "c1", applier.namespace)
    gone = await applier.delete(ref, propagation=Propagation.BACKGROUND)
    assert gone.action is Action.DELETED
    assert (await applier.delete(ref)).action is Action.UNCHANGED
    assert await applier.get(ref) is None


@pytest.mark.parametrize(
    "obj",
    [
        configmap("fs", {"a": "1", "b": "2"}, labels={"app": "x"}, annotations={"n": "1"}),
        deployment("fs"),
    ],
    ids=["configmap", "deployment"],
)
async def test_predicted_field_set_matches_the_server(
    applier: KubernetesApplier, obj: dict[str, Any]
) -> None:
    result = await applier.apply(obj)
    assert result.object is not None
    owned = manager_entry(result.object, "reconcile-test")
    assert owned == applied_fieldset(obj, for_kind(obj["apiVersion"], obj["kind"]))


async def test_dry_run_persists_nothing(applier: KubernetesApplier) -> None:
    result = await applier.apply(configmap("dry", {"a": "1"}), dry_run=True)
    assert result.action is Action.CREATED
    assert result.dry_run
    assert await applier.get(ObjectRef("v1", "ConfigMap", "dry", applier.namespace)) is None


async def test_create_and_replace_modes(applier: KubernetesApplier) -> None:
    created = await applier.apply(configmap("m", {"a": "1"}), mode=ApplyMode.CREATE)
    assert created.action is Action.CREATED
    with pytest.raises(ConflictError) as caught:
        await applier.apply(configmap("m", {"a": "1"}), mode=ApplyMode.CREATE)
    assert caught.value.reason == "AlreadyExists"
    replaced = await applier.apply(configmap("m", {"b": "2"}), mode=ApplyMode.REPLACE)
    assert replaced.action is Action.CONFIGURED
    assert replaced.object is not None
    assert replaced.object["data"] == {"b": "2"}


async def test_conflict_with_another_manager_and_force(
    applier: KubernetesApplier, control_plane: Any
) -> None:
    await applier.apply(deployment("web", replicas=1))
    status, _ = control_plane.request(
        "PATCH",
        f"/apis/apps/v1/namespaces/{applier.namespace}/deployments/web?fieldManager=hpa-like",
        {"spec": {"replicas": 2}},
        content_type="application/merge-patch+json",
    )
    assert status == 200
    with pytest.raises(ConflictError) as caught:
        await applier.apply(deployment("web", replicas=3))
    assert caught.value.conflicts == (FieldConflict("hpa-like", ".spec.replicas"),)
    assert caught.value.status == 409
    forced = await applier.apply(deployment("web", replicas=3), force=True)
    assert forced.action is Action.CONFIGURED
    assert forced.object is not None
    assert forced.object["spec"]["replicas"] == 3


async def test_takes_over_kubectl_fields_so_they_can_be_removed(
    applier: KubernetesApplier, control_plane: Any
) -> None:
    ns = applier.namespace
    # As `kubectl apply --server-side` would leave it: label `old` owned by `kubectl`.
    body = configmap("legacy", {"a": "1"}, labels={"old": "yes"}, namespace=ns)
    status, _ = control_plane.request(
        "PATCH",
        f"/api/v1/namespaces/{ns}/configmaps/legacy?fieldManager=kubectl",
        body,
        content_type="application/apply-patch+yaml",
    )
    assert status == 201
    result = await applier.apply(configmap("legacy", {"a": "1"}))
    assert result.object is not None
    assert "labels" not in result.object["metadata"] or not result.object["metadata"]["labels"]
    managers = {m["manager"] for m in result.object["metadata"]["managedFields"]}
    assert managers == {"reconcile-test"}


async def test_invalid_object_is_a_typed_error_naming_the_field(
    applier: KubernetesApplier,
) -> None:
    bad = deployment("bad")
    bad["spec"]["replicas"] = -1
    with pytest.raises(InvalidError) as caught:
        await applier.apply(bad)
    assert caught.value.path == "spec.replicas"
    assert caught.value.ref == ObjectRef("apps/v1", "Deployment", "bad", applier.namespace)


async def test_unknown_kind_is_not_found(applier: KubernetesApplier) -> None:
    with pytest.raises(NotFoundError, match="does not serve kind Nope"):
        await applier.apply({"apiVersion": "v1", "kind": "Nope", "metadata": {"name": "x"}})


async def test_apply_all_reports_each_object(applier: KubernetesApplier) -> None:
    objs = [configmap(f"b{i}", {"i": str(i)}) for i in range(20)]
    objs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Bad_Name"}})
    results = await applier.apply_all(objs)
    assert [r.action for r in results[:20]] == [Action.CREATED] * 20
    assert results[20].action is Action.FAILED
    assert isinstance(results[20].error, InvalidError)
    again = await applier.apply_all(objs[:20])
    assert {r.action for r in again} == {Action.UNCHANGED}
    listed = await applier.list_objects("v1", "ConfigMap", applier.namespace)
    assert {o["metadata"]["name"] for o in listed} >= {f"b{i}" for i in range(20)}


async def test_client_side_apply_matches_kubectl_semantics(
    applier: KubernetesApplier, control_plane: Any
) -> None:
    first = await applier.apply(
        configmap("csa", {"a": "1", "b": "2"}, labels={"x": "1"}), mode=ApplyMode.CLIENT_SIDE
    )
    assert first.action is Action.CREATED
    assert first.object is not None
    annotation = first.object["metadata"]["annotations"][
        "kubectl.kubernetes.io/last-applied-configuration"
    ]
    assert '"data":{"a":"1","b":"2"}' in annotation
    # Another writer adds a key; the applier drops `b`: the three-way patch keeps `c`.
    status, _ = control_plane.request(
        "PATCH",
        f"/api/v1/namespaces/{applier.namespace}/configmaps/csa",
        {"data": {"c": "3"}},
        content_type="application/merge-patch+json",
    )
    assert status == 200
    second = await applier.apply(
        configmap("csa", {"a": "1"}, labels={"x": "1"}), mode=ApplyMode.CLIENT_SIDE
    )
    assert second.action is Action.CONFIGURED
    assert second.object is not None
    assert second.object["data"] == {"a": "1", "c": "3"}
    third = await applier.apply(
        configmap("csa", {"a": "1"}, labels={"x": "1"}), mode=ApplyMode.CLIENT_SIDE
    )
    assert third.action is Action.UNCHANGED
    assert third.status is None
