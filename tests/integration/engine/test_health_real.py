"""kstatus against a real kube-apiserver: objects put into each state for real.

Where no controller runs (``plain``), status is written through the ``/status``
subresource, so the API server's validation and defaulting apply; with
kube-controller-manager (``controllers``), the Deployment and namespace
controllers produce the states themselves.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from kubernetes_asyncio.dynamic.exceptions import ResourceNotFoundError

from reconcile.engine.health import HealthResult, Status, compute, wait_for_status
from reconcile.errors import HealthError
from reconcile.objects import ObjectRef

from ._support import Env, KubeStatusError

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

NOW = "2026-01-01T00:00:00Z"


async def health(env: Env, ref: ObjectRef) -> HealthResult:
    return compute(await env.objects.get(ref))


def deployment(ns: str, replicas: int, deadline: int | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
        },
    }
    if deadline is not None:
        spec["progressDeadlineSeconds"] = deadline
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": ns},
        "spec": spec,
    }


def crd(group: str, plural: str, kind: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": plural[:-1], "kind": kind},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
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


async def test_finalizer_keeps_an_object_terminating_until_removed(plain: Env) -> None:
    cm: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "held",
            "namespace": plain.namespace,
            "finalizers": ["example.com/hold"],
        },
    }
    ref = ObjectRef.from_object(cm)
    await plain.objects.apply(cm)
    assert (await health(plain, ref)).status is Status.CURRENT
    await plain.objects.delete(ref)
    result = await health(plain, ref)
    assert result.status is Status.TERMINATING
    with pytest.raises(
        HealthError, match=r"ConfigMap .*/held: not NotFound after 0.5 s: Terminating"
    ):
        await wait_for_status(
            lambda: plain.objects.get(ref), ref, timeout=0.5, want=Status.NOT_FOUND, interval=0.1
        )
    cm["metadata"]["finalizers"] = []
    await plain.objects.apply(cm)
    await wait_for_status(lambda: plain.objects.get(ref), ref, timeout=10, want=Status.NOT_FOUND)


async def test_crd_established_and_a_names_conflict_is_failed(plain: Env) -> None:
    group = f"{plain.namespace}.example.com"
    good, clash = crd(group, "widgets", "Widget"), crd(group, "gadgets", "Widget")
    refs = [ObjectRef.from_object(good), ObjectRef.from_object(clash)]
    try:
        await plain.objects.apply(good)
        result = await wait_for_status(lambda: plain.objects.get(refs[0]), refs[0], timeout=30)
        assert result.message == "CRD is established"
        await plain.objects.apply(clash)
        failed = await wait_for_status(
            lambda: plain.objects.get(refs[1]), refs[1], timeout=30, want=Status.FAILED
        )
        assert failed.reason is not None
        assert "Widget" in failed.message or "kind" in failed.message.lower()
        # Waiting for Current on a Failed object ends at once, naming it and the reason.
        with pytest.raises(HealthError, match=f"gadgets.{group}: Failed \\({failed.reason}\\)"):
            await wait_for_status(lambda: plain.objects.get(refs[1]), refs[1], timeout=30)
    finally:
        for ref in refs:
            await plain.objects.delete(ref)


async def test_custom_resource_generic_conditions(plain: Env) -> None:
    group = f"{plain.namespace}.example.com"
    definition = crd(group, "things", "Thing")
    crd_ref = ObjectRef.from_object(definition)
    try:
        await plain.objects.apply(definition)
        await wait_for_status(lambda: plain.objects.get(crd_ref), crd_ref, timeout=30)
        thing: dict[str, Any] = {
            "apiVersion": f"{group}/v1",
            "kind": "Thing",
            "metadata": {"name": "t", "namespace": plain.namespace},
            "spec": {"size": 1},
        }
        ref = ObjectRef.from_object(thing)
        for _ in range(50):  # discovery of the new kind may lag a little
            try:
                live = await plain.objects.apply(thing)
                break
            except (KubeStatusError, ResourceNotFoundError):
                await anyio.sleep(0.2)
        else:
            live = await plain.objects.apply(thing)
        assert live["metadata"]["generation"] == 1
        assert (await health(plain, ref)).message == "Resource is current"

        def cond(type_: str, status: str, reason: str, message: str) -> dict[str, str]:
            return {"type": type_, "status": status, "reason": reason, "message": message}

        await plain.objects.patch_status(
            ref, {"observedGeneration": 1, "conditions": [cond("Ready", "False", "Waiting", "db")]}
        )
        assert (await health(plain, ref)).reason == "Waiting"
        await plain.objects.patch_status(
            ref,
            {
                "conditions": [
                    cond("Ready", "True", "Ok", ""),
                    cond("Stalled", "True", "Broken", "x"),
                ]
            },
        )
        assert (await health(plain, ref)).status is Status.FAILED
        await plain.objects.patch_status(ref, {"conditions": [cond("Ready", "True", "Ok", "")]})
        assert (await health(plain, ref)).status is Status.CURRENT
        thing["spec"]["size"] = 2
        await plain.objects.apply(thing)  # generation 2, observed 1
        result = await health(plain, ref)
        assert (result.status, result.reason) == (Status.IN_PROGRESS, "LatestGenerationNotObserved")
    finally:
        await plain.objects.delete(crd_ref)


async def test_deployment_states_written_through_status(plain: Env) -> None:
    ns = plain.namespace
    obj = deployment(ns, 2, deadline=600)
    ref = ObjectRef.from_object(obj)
    await plain.objects.apply(obj)
    result = await health(plain, ref)
    assert (result.status, result.message) == (Status.IN_PROGRESS, "Replicas: 0/2")

    available = {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}
    progressing = {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}
    counts = {"replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2}
    await plain.objects.patch_status(
        ref, {"observedGeneration": 1, **counts, "conditions": [progressing, available]}
    )
    assert (await health(plain, ref)).status is Status.CURRENT

    await plain.objects.patch_status(ref, {"availableReplicas": 1})
    assert (await health(plain, ref)).message == "Available: 1/2"

    obj["spec"]["replicas"] = 3
    await plain.objects.apply(obj)
    result = await health(plain, ref)
    assert result.reason == "LatestGenerationNotObserved"
    assert result.message == "Deployment generation is 2, but latest observed generation is 1"

    stuck = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
             "message": 'ReplicaSet "web-1" has timed out progressing.'}  # fmt: skip
    await plain.objects.patch_status(
        ref, {"observedGeneration": 2, "conditions": [stuck, available]}
    )
    result = await health(plain, ref)
    assert (result.status, result.reason) == (Status.FAILED, "ProgressDeadlineExceeded")


async def test_pod_pvc_job_pdb_service(plain: Env) -> None:
    ns = plain.namespace
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": ns},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }
    pod_ref = ObjectRef.from_object(pod)
    await plain.objects.apply(pod)
    assert (await health(plain, pod_ref)).reason == "PodPending"  # phase defaulted by the server
    waiting = {"waiting": {"reason": "CrashLoopBackOff"}}
    status = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "False"}],
        "containerStatuses": [
            {
                "name": "c",
                "image": "busybox",
                "imageID": "",
                "ready": False,
                "restartCount": 5,
                "state": waiting,
            }
        ],
    }
    await plain.objects.patch_status(pod_ref, status)
    result = await health(plain, pod_ref)
    assert (result.status, result.message) == (Status.FAILED, "Containers in CrashLoop state: c")

    pvc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "namespace": ns},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    pvc_ref = ObjectRef.from_object(pvc)
    await plain.objects.apply(pvc)
    assert (await health(plain, pvc_ref)).message == "PVC is not Bound. phase: Pending"
    await plain.objects.patch_status(pvc_ref, {"phase": "Bound"})
    assert (await health(plain, pvc_ref)).status is Status.CURRENT

    job: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j", "namespace": ns},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "busybox"}],
                }
            }
        },
    }
    job_ref = ObjectRef.from_object(job)
    await plain.objects.apply(job)
    assert (await health(plain, job_ref)).reason == "JobNotStarted"
    await plain.objects.patch_status(job_ref, {"startTime": NOW, "active": 1})
    assert (await health(plain, job_ref)).status is Status.CURRENT
    terminal = [
        {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded",
         "lastTransitionTime": NOW},
        {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
         "lastTransitionTime": NOW},
    ]  # fmt: skip
    await plain.objects.patch_status(job_ref, {"active": 0, "failed": 1, "conditions": terminal})
    result = await health(plain, job_ref)
    assert (result.status, result.message) == (Status.FAILED, "Job Failed. failed: 1/1")

    pdb: dict[str, Any] = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "pdb", "namespace": ns},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}},
    }
    pdb_ref = ObjectRef.from_object(pdb)
    await plain.objects.apply(pdb)
    pdb_status = {
        "observedGeneration": 1,
        "disruptionsAllowed": 0,
        "currentHealthy": 0,
        "desiredHealthy": 1,
        "expectedPods": 0,
    }
    await plain.objects.patch_status(pdb_ref, pdb_status)
    assert (await health(plain, pdb_ref)).status is Status.CURRENT
    pdb["spec"]["minAvailable"] = 2
    await plain.objects.apply(pdb)
    assert (await health(plain, pdb_ref)).reason == "LatestGenerationNotObserved"

    svc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "lb", "namespace": ns},
        "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 80}]},
    }
    svc_ref = ObjectRef.from_object(svc)
    live = await plain.objects.apply(svc)
    assert live["spec"]["clusterIP"]  # allocated by the API server
    assert (await health(plain, svc_ref)).message == "Service is ready"


async def test_deployment_rollout_with_real_controllers(controllers: Env) -> None:
    ns = controllers.namespace
    read = controllers.objects.get

    idle = deployment(ns, 0)
    idle["metadata"]["name"] = "idle"
    idle_ref = ObjectRef.from_object(idle)
    await controllers.objects.apply(idle)
    result = await wait_for_status(lambda: read(idle_ref), idle_ref, timeout=60)
    assert result.message == "Deployment is available. Replicas: 0"

    # Pods never run here, so a rollout with a 1 s deadline must end Failed.
    web = deployment(ns, 1, deadline=1)
    web_ref = ObjectRef.from_object(web)
    await controllers.objects.apply(web)
    failed = await wait_for_status(
        lambda: read(web_ref), web_ref, timeout=90, want=Status.FAILED, interval=0.5
    )
    assert failed.reason == "ProgressDeadlineExceeded"
    live = await read(web_ref)
    assert live is not None
    assert live["status"]["replicas"] == 1

    # Its ReplicaSet exists (made by the controller) and is not available.
    rs_list = await controllers.dynamic.get(
        await controllers.dynamic.resources.get(api_version="apps/v1", kind="ReplicaSet"),
        namespace=ns,
        label_selector="app=web",
    )
    owned = [
        rs.to_dict()
        for rs in rs_list.items
        if any(o.name == "web" for o in rs.metadata.ownerReferences or [])
    ]
    assert len(owned) == 1
    rs_health = compute(owned[0])
    assert rs_health.status is Status.IN_PROGRESS
    assert rs_health.reason in {"LessAvailable", "LessLabelled"}


async def test_namespace_terminating_then_not_found_with_real_controllers(
    controllers: Env,
) -> None:
    ns: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": f"{controllers.namespace}-x"},
    }
    ref = ObjectRef.from_object(ns)
    await controllers.objects.apply(ns)
    assert (await health(controllers, ref)).status is Status.CURRENT
    await controllers.objects.delete(ref)
    first = await health(controllers, ref)
    assert first.status in {Status.TERMINATING, Status.NOT_FOUND}
    await wait_for_status(
        lambda: controllers.objects.get(ref), ref, timeout=60, want=Status.NOT_FOUND
    )
