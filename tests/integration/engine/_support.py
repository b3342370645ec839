"""A minimal ObjectClient over kubernetes-asyncio's DynamicClient, for the tests."""

from __future__ import annotations

from typing import Any

import attrs
from kubernetes_asyncio.dynamic import DynamicClient

from reconcile.objects import JSONObject, ObjectRef
from reconcile.testing import ControlPlane, ExistingCluster

FIELD_MANAGER = "reconcile-tests"


class KubeStatusError(Exception):
    """The server answered with a failed ``Status``."""

    def __init__(self, status: JSONObject) -> None:
        self.status = status
        self.code = status.get("code")
        super().__init__(f"{status.get('code')} {status.get('reason')}: {status.get('message')}")


def _checked(result: Any) -> JSONObject:
    # kubernetes-asyncio's DynamicClient returns a failed Status instead of raising.
    out: JSONObject = result.to_dict()
    if out.get("kind") == "Status" and out.get("status") == "Failure":
        raise KubeStatusError(out)
    return out


class KubeObjects:
    """get / apply / delete one object; satisfies ``reconcile.engine.inventory.ObjectClient``."""

    def __init__(self, dynamic: DynamicClient) -> None:
        self.dynamic = dynamic

    async def _resource(self, api_version: str, kind: str) -> Any:
        return await self.dynamic.resources.get(api_version=api_version, kind=kind)

    async def get(self, ref: ObjectRef) -> JSONObject | None:
        resource = await self._resource(ref.api_version, ref.kind)
        try:
            return _checked(
                await self.dynamic.get(resource, name=ref.name, namespace=ref.namespace)
            )
        except KubeStatusError as exc:
            if exc.code == 404:
                return None
            raise

    async def apply(self, obj: JSONObject) -> JSONObject:
        resource = await self._resource(obj["apiVersion"], obj["kind"])
        applied = await self.dynamic.server_side_apply(
            resource,
            body=obj,
            namespace=obj["metadata"].get("namespace"),
            field_manager=FIELD_MANAGER,
            force_conflicts=True,
        )
        return _checked(applied)

    async def delete(self, ref: ObjectRef) -> None:
        resource = await self._resource(ref.api_version, ref.kind)
        try:
            _checked(
                await self.dynamic.delete(
                    resource,
                    name=ref.name,
                    namespace=ref.namespace,
                    propagation_policy="Background",
                )
            )
        except KubeStatusError as exc:
            if exc.code != 404:
                raise

    async def patch_status(self, ref: ObjectRef, status: dict[str, Any]) -> JSONObject:
        """Merge-patch ``status`` through the /status subresource."""
        resource = await self._resource(ref.api_version, ref.kind)
        patched = await self.dynamic.patch(
            resource.subresources["status"],
            body={"status": status},
            name=ref.name,
            namespace=ref.namespace,
            content_type="application/merge-patch+json",
        )
        return _checked(patched)


@attrs.define
class Env:
    """A client on one cluster and a fresh namespace in it."""

    api: Any
    dynamic: DynamicClient
    objects: KubeObjects
    namespace: str
    plane: ControlPlane | ExistingCluster
