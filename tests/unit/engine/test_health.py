# ruff: noqa: E501  (one kstatus rule per line reads better as a table)
"""kstatus rules, kind by kind: each case is one rule of pkg/kstatus/status."""

from __future__ import annotations

import datetime as dt
from typing import Any

import anyio
import pytest

from reconcile.engine.health import (
    SCHEDULE_WINDOW,
    HealthChecks,
    HealthResult,
    Status,
    compute,
    wait_for_status,
)
from reconcile.errors import HealthError
from reconcile.objects import ObjectRef

C, P, F, T, U = (
    Status.CURRENT,
    Status.IN_PROGRESS,
    Status.FAILED,
    Status.TERMINATING,
    Status.UNKNOWN,
)
NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


def make(api: str, kind: str, spec: Any = None, status: Any = None, **meta: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": api, "kind": kind, "metadata": {"name": "x", **meta}}
    if spec is not None:
        obj["spec"] = spec
    if status is not None:
        obj["status"] = status
    return obj


def cond(type_: str, status: str = "True", reason: str = "", message: str = "") -> dict[str, str]:
    return {"type": type_, "status": status, "reason": reason, "message": message}


def deploy(spec: Any = None, **status: Any) -> dict[str, Any]:
    return make("apps/v1", "Deployment", spec or {}, status)


GOOD_DEPLOY = {
    "replicas": 2,
    "updatedReplicas": 2,
    "readyReplicas": 2,
    "availableReplicas": 2,
    "conditions": [
        cond("Progressing", reason="NewReplicaSetAvailable"),
        cond("Available", reason="MinimumReplicasAvailable"),
    ],
}

CASES: list[tuple[str, dict[str, Any], Status, str | None, str]] = [
    # --- Deployment
    ("deploy current", deploy({"replicas": 2, "progressDeadlineSeconds": 600}, **GOOD_DEPLOY), C, None, "Deployment is available. Replicas: 2"),
    ("deploy default replicas is 1", deploy({}, replicas=0), P, "LessReplicas", "Replicas: 0/1"),
    ("deploy less updated", deploy({"replicas": 2}, **{**GOOD_DEPLOY, "updatedReplicas": 1}), P, "LessUpdated", "Updated: 1/2"),
    ("deploy extra pods", deploy({"replicas": 1}, **{**GOOD_DEPLOY, "updatedReplicas": 1}), P, "ExtraPods", "Pending termination: 1"),
    ("deploy less available", deploy({"replicas": 2}, **{**GOOD_DEPLOY, "availableReplicas": 1}), P, "LessAvailable", "Available: 1/2"),
    ("deploy less ready", deploy({"replicas": 2}, **{**GOOD_DEPLOY, "readyReplicas": 1}), P, "LessReady", "Ready: 1/2"),
    ("deploy deadline exceeded", deploy({"replicas": 2}, conditions=[cond("Progressing", "False", "ProgressDeadlineExceeded", "ReplicaSet \"x\" has timed out progressing.")]), F, "ProgressDeadlineExceeded", "Progress deadline exceeded"),
    ("deploy rs not available", deploy({"replicas": 2, "progressDeadlineSeconds": 60}, **{**GOOD_DEPLOY, "conditions": [cond("Available")]}), P, "ReplicaSetNotAvailable", "ReplicaSet not Available"),
    ("deploy with the never deadline needs no Progressing", deploy({"replicas": 2, "progressDeadlineSeconds": 2147483647}, **{**GOOD_DEPLOY, "conditions": [cond("Available")]}), C, None, "Deployment is available. Replicas: 2"),
    ("deploy without deadline needs no Progressing", deploy({"replicas": 2}, **{**GOOD_DEPLOY, "conditions": [cond("Available")]}), C, None, "Deployment is available. Replicas: 2"),
    ("deploy not available", deploy({"replicas": 2}, **{**GOOD_DEPLOY, "conditions": [cond("Available", "False")]}), P, "DeploymentNotAvailable", "Deployment not Available"),
    ("deploy zero replicas", deploy({"replicas": 0}, conditions=[cond("Available")]), C, None, "Deployment is available. Replicas: 0"),
    ("deploy float counts are absent", deploy({"replicas": 1.0}, replicas=1, updatedReplicas=1, readyReplicas=1, availableReplicas=1, conditions=[cond("Available")]), C, None, "Deployment is available. Replicas: 1"),
    # --- StatefulSet
    ("sts on delete", make("apps/v1", "StatefulSet", {"updateStrategy": {"type": "OnDelete"}}), C, None, "StatefulSet is using the ondelete update strategy"),
    ("sts less replicas", make("apps/v1", "StatefulSet", {"replicas": 3}, {"replicas": 2}), P, "LessReplicas", "Replicas: 2/3"),
    ("sts less ready", make("apps/v1", "StatefulSet", {"replicas": 3}, {"replicas": 3, "readyReplicas": 2}), P, "LessReady", "Ready: 2/3"),
    ("sts extra pods", make("apps/v1", "StatefulSet", {"replicas": 1}, {"replicas": 2, "readyReplicas": 2}), P, "ExtraPods", "Pending termination: 1"),
    ("sts partition rollout", make("apps/v1", "StatefulSet", {"replicas": 3, "updateStrategy": {"rollingUpdate": {"partition": 1}}}, {"replicas": 3, "readyReplicas": 3, "updatedReplicas": 1}), P, "PartitionRollout", "updated: 1/2"),
    ("sts partition done", make("apps/v1", "StatefulSet", {"replicas": 3, "updateStrategy": {"rollingUpdate": {"partition": 1}}}, {"replicas": 3, "readyReplicas": 3, "updatedReplicas": 2}), C, None, "Partition rollout complete. updated: 2"),
    ("sts less current", make("apps/v1", "StatefulSet", {"replicas": 2}, {"replicas": 2, "readyReplicas": 2, "currentReplicas": 1}), P, "LessCurrent", "current: 1/2"),
    ("sts revision mismatch", make("apps/v1", "StatefulSet", {"replicas": 1}, {"replicas": 1, "readyReplicas": 1, "currentReplicas": 1, "currentRevision": "a", "updateRevision": "b"}), P, "RevisionMismatch", "Waiting for updated revision to match current"),
    ("sts current", make("apps/v1", "StatefulSet", {"replicas": 1}, {"replicas": 1, "readyReplicas": 1, "currentReplicas": 1, "currentRevision": "a", "updateRevision": "a"}), C, None, "All replicas scheduled as expected. Replicas: 1"),
    # --- DaemonSet
    ("ds no generation", make("apps/v1", "DaemonSet", {}, {"observedGeneration": 1}), P, "NoGeneration", "DaemonSet metadata.generation not found"),
    ("ds no observed generation", make("apps/v1", "DaemonSet", {}, {}, generation=1), P, "NoObservedGeneration", "DaemonSet status.observedGeneration not found"),
    ("ds no desired", make("apps/v1", "DaemonSet", {}, {"observedGeneration": 1}, generation=1), P, "NoDesiredNumber", "Missing .status.desiredNumberScheduled"),
    ("ds less current", make("apps/v1", "DaemonSet", {}, {"observedGeneration": 1, "desiredNumberScheduled": 2, "currentNumberScheduled": 1}, generation=1), P, "LessCurrent", "Current: 1/2"),
    ("ds less updated", make("apps/v1", "DaemonSet", {}, {"observedGeneration": 1, "desiredNumberScheduled": 2, "currentNumberScheduled": 2, "updatedNumberScheduled": 0}, generation=1), P, "LessUpdated", "Updated: 0/2"),
    ("ds less available", make("apps/v1", "DaemonSet", {}, {"observedGeneration": 1, "desiredNumberScheduled": 2, "currentNumberScheduled": 2, "updatedNumberScheduled": 2, "numberAvailable": 1}, generation=1), P, "LessAvailable", "Available: 1/2"),
    ("ds less ready", make("apps/v1", "DaemonSet", {}, {"observedGeneration": 1, "desiredNumberScheduled": 2, "currentNumberScheduled": 2, "updatedNumberScheduled": 2, "numberAvailable": 2, "numberReady": 1}, generation=1), P, "LessReady", "Ready: 1/2"),
    ("ds current with zero desired", make("apps/v1", "DaemonSet", {}, {"observedGeneration": 1, "desiredNumberScheduled": 0}, generation=1), C, None, "All replicas scheduled as expected. Replicas: 0"),
    # --- ReplicaSet
    ("rs replica failure", make("apps/v1", "ReplicaSet", {"replicas": 1}, {"conditions": [cond("ReplicaFailure")]}), P, "ReplicaFailure", "Replica Failure condition. Check Pods"),
    ("rs less labelled", make("apps/v1", "ReplicaSet", {"replicas": 2}, {"fullyLabeledReplicas": 1}), P, "LessLabelled", "Labelled: 1/2"),
    ("rs less available", make("apps/v1", "ReplicaSet", {"replicas": 2}, {"fullyLabeledReplicas": 2, "availableReplicas": 1}), P, "LessAvailable", "Available: 1/2"),
    ("rs less ready", make("apps/v1", "ReplicaSet", {"replicas": 2}, {"fullyLabeledReplicas": 2, "availableReplicas": 2, "readyReplicas": 0}), P, "LessReady", "Ready: 0/2"),
    ("rs extra pods", make("apps/v1", "ReplicaSet", {"replicas": 1}, {"replicas": 3, "fullyLabeledReplicas": 1, "availableReplicas": 1, "readyReplicas": 1}), P, "ExtraPods", "Pending termination: 2"),
    ("rs current", make("apps/v1", "ReplicaSet", {"replicas": 1}, {"replicas": 1, "fullyLabeledReplicas": 1, "availableReplicas": 1, "readyReplicas": 1}), C, None, "ReplicaSet is available. Replicas: 1"),
    # --- Pod
    ("pod succeeded", make("v1", "Pod", {}, {"phase": "Succeeded"}), C, None, "Pod has completed successfully"),
    ("pod failed is current in kstatus", make("v1", "Pod", {}, {"phase": "Failed"}), C, None, "Pod has completed, but not successfully"),
    ("pod running ready", make("v1", "Pod", {}, {"phase": "Running", "conditions": [cond("Ready")]}), C, None, "Pod is Ready"),
    ("pod crash looping", make("v1", "Pod", {}, {"phase": "Running", "containerStatuses": [{"name": "a", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}, {"name": "b", "state": {"running": {}}}, {"name": "c", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}), F, "ContainerCrashLooping", "Containers in CrashLoop state: a,c"),
    ("pod running not ready", make("v1", "Pod", {}, {"phase": "Running", "conditions": [cond("Ready", "False")]}), P, "PodRunningNotReady", "Pod is running but is not Ready"),
    ("pod pending", make("v1", "Pod", {}, {"phase": "Pending"}), P, "PodPending", "Pod is in the Pending phase"),
    ("pod unschedulable, young", make("v1", "Pod", {}, {"phase": "Pending", "conditions": [cond("PodScheduled", "False", "Unschedulable")]}, creationTimestamp="2026-01-01T11:59:50Z"), P, "PodNotScheduled", "Pod has not been scheduled"),
    ("pod unschedulable, old", make("v1", "Pod", {}, {"phase": "Pending", "conditions": [cond("PodScheduled", "False", "Unschedulable")]}, creationTimestamp="2026-01-01T11:59:40Z"), F, "PodUnschedulable", "Pod could not be scheduled"),
    ("pod not observed", make("v1", "Pod", {}), P, "PodNotObserved", "Pod phase not available"),
    ("pod unknown phase", make("v1", "Pod", {}, {"phase": "Weird"}), U, None, "Pod has an unknown phase 'Weird'"),
    # --- PVC
    ("pvc pending", make("v1", "PersistentVolumeClaim", {}, {"phase": "Pending"}), P, "NotBound", "PVC is not Bound. phase: Pending"),
    ("pvc no status", make("v1", "PersistentVolumeClaim", {}), P, "NotBound", "PVC is not Bound. phase: unknown"),
    ("pvc bound", make("v1", "PersistentVolumeClaim", {}, {"phase": "Bound"}), C, None, "PVC is Bound"),
    # --- PDB: the generation check decides
    ("pdb observed", make("policy/v1", "PodDisruptionBudget", {}, {"observedGeneration": 1}, generation=1), C, None, "AllowedDisruptions has been computed."),
    ("pdb not observed", make("policy/v1", "PodDisruptionBudget", {}, {"observedGeneration": 1}, generation=2), P, "LatestGenerationNotObserved", "PodDisruptionBudget generation is 2, but latest observed generation is 1"),
    # --- Job
    ("job complete", make("batch/v1", "Job", {"completions": 3}, {"succeeded": 3, "conditions": [cond("Complete")]}), C, None, "Job Completed. succeeded: 3/3"),
    ("job failed", make("batch/v1", "Job", {}, {"failed": 2, "conditions": [cond("Failed", reason="BackoffLimitExceeded")]}), F, "JobFailed", "Job Failed. failed: 2/1"),
    ("job suspended", make("batch/v1", "Job", {"suspend": True}, {"conditions": [cond("Suspended")]}), C, None, "Job is suspended"),
    ("job suspended condition but resumed", make("batch/v1", "Job", {"suspend": False}, {"conditions": [cond("Suspended")]}), P, "JobNotStarted", "Job not started"),
    ("job not started", make("batch/v1", "Job", {}, {}), P, "JobNotStarted", "Job not started"),
    ("job running is current", make("batch/v1", "Job", {"parallelism": 2}, {"startTime": "2026-01-01T00:00:00Z", "active": 2}), C, None, "Job in progress. success:0, active: 2, failed: 0"),
    # --- Service
    ("svc cluster ip", make("v1", "Service", {"type": "ClusterIP"}), C, None, "Service is ready"),
    ("svc lb without ip", make("v1", "Service", {"type": "LoadBalancer"}), P, "NoIPAssigned", "ClusterIP not set. Service type: LoadBalancer"),
    ("svc lb with ip", make("v1", "Service", {"type": "LoadBalancer", "clusterIP": "10.0.0.1"}), C, None, "Service is ready"),
    # --- CRD
    ("crd established", make("apiextensions.k8s.io/v1", "CustomResourceDefinition", {}, {"conditions": [cond("NamesAccepted"), cond("Established")]}), C, None, "CRD is established"),
    ("crd installing", make("apiextensions.k8s.io/v1", "CustomResourceDefinition", {}, {"conditions": [cond("Established", "False", "Installing")]}), P, "Installing", "Install in progress"),
    ("crd no conditions", make("apiextensions.k8s.io/v1", "CustomResourceDefinition", {}), P, "Installing", "Install in progress"),
    ("crd names not accepted", make("apiextensions.k8s.io/v1", "CustomResourceDefinition", {}, {"conditions": [cond("NamesAccepted", "False", "MultipleNamesNotAllowed", "plural clashes")]}), F, "MultipleNamesNotAllowed", "plural clashes"),
    ("crd not established", make("apiextensions.k8s.io/v1", "CustomResourceDefinition", {}, {"conditions": [cond("Established", "False", "Bad", "no")]}), F, "Bad", "no"),
    # --- always ready
    ("configmap", make("v1", "ConfigMap"), C, None, "Resource is always ready"),
    ("secret", make("v1", "Secret"), C, None, "Resource is always ready"),
    ("cronjob", make("batch/v1", "CronJob", {}), C, None, "Resource is always ready"),
    # --- generic rules
    ("terminating wins", make("apps/v1", "Deployment", {}, {}, deletionTimestamp="2026-01-01T00:00:00Z"), T, None, "Resource scheduled for deletion"),
    ("generation not observed", make("example.com/v1", "Widget", {}, {"observedGeneration": 3, "conditions": [cond("Ready")]}, generation=4), P, "LatestGenerationNotObserved", "Widget generation is 4, but latest observed generation is 3"),
    ("no observedGeneration skips the check", make("example.com/v1", "Widget", {}, {"conditions": [cond("Ready")]}, generation=4), C, None, "Resource is Ready"),
    ("reconciling", make("example.com/v1", "Widget", {}, {"conditions": [cond("Ready"), cond("Reconciling", reason="Progressing", message="applying")]}), P, "Progressing", "applying"),
    ("stalled", make("example.com/v1", "Widget", {}, {"conditions": [cond("Stalled", reason="BuildFailed", message="no")]}), F, "BuildFailed", "no"),
    ("stalled false is ignored", make("example.com/v1", "Widget", {}, {"conditions": [cond("Stalled", "False")]}), C, None, "Resource is current"),
    ("reconciling beats built-in rules", deploy({"replicas": 2}, **{**GOOD_DEPLOY, "conditions": [cond("Reconciling", reason="R", message="m")]}), P, "R", "m"),
    ("ready false", make("example.com/v1", "Widget", {}, {"conditions": [cond("Ready", "False", "Waiting", "for db")]}), P, "Waiting", "for db"),
    ("ready unknown", make("example.com/v1", "Widget", {}, {"conditions": [cond("Ready", "Unknown", "Checking", "")]}), P, "Checking", ""),
    ("no conditions", make("example.com/v1", "Widget", {}), C, None, "Resource is current"),
    ("malformed conditions are skipped", make("example.com/v1", "Widget", {}, {"conditions": ["x", {"type": "Ready", "status": "True"}]}), C, None, "Resource is Ready"),
    ("a core kind name in another group is not built-in", make("serving.knative.dev/v1", "Service", {"type": "LoadBalancer"}), C, None, "Resource is current"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("obj", "status", "reason", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_kstatus_rule(
    obj: dict[str, Any], status: Status, reason: str | None, message: str
) -> None:
    result = compute(obj, now=NOW)
    assert (result.status, result.reason, result.message) == (status, reason, message)
    if status is Status.IN_PROGRESS:
        assert [c.type for c in result.conditions] == ["Reconciling"]
    elif status is Status.FAILED:
        assert [c.type for c in result.conditions] == ["Stalled"]
    else:
        assert result.conditions == ()


def test_not_found() -> None:
    assert compute(None) == HealthResult(Status.NOT_FOUND, "Resource not found")


def test_schedule_window_boundary() -> None:
    pod = make(
        "v1", "Pod", {},
        {"phase": "Pending", "conditions": [cond("PodScheduled", "False", "Unschedulable")]},
        creationTimestamp="2026-01-01T12:00:00Z",
    )  # fmt: skip
    assert compute(pod, now=NOW + SCHEDULE_WINDOW - dt.timedelta(seconds=1)).status is P
    assert compute(pod, now=NOW + SCHEDULE_WINDOW).status is F


def test_user_checks_take_precedence_and_may_fall_through() -> None:
    checks = HealthChecks()
    seen: list[str] = []

    @checks.register("apps", "Deployment")
    def only_paused(obj: Any) -> HealthResult | None:
        seen.append(obj["metadata"]["name"])
        if obj.get("spec", {}).get("paused"):
            return HealthResult.current("paused on purpose")
        return None

    paused = deploy({"paused": True, "replicas": 3})
    assert compute(paused, checks=checks) == HealthResult.current("paused on purpose")
    assert compute(deploy({"replicas": 3}), checks=checks).reason == "LessReplicas"
    assert seen == ["x", "x"]
    assert len(checks) == 1
    # Terminating is decided before any check.
    gone = {**paused, "metadata": {"name": "x", "deletionTimestamp": "2026-01-01T00:00:00Z"}}
    assert compute(gone, checks=checks).status is T
    assert seen == ["x", "x"]


def test_a_failing_user_check_is_a_health_error_naming_the_object() -> None:
    checks = HealthChecks()

    def broken(obj: Any) -> HealthResult | None:
        raise KeyError("status")

    checks.add("example.com", "Widget", broken)
    with pytest.raises(HealthError) as caught:
        compute(make("example.com/v1", "Widget", namespace="shop"), checks=checks)
    assert str(caught.value.ref) == "example.com/Widget shop/x"
    assert "broken" in str(caught.value)
    assert isinstance(caught.value.__cause__, KeyError)


def test_result_str() -> None:
    assert str(HealthResult.failed("JobFailed", "Job Failed")) == "Failed (JobFailed): Job Failed"
    assert str(HealthResult.current("ok")) == "Current: ok"


def test_wait_for_status_polls_until_current_and_stops_at_failed() -> None:
    states = [
        None,
        make("batch/v1", "Job", {}, {}),
        make("batch/v1", "Job", {}, {"startTime": "2026-01-01T00:00:00Z"}),
    ]
    reads: list[int] = []

    async def read() -> Any:
        reads.append(1)
        return states[min(len(reads) - 1, len(states) - 1)]

    ref = ObjectRef("batch/v1", "Job", "x", "a")
    result = anyio.run(lambda: wait_for_status(read, ref, timeout=5, interval=0.01))
    assert result.status is C
    assert len(reads) == 3

    failed = make("batch/v1", "Job", {}, {"conditions": [cond("Failed")]})

    async def read_failed() -> Any:
        return failed

    with pytest.raises(HealthError, match=r"batch/Job a/x: Failed \(JobFailed\): Job Failed"):
        anyio.run(lambda: wait_for_status(read_failed, ref, timeout=5, interval=0.01))
    # Waiting for Failed itself is allowed.
    got = anyio.run(
        lambda: wait_for_status(read_failed, ref, timeout=5, want=Status.FAILED, interval=0.01)
    )
    assert got.reason == "JobFailed"
