"""Differential test: reconcile.engine.health against kstatus' own Go code.

The same objects — random statuses for every kind with built-in rules, plus
the generic conditions — go through ``health.compute`` and through
``sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute`` (a small Go harness);
status, reason and message must agree. kstatus answers an error where we
answer ``Unknown`` (a Pod phase it does not know).

The oracle is the released module ``sigs.k8s.io/cli-utils v0.37.2``; its master
branch has one rule more (a suspended Job with a ``Suspended`` condition is
Current, "Job is suspended"), which we follow and v0.37.2 does not have: those
objects are left out of the comparison (the unit tests cover the rule).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile.engine.health import Status, compute

from ._support import build_kstatus_oracle, kstatus

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def oracle() -> Path:
    return build_kstatus_oracle()


COUNTS = {
    "Deployment": ["replicas", "updatedReplicas", "readyReplicas", "availableReplicas"],
    "ReplicaSet": ["replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas"],
    "StatefulSet": ["replicas", "readyReplicas", "currentReplicas", "updatedReplicas"],
    "DaemonSet": [
        "desiredNumberScheduled", "currentNumberScheduled", "updatedNumberScheduled",
        "numberAvailable", "numberReady",
    ],
    "Job": ["succeeded", "active", "failed"],
}  # fmt: skip
CONDITIONS: dict[str, list[tuple[str, str]]] = {
    "Deployment": [
        ("Progressing", "NewReplicaSetAvailable"), ("Progressing", "ReplicaSetUpdated"),
        ("Progressing", "ProgressDeadlineExceeded"), ("Available", "MinimumReplicasAvailable"),
    ],
    "ReplicaSet": [("ReplicaFailure", "FailedCreate")],
    "Pod": [("Ready", ""), ("PodScheduled", "Unschedulable"), ("ContainersReady", "")],
    "Job": [("Complete", ""), ("Failed", "BackoffLimitExceeded"), ("Suspended", "JobSuspended")],
    "CustomResourceDefinition": [
        ("Established", "InitialNamesAccepted"), ("Established", "Installing"),
        ("Established", "Bad"), ("NamesAccepted", "NoConflicts"),
        ("NamesAccepted", "KindConflict"),
    ],
    "Widget": [("Ready", "Ok"), ("Ready", "Waiting")],
    "PodDisruptionBudget": [("DisruptionAllowed", "SufficientPods")],
}  # fmt: skip
API = {
    "Deployment": "apps/v1",
    "ReplicaSet": "apps/v1",
    "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "Job": "batch/v1",
    "PodDisruptionBudget": "policy/v1",
    "CustomResourceDefinition": "apiextensions.k8s.io/v1",
    "Widget": "example.com/v1",
}
KINDS = sorted({*COUNTS, *CONDITIONS, "PersistentVolumeClaim", "Service", "ConfigMap", "Secret"})


def build(choose: Callable[[Sequence[Any]], Any]) -> dict[str, Any]:
    """One object near the interesting boundaries: mostly healthy, perturbed a little.

    ``choose`` picks one of its options: Hypothesis' draw in one test, a seeded
    ``random.Random`` in the other.
    """

    def maybe(weight: int = 1) -> bool:
        return bool(choose([True] * weight + [False]))

    kind = choose(KINDS)
    meta: dict[str, Any] = {"name": "x", "creationTimestamp": "2020-01-01T00:00:00Z"}
    generation = choose([1, 2, 3])
    if maybe(5):
        meta["generation"] = generation
    if choose(range(15)) == 0:
        meta["deletionTimestamp"] = "2020-01-02T00:00:00Z"
    obj: dict[str, Any] = {"apiVersion": API.get(kind, "v1"), "kind": kind, "metadata": meta}
    n = choose([0, 1, 2, 3])
    spec: dict[str, Any] = {}
    if maybe(4):
        spec["replicas"] = n
    if kind == "Deployment" and maybe():
        spec["progressDeadlineSeconds"] = choose([600, 2147483647])
    if kind == "StatefulSet":
        partition = choose([0, 1, 2, 3])
        spec["updateStrategy"] = choose(
            [{}, {"type": "OnDelete"}, {"rollingUpdate": {"partition": partition}}]
        )
    if kind == "Job":
        for field in ("parallelism", "completions"):
            if maybe():
                spec[field] = choose([0, 1, 2, 3])
        if maybe():
            spec["suspend"] = maybe()
    if kind == "Service":
        spec["type"] = choose(["ClusterIP", "LoadBalancer"])
        if maybe():
            spec["clusterIP"] = "10.0.0.1"
    obj["spec"] = spec
    if choose(range(6)) == 0:
        return obj
    status: dict[str, Any] = {}
    if maybe(3):
        status["observedGeneration"] = generation if maybe(4) else generation - 1
    expected = spec.get("replicas", 1) if kind != "DaemonSet" else n
    for field in COUNTS.get(kind, []):
        if maybe(5):
            status[field] = max(0, expected + choose([0, 0, 0, -1, 1]))
    if kind == "StatefulSet" and maybe():
        status["updatedReplicas"] = choose([0, 1])
    if kind == "StatefulSet":
        status["currentRevision"] = "a"
        status["updateRevision"] = choose(["a", "a", "b"])
    if kind == "Job" and maybe():
        status["startTime"] = "2020-01-01T00:00:00Z"
    if kind in ("Pod", "PersistentVolumeClaim"):
        status["phase"] = choose(["", "Pending", "Running", "Succeeded", "Failed", "Bound", "Lost"])
    if kind == "Pod" and maybe():
        reason = choose(["CrashLoopBackOff", "ImagePullBackOff"])
        status["containerStatuses"] = [
            {"name": "a", "state": {"waiting": {"reason": reason}}},
            {"name": "b", "state": {"running": {}}},
        ]
    pool = list(CONDITIONS.get(kind, []))
    if not pool or choose(range(4)) == 0:
        pool += [("Reconciling", "Progressing"), ("Stalled", "Broken")]
    conditions = []
    for _ in range(choose([0, 1, 1, 2, 2, 3])):
        type_, reason = choose(pool)
        conditions.append(
            {
                "type": type_,
                "status": choose(["True", "True", "True", "False", "Unknown"]),
                "reason": reason,
                "message": choose(["", "m"]),
            }
        )
    status["conditions"] = conditions
    obj["status"] = status
    return obj


@st.composite
def objects(draw: st.DrawFn) -> dict[str, Any]:
    return build(lambda options: draw(st.sampled_from(list(options))))


def ours(obj: dict[str, Any]) -> dict[str, str]:
    result = compute(obj)
    if result.status is Status.UNKNOWN:
        return {"error": "unknown"}
    out = {"status": result.status.value, "message": result.message}
    if result.reason:
        out["reason"] = result.reason
    return out


def newer_than_the_oracle(mine: dict[str, str]) -> bool:
    return mine.get("message") == "Job is suspended"


def theirs(answer: dict[str, str]) -> dict[str, str]:
    if "error" in answer:
        return {"error": "unknown"}
    return {k: v for k, v in answer.items() if v}


@settings(max_examples=60, deadline=None)
@given(st.lists(objects(), min_size=1, max_size=40))
def test_health_agrees_with_kstatus(oracle: Path, batch: list[dict[str, Any]]) -> None:
    answers = kstatus(oracle, batch)
    assert len(answers) == len(batch)
    for obj, answer in zip(batch, answers, strict=True):
        mine = ours(obj)
        if "message" in mine and not mine["message"]:
            del mine["message"]
        if newer_than_the_oracle(mine):
            continue
        assert mine == theirs(answer), obj


def test_health_agrees_with_kstatus_on_many_objects(oracle: Path) -> None:
    rng = random.Random(20261127)
    batch = [build(lambda options: rng.choice(list(options))) for _ in range(20_000)]
    answers = kstatus(oracle, batch)
    assert len(answers) == len(batch)
    seen: set[tuple[str, str, str | None]] = set()
    for obj, answer in zip(batch, answers, strict=True):
        mine = ours(obj)
        if "message" in mine and not mine["message"]:
            del mine["message"]
        if newer_than_the_oracle(mine):
            continue
        assert mine == theirs(answer), obj
        seen.add((obj["kind"], mine.get("status", "error"), mine.get("reason")))
    # The generator reaches the deep states, not only the first rule of each kind.
    for expected in [
        ("Deployment", "Current", None),
        ("Deployment", "Failed", "ProgressDeadlineExceeded"),
        ("Deployment", "InProgress", "DeploymentNotAvailable"),
        ("StatefulSet", "InProgress", "RevisionMismatch"),
        ("StatefulSet", "InProgress", "PartitionRollout"),
        ("DaemonSet", "Current", None),
        ("ReplicaSet", "InProgress", "ExtraPods"),
        ("Pod", "Failed", "ContainerCrashLooping"),
        ("Pod", "Failed", "PodUnschedulable"),
        ("Pod", "error", None),
        ("Job", "Current", None),
        ("Job", "Failed", "JobFailed"),
        ("CustomResourceDefinition", "Failed", "KindConflict"),
        ("Widget", "InProgress", "Waiting"),
    ]:
        assert expected in seen, expected
