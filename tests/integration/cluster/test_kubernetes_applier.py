"""KubernetesApplier against the real control plane."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from reconcile.cluster import Action, ApplyMode, KubernetesApplier, Propagation
from reconcile.cluster._fields import applied_fieldset, manager_entry
from reconcile.errors import (
    ApplyError,
    ConflictError,
    FieldConflict,
    InvalidError,
    NotFoundError,
    RetryableError,
)
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


async def test_undeclared_field_fails_at_once_naming_it(applier: KubernetesApplier) -> None:
    typo = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "typo"}, "dta": {}}
    with pytest.raises(ApplyError, match=r"\.dta: field not declared in schema") as caught:
        await applier.apply(typo)
    assert not isinstance(caught.value, RetryableError)
    assert sum(applier.transport.retries.values()) == 0


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


async def test_defaulted_keys_and_quantities_are_in_sync_without_a_request(
    applier: KubernetesApplier,
) -> None:
    dep = deployment("defaults")
    container = dep["spec"]["template"]["spec"]["containers"][0]
    container["ports"] = [{"containerPort": 80}]  # the server defaults protocol: TCP (a key)
    container["resources"] = {"limits": {"cpu": "1000m"}}  # stored as "1"
    await applier.apply(dep)
    sent = dict(applier.transport.requests)
    again = await applier.apply(dep)
    assert again.action is Action.UNCHANGED
    assert dict(applier.transport.requests) == sent


async def test_paged_lists_and_silent_watch_restart(
    control_plane: Any, kube_namespace: str
) -> None:
    async with KubernetesApplier(
        field_manager="pager",
        kubeconfig=control_plane.kubeconfig,
        namespace=kube_namespace,
        watch_silence=1.0,
    ) as applier:
        assert applier.cache is not None
        applier.cache.page_size = 7
        await applier.apply_all([configmap(f"p{i}", {"i": str(i)}) for i in range(30)])
        lists_before = applier.transport.requests["list"]
        async with KubernetesApplier(
            field_manager="pager2",
            kubeconfig=control_plane.kubeconfig,
            namespace=kube_namespace,
            watch_silence=1.0,
        ) as fresh:
            assert fresh.cache is not None
            fresh.cache.page_size = 7
            listed = await fresh.list_objects("v1", "ConfigMap", kube_namespace)
            assert {o["metadata"]["name"] for o in listed} >= {f"p{i}" for i in range(30)}
            # 30+ objects in pages of 7: at least 5 list requests.
            assert fresh.transport.requests["list"] >= 5
            await anyio.sleep(2.5)  # no event, no bookmark for longer than watch_silence
            stats = fresh.cache.statistics()
            assert stats["watch_restarts"] >= 1
            # The restarted watch still delivers changes.
            await applier.apply(configmap("p0", {"i": "changed"}))
            ref = ObjectRef("v1", "ConfigMap", "p0", kube_namespace)
            with anyio.fail_after(10):
                while ((await fresh.get(ref)) or {}).get("data") != {"i": "changed"}:  # noqa: ASYNC110
                    await anyio.sleep(0.05)
        assert lists_before >= 1


async def test_is_an_applier_and_watches(applier: KubernetesApplier) -> None:
    from reconcile.cluster import Applier, WatchEvent

    assert isinstance(applier, Applier)
    await applier.apply(configmap("watched", {"n": "0"}))
    seen: list[WatchEvent] = []

    async def watch() -> None:
        async for event in applier.watch("v1", "ConfigMap", applier.namespace):
            seen.append(event)
            if event.type == "DELETED":
                return

    async with anyio.create_task_group() as tg:
        tg.start_soon(watch)
        # Write until the watch (list, then watch from its resourceVersion) reports one.
        with anyio.fail_after(20):
            n = 0
            while not any(e.type == "MODIFIED" for e in seen):
                n += 1
                await applier.apply(configmap("watched", {"n": str(n)}))
                await anyio.sleep(0.1)
        await applier.delete(ObjectRef("v1", "ConfigMap", "watched", applier.namespace))
    assert seen[-1].type == "DELETED"
    modified = [e for e in seen if e.type == "MODIFIED"]
    assert modified[-1].object["data"] == {"n": str(n)}


async def test_takes_over_update_managers_when_asked(
    control_plane: Any, kube_namespace: str
) -> None:
    ns = kube_namespace
    status, _ = control_plane.request(
        "POST",
        f"/api/v1/namespaces/{ns}/configmaps?fieldManager=kubectl-client-side-apply",
        {"metadata": {"name": "cm", "labels": {"old": "1"}}, "data": {"a": "1", "gone": "x"}},
    )
    assert status == 201
    status, _ = control_plane.request(
        "PATCH",
        f"/api/v1/namespaces/{ns}/configmaps/cm?fieldManager=some-script",
        {"data": {"script": "y"}},
        content_type="application/merge-patch+json",
    )
    assert status == 200
    async with KubernetesApplier(
        field_manager="flux-like", kubeconfig=control_plane.kubeconfig, namespace=ns
    ) as default:
        result = await default.apply(configmap("cm", {"a": "1"}))
        assert result.object is not None
        # kubectl's Update entry was adopted and its fields removed; the script's stays.
        assert result.object["data"] == {"a": "1", "script": "y"}
        assert "labels" not in result.object["metadata"]
    async with KubernetesApplier(
        field_manager="flux-like",
        kubeconfig=control_plane.kubeconfig,
        namespace=ns,
        take_over_updates=True,
    ) as greedy:
        result = await greedy.apply(configmap("cm", {"a": "1"}))
        assert result.object is not None
        assert result.object["data"] == {"a": "1"}
        managers = {m["manager"] for m in result.object["metadata"]["managedFields"]}
        assert managers == {"flux-like"}
