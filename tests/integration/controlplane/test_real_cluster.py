"""The session control plane is a real kube-apiserver: each test fails against a fake."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from kubernetes_asyncio import client

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

APPLY = "application/apply-patch+yaml"


def deployment(namespace: str, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
        },
    }


async def test_namespace_and_configmap_round_trip(kube_client: Any, kube_namespace: str) -> None:
    core = client.CoreV1Api(kube_client)
    ns = await core.read_namespace(kube_namespace)
    assert ns.status.phase == "Active"
    created = await core.create_namespaced_config_map(
        kube_namespace,
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cfg"), data={"a": "1"}),
    )
    # Server-assigned identity: only a real API server fills these in.
    assert created.metadata.uid
    assert int(created.metadata.resource_version) > 0
    assert created.metadata.creation_timestamp is not None
    read = await core.read_namespaced_config_map("cfg", kube_namespace)
    assert read.data == {"a": "1"}
    assert read.metadata.uid == created.metadata.uid


async def test_server_side_apply_conflict_names_the_other_manager(
    kube_client: Any, kube_namespace: str
) -> None:
    # kubernetes-asyncio's stubs omit the `_content_type` keyword it accepts.
    apps: Any = client.AppsV1Api(kube_client)

    async def apply(manager: str, replicas: int, *, force: bool = False) -> Any:
        return await apps.patch_namespaced_deployment(
            "web",
            kube_namespace,
            deployment(kube_namespace, replicas),
            field_manager=manager,
            force=force,
            _content_type=APPLY,
        )

    await apply("manager-a", 1)
    # manager-b changes one field with a plain update (a kubectl-edit-style write).
    await apps.patch_namespaced_deployment(
        "web",
        kube_namespace,
        {"spec": {"replicas": 2}},
        field_manager="manager-b",
        _content_type="application/merge-patch+json",
    )
    with pytest.raises(client.ApiException) as caught:
        await apply("manager-a", 3)
    assert caught.value.status == 409
    assert caught.value.body is not None
    status = json.loads(caught.value.body)
    assert status["reason"] == "Conflict"
    causes = status["details"]["causes"]
    assert [c["field"] for c in causes] == [".spec.replicas"]
    assert 'conflict with "manager-b"' in causes[0]["message"]

    live = await apps.read_namespaced_deployment("web", kube_namespace)
    managers = {(m.manager, m.operation) for m in live.metadata.managed_fields}
    assert managers == {("manager-a", "Apply"), ("manager-b", "Update")}
    assert live.spec.replicas == 2

    forced = await apply("manager-a", 3, force=True)
    assert forced.spec.replicas == 3


async def test_crd_becomes_established_and_serves_its_resource(
    kube_client: Any, kube_namespace: str
) -> None:
    group = f"{kube_namespace}.example.com"
    crd: dict[str, Any] = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {"size": {"type": "integer"}},
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    ext: Any = client.ApiextensionsV1Api(kube_client)
    await ext.create_custom_resource_definition(crd)
    try:
        with anyio.fail_after(60):
            while True:
                got = await ext.read_custom_resource_definition(f"widgets.{group}")
                conditions = {c.type: c.status for c in (got.status.conditions or [])}
                if conditions.get("Established") == "True":
                    break
                await anyio.sleep(0.2)
        widget: dict[str, Any] = {
            "apiVersion": f"{group}/v1",
            "kind": "Widget",
            "metadata": {"name": "w1", "namespace": kube_namespace},
            "spec": {"size": 3},
        }

        async def apply(body: dict[str, Any]) -> Any:
            # Not CustomObjectsApi.patch_namespaced_custom_object: its response map
            # lacks 201, so an apply that creates returns None.
            return await kube_client.call_api(
                f"/apis/{group}/v1/namespaces/{kube_namespace}/widgets/w1",
                "PATCH",
                query_params=[("fieldManager", "tests")],
                header_params={"Content-Type": APPLY, "Accept": "application/json"},
                body=body,
                response_types_map={200: "object", 201: "object"},
                auth_settings=["BearerToken"],
                _return_http_data_only=True,
            )

        applied = await apply(widget)
        assert applied["spec"] == {"size": 3}
        assert applied["metadata"]["managedFields"][0]["manager"] == "tests"
        # The structural schema is enforced: a server-side apply of an undeclared
        # field is refused outright (by 1.37 with a 500, not a 422).
        widget["spec"]["unknown"] = "x"
        with pytest.raises(client.ApiException) as caught:
            await apply(widget)
        assert ".spec.unknown: field not declared in schema" in str(caught.value.body)
    finally:
        await ext.delete_custom_resource_definition(f"widgets.{group}")


async def test_openapi_v3_carries_list_map_keys_for_containers(kube_client: Any) -> None:
    async def get(path: str) -> Any:
        return await kube_client.call_api(
            path,
            "GET",
            header_params={"Accept": "application/json"},
            response_types_map={200: "object"},
            auth_settings=["BearerToken"],
            _return_http_data_only=True,
        )

    index = await get("/openapi/v3")
    url = index["paths"]["apis/apps/v1"]["serverRelativeURL"]
    document = await get(url)
    containers = document["components"]["schemas"]["io.k8s.api.core.v1.PodSpec"]["properties"][
        "containers"
    ]
    assert containers["x-kubernetes-list-type"] == "map"
    assert containers["x-kubernetes-list-map-keys"] == ["name"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
