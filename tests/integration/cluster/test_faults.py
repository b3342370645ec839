"""The failure modes an applier must type correctly, against the real control plane."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from reconcile.cluster import Action, Impersonation, KubernetesApplier, RetryPolicy
from reconcile.errors import (
    ForbiddenError,
    ImmutableFieldError,
    NotFoundError,
    RetryableError,
)
from reconcile.objects import ObjectRef

pytestmark = [
    pytest.mark.integration,
    pytest.mark.anyio,
]


def crd(group: str, plural: str, kind: str, singular: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": singular, "kind": kind},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }


@pytest.fixture
def crd_group(control_plane: Any, kube_namespace: str) -> Iterator[str]:
    group = f"{kube_namespace}.example.com"
    yield group
    _status, body = control_plane.request(
        "GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    )
    for item in body.get("items", []):
        if item["spec"]["group"] == group:
            control_plane.request(
                "DELETE",
                f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{item['metadata']['name']}",
            )


async def test_custom_resource_before_its_crd_is_established_is_retryable(
    applier: KubernetesApplier, crd_group: str
) -> None:
    # `gadgets` claims the singular name `widget` that `widgets` already uses:
    # the API server refuses its names, so it never becomes Established.
    await applier.apply(crd(crd_group, "widgets", "Widget", "widget"))
    await applier.apply(crd(crd_group, "gadgets", "Gadget", "widget"))
    gadget = {
        "apiVersion": f"{crd_group}/v1",
        "kind": "Gadget",
        "metadata": {"name": "g1"},
        "spec": {"size": 1},
    }
    with pytest.raises(RetryableError, match=r"gadgets\.\S+ is not Established") as caught:
        await applier.apply(gadget)
    assert caught.value.reason == "CRDNotEstablished"
    assert caught.value.ref is not None
    assert caught.value.ref.kind == "Gadget"
    # A kind with no CRD at all is NotFound, not retryable.
    with pytest.raises(NotFoundError):
        await applier.apply({**gadget, "kind": "Nothing"})


async def test_crd_and_custom_resource_in_one_pass_converge_with_retries(
    applier: KubernetesApplier, crd_group: str
) -> None:
    await applier.apply(crd(crd_group, "things", "Thing", "thing"))
    thing = {
        "apiVersion": f"{crd_group}/v1",
        "kind": "Thing",
        "metadata": {"name": "t1"},
        "spec": {"a": 1},
    }
    with anyio.fail_after(60):
        while True:
            try:
                result = await applier.apply(thing)
                break
            except RetryableError:
                await anyio.sleep(0.2)
    assert result.action is Action.CREATED
    again = await applier.apply(thing)
    assert again.action is Action.UNCHANGED


def service(ip: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "svc"},
        "spec": {
            "clusterIP": ip,
            "ports": [{"port": 80, "protocol": "TCP"}],
            "selector": {"app": "x"},
        },
    }


def job(label: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "job"},
        "spec": {
            "manualSelector": True,
            "selector": {"matchLabels": {"run": label}},
            "template": {
                "metadata": {"labels": {"run": label}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "busybox"}],
                },
            },
        },
    }


@pytest.mark.parametrize(
    ("before", "after", "field"),
    [
        (service("10.0.0.50"), service("10.0.0.51"), "spec.clusterIP"),
        (job("a"), job("b"), "spec.selector"),
    ],
    ids=["service-clusterIP", "job-selector"],
)
async def test_immutable_fields_refused_or_recreated(
    control_plane: Any,
    kube_namespace: str,
    before: dict[str, Any],
    after: dict[str, Any],
    field: str,
) -> None:
    settings: dict[str, Any] = {
        "field_manager": "reconcile-test",
        "kubeconfig": control_plane.kubeconfig,
        "namespace": kube_namespace,
    }
    async with KubernetesApplier(**settings) as refusing:
        first = await refusing.apply(before)
        assert first.action is Action.CREATED
        uid = first.object["metadata"]["uid"] if first.object else None
        with pytest.raises(ImmutableFieldError) as caught:
            await refusing.apply(after)
        assert caught.value.path is not None
        assert caught.value.path.startswith(field)
        assert caught.value.status == 422
    async with KubernetesApplier(recreate_immutable=True, **settings) as recreating:
        result = await recreating.apply(after)
        assert result.action is Action.RECREATED
        assert result.object is not None
        assert result.object["metadata"]["uid"] != uid
        if field == "spec.clusterIP":
            assert result.object["spec"]["clusterIP"] == "10.0.0.51"
        else:
            assert result.object["spec"]["selector"] == {"matchLabels": {"run": "b"}}


async def test_impersonated_user_denied_by_rbac_names_verb_and_resource(
    control_plane: Any, kube_namespace: str
) -> None:
    # jane may read ConfigMaps in the namespace, not write them.
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "read-cm", "namespace": kube_namespace},
        "rules": [
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}
        ],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "jane-read", "namespace": kube_namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-cm"},
        "subjects": [{"kind": "User", "name": "jane", "apiGroup": "rbac.authorization.k8s.io"}],
    }
    async with KubernetesApplier(
        field_manager="admin", kubeconfig=control_plane.kubeconfig, namespace=kube_namespace
    ) as admin:
        await admin.apply_all([role, binding])
    async with KubernetesApplier(
        field_manager="jane-tool",
        kubeconfig=control_plane.kubeconfig,
        namespace=kube_namespace,
        impersonate=Impersonation(user="jane", groups=("system:authenticated",)),
    ) as jane:
        assert await jane.get(ObjectRef("v1", "ConfigMap", "absent", kube_namespace)) is None
        with pytest.raises(ForbiddenError) as caught:
            await jane.apply(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "x"},
                    "data": {"a": "1"},
                }
            )
        err = caught.value
        assert err.status == 403
        assert "cannot patch resource 'configmaps'" in str(err)
        assert 'User "jane"' in str(err)
        assert err.ref == ObjectRef("v1", "ConfigMap", "x", kube_namespace)


async def test_apiserver_restart_mid_batch_converges_and_cache_relists(
    control_plane: Any, kube_namespace: str
) -> None:
    if not hasattr(control_plane, "restart_apiserver"):
        pytest.skip("needs a control plane this process runs")
    async with KubernetesApplier(
        field_manager="reconcile-test",
        kubeconfig=control_plane.kubeconfig,
        namespace=kube_namespace,
        retry=RetryPolicy(attempts=30, initial_delay=0.2, max_delay=2.0),
        watch_silence=5.0,
    ) as applier:
        objs = [
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"r{i}"},
                "data": {"i": str(i)},
            }
            for i in range(200)
        ]
        await applier.apply_all(objs[:1])
        cache = applier.cache
        assert cache is not None
        before = cache.statistics()

        async def restart() -> None:
            await anyio.sleep(0.05)
            await anyio.to_thread.run_sync(control_plane.restart_apiserver)

        async with anyio.create_task_group() as tg:
            tg.start_soon(restart)
            results = await applier.apply_all(objs)
        failed = [r for r in results if r.action is Action.FAILED]
        assert failed == []
        # Written behind the applier's back while the watch reconnects: the cache
        # must see it through its re-established watch or a relist.
        control_plane.request(
            "PUT",
            f"/api/v1/namespaces/{kube_namespace}/configmaps/r0",
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "r0", "namespace": kube_namespace},
                "data": {"i": "edited"},
            },
        )
        ref = ObjectRef("v1", "ConfigMap", "r0", kube_namespace)
        with anyio.fail_after(60):
            while ((await applier.get(ref)) or {}).get("data") != {"i": "edited"}:  # noqa: ASYNC110
                await anyio.sleep(0.1)
        after = cache.statistics()
        assert (
            after["watch_restarts"] + after["relists"]
            > before["watch_restarts"] + before["relists"]
        )
        assert after["objects"] >= 200
