"""One scenario suite for every Applier: run it on two, compare the outcomes.

Each step returns a normalized outcome: the action, the values of a few fields,
the managers with their field sets (server-side apply bookkeeping), or the
typed error with its status and conflicts. Timestamps, uids and
resourceVersions are left out; defaults the API server adds are not compared
(the in-memory cluster does not default, a documented limit).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from reconcile.cluster import ApplyMode, ApplyResult, Propagation
from reconcile.cluster._api import Applier
from reconcile.errors import ApplyError, ConflictError, RetryableError
from reconcile.objects import ObjectRef

MakeApplier = Callable[[str], Awaitable[Applier]]
Outcome = dict[str, Any]


def _get(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _managers(obj: dict[str, Any] | None) -> list[tuple[str, str, str]]:
    entries = ((obj or {}).get("metadata") or {}).get("managedFields") or ()
    return sorted(
        (e["manager"], e["operation"], json.dumps(e.get("fieldsV1"), sort_keys=True))
        for e in entries
        if not e.get("subresource")
    )


def outcome(result: ApplyResult | ApplyError, *fields: str, managers: bool = True) -> Outcome:
    if isinstance(result, ApplyError):
        out: Outcome = {"error": type(result).__name__, "status": result.status}
        if isinstance(result, ConflictError):
            out["conflicts"] = sorted((c.manager, c.path) for c in result.conflicts)
        if result.path is not None:
            out["path"] = result.path.split("[")[0].removesuffix("s")
        return out
    out = {"action": result.action.value, "dry_run": result.dry_run}
    for field in fields:
        out[field] = _get(result.object, field)
    if managers and result.object is not None:
        out["managers"] = _managers(result.object)
    return out


async def attempt(op: Callable[[], Awaitable[ApplyResult]]) -> ApplyResult | ApplyError:
    """Run an operation; a retryable error is retried for a while (CRD establishment)."""
    with anyio.fail_after(60):
        while True:
            try:
                return await op()
            except RetryableError:
                await anyio.sleep(0.2)
            except ApplyError as exc:
                return exc


def cm(name: str, data: dict[str, str], **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, **meta},
        "data": data,
    }


def deploy(replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
        },
    }


def service(ip: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "svc"},
        "spec": {
            "clusterIP": ip,
            "selector": {"app": "x"},
            "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
        },
    }


async def run_scenarios(make: MakeApplier, namespace: str) -> list[tuple[str, Outcome]]:
    """Run every step; returns (step name, outcome) pairs."""
    alpha = await make("alpha")
    beta = await make("beta")
    steps: list[tuple[str, Outcome]] = []

    async def step(
        name: str, op: Callable[[], Awaitable[ApplyResult]], *fields: str, managers: bool = True
    ) -> None:
        result = await attempt(op)
        steps.append((name, outcome(result, *fields, managers=managers)))
        # A watch-fed cache is eventually consistent: let every view see this write.
        if isinstance(result, ApplyResult) and result.object is not None and not result.dry_run:
            for view in (alpha, beta):
                wait = getattr(view, "wait_cached", None)
                if wait is not None and result.action.value != "deleted":
                    await wait(result.object)

    await step("ssa create", lambda: alpha.apply(cm("c", {"a": "1", "b": "2"})), "data")
    await step("ssa again", lambda: alpha.apply(cm("c", {"a": "1", "b": "2"})), "data")
    await step("ssa prune b", lambda: alpha.apply(cm("c", {"a": "1"})), "data")
    await step("conflict", lambda: beta.apply(cm("c", {"a": "9"})))
    await step("forced", lambda: beta.apply(cm("c", {"a": "9"}), force=True), "data")
    await step("conflict back", lambda: alpha.apply(cm("c", {"a": "1"})))
    await step("shared same value", lambda: alpha.apply(cm("c", {"a": "9", "x": "y"})), "data")
    await step("deploy", lambda: alpha.apply(deploy(1)), "spec.replicas", "metadata.generation")
    await step(
        "deploy scale", lambda: alpha.apply(deploy(3)), "spec.replicas", "metadata.generation"
    )
    await step("create exists", lambda: alpha.apply(cm("c", {"a": "1"}), mode=ApplyMode.CREATE))
    await step(
        "create new",
        lambda: alpha.apply(cm("n", {"a": "1"}), mode=ApplyMode.CREATE),
        "data",
        managers=True,
    )
    await step(
        "replace",
        lambda: alpha.apply(cm("n", {"z": "1"}), mode=ApplyMode.REPLACE),
        "data",
        managers=False,
    )
    ref = ObjectRef("v1", "ConfigMap", "n", namespace)
    await step(
        "delete", lambda: alpha.delete(ref, propagation=Propagation.BACKGROUND), managers=False
    )
    await step("delete again", lambda: alpha.delete(ref), managers=False)
    steps.append(("get deleted", {"value": await alpha.get(ref)}))
    await step(
        "missing namespace", lambda: alpha.apply(cm("m", {"a": "1"}, namespace="no-such-namespace"))
    )
    await step(
        "unknown kind",
        lambda: alpha.apply({"apiVersion": "v1", "kind": "Nope", "metadata": {"name": "x"}}),
    )
    await step("invalid name", lambda: alpha.apply(cm("Bad_Name", {"a": "1"})))
    await step(
        "service", lambda: alpha.apply(service("10.0.0.60")), "spec.clusterIP", managers=False
    )
    await step("immutable", lambda: alpha.apply(service("10.0.0.61")))
    await step("dry run", lambda: alpha.apply(cm("dry", {"a": "1"}), dry_run=True), "data")
    steps.append(
        (
            "dry run left nothing",
            {"value": await alpha.get(ObjectRef("v1", "ConfigMap", "dry", namespace))},
        )
    )
    await step(
        "csa create",
        lambda: alpha.apply(cm("csa", {"a": "1", "b": "2"}), mode=ApplyMode.CLIENT_SIDE),
        "data",
        managers=False,
    )
    await step("other writer", lambda: beta.apply(cm("csa", {"c": "3"})), "data", managers=False)
    await step(
        "csa drops b",
        lambda: alpha.apply(cm("csa", {"a": "1"}), mode=ApplyMode.CLIENT_SIDE),
        "data",
        managers=False,
    )
    await step(
        "csa again",
        lambda: alpha.apply(cm("csa", {"a": "1"}), mode=ApplyMode.CLIENT_SIDE),
        "data",
        managers=False,
    )
    group = f"{namespace}.example.com"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {
                "plural": "widgets",
                "singular": "widget",
                "kind": "Widget",
                "listKind": "WidgetList",
            },
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
                                    "properties": {
                                        "size": {"type": "integer"},
                                        "tags": {
                                            "type": "array",
                                            "items": {"type": "string"},
                                            "x-kubernetes-list-type": "set",
                                        },
                                    },
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    await step("crd", lambda: alpha.apply(crd), managers=False)
    widget = {
        "apiVersion": f"{group}/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"size": 1, "tags": ["a", "b"]},
    }
    await step("cr", lambda: alpha.apply(widget), "spec")
    await step("cr again", lambda: alpha.apply(widget), "spec")
    await step("cr other tag", lambda: beta.apply({**widget, "spec": {"tags": ["c"]}}), "spec")
    info = await alpha.resource_for(f"{group}/v1", "Widget")
    steps.append(("cr mapping", {"resource": info.resource, "namespaced": info.namespaced}))
    return steps
