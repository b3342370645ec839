"""The SSA prediction against a real kube-apiserver's dry-run answers.

Every case: live state made on the server (an apply, then other managers'
updates and applies), then a prediction of one more apply compared with the
server's ``dryRun=All`` answer: the object (after normalisation), the
managedFields, the 409 and its conflicts, and the in-sync verdict.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import pytest

from .differ_support import Admin, configmap, deployment, service
from .fidelity import Outcome, Scenario, load_corpus, run_all, scenario_for

pytestmark = pytest.mark.integration

SEED = 20261127


def _protect(path: tuple[Any, ...]) -> bool:
    # immutable or server-allocated fields: changing them is a 422, not a merge question
    # (and a Service's type: the server clears node ports and traffic policies itself)
    return path[:2] in {
        ("spec", "selector"),
        ("spec", "clusterIP"),
        ("spec", "clusterIPs"),
        ("spec", "type"),
    } or (path[:1] == ("roleRef",))


def _report(results: list[Outcome], minimum: int) -> None:
    bad = [r for r in results if not r.ok]
    judged = [r for r in results if not r.skipped]
    in_sync = sum(r.in_sync for r in results)
    refused = sum(r.refused for r in results)
    print(
        f"{len(results)} cases, {len(judged)} judged ({in_sync} in sync, {refused} refused"
        f" with 409), {len(bad)} disagreements"
    )
    assert len(judged) >= minimum
    assert not bad, "\n".join(f"{r.case}: {r.detail}" for r in bad[:10])


def secret(ns: str, name: str = "sec") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": ns},
        "type": "Opaque",
        "stringData": {"password": "hunter2"},
        "data": {"user": "YWRtaW4="},
    }


MAKERS = [deployment, service, configmap, secret]


def test_generated_objects(admin: Admin) -> None:
    rng = random.Random(SEED)
    ns = "fidelity-gen"
    admin.namespace(ns)
    scenarios: list[Scenario] = []
    for i in range(320):
        make = MAKERS[i % len(MAKERS)]
        base = make(ns, f"{make.__name__}-{i}")
        scenarios.append(
            scenario_for(rng, f"gen-{i}-{make.__name__}", base, _protect, steady=i % 10 == 0)
        )
    _report(run_all(admin, scenarios), minimum=1000)


_KINDS_WITHOUT_CONTROLLERS = {
    "ConfigMap",
    "Secret",
    "Service",
    "ServiceAccount",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "Role",
    "RoleBinding",
    "ClusterRole",
    "ClusterRoleBinding",
    "NetworkPolicy",
    "PodDisruptionBudget",
    "Ingress",
    "HorizontalPodAutoscaler",
}


def test_corpus_objects(admin: Admin, corpus_dir: Path) -> None:
    rng = random.Random(SEED + 1)
    ns = "fidelity-corpus"
    admin.namespace(ns)
    scenarios: list[Scenario] = []
    for i, doc in enumerate(load_corpus(corpus_dir)):
        if doc["kind"] not in _KINDS_WITHOUT_CONTROLLERS:
            continue
        if (doc["apiVersion"], doc["kind"]) not in admin.resources:
            continue  # kustomize's own configuration documents
        base = copy.deepcopy(doc)
        meta = base["metadata"]
        if doc["kind"] == "CustomResourceDefinition":
            # The CRD controller writes status (and its own managedFields entry)
            # some time after the apply: GET and dry-run would race it.
            continue
        if doc["kind"].startswith("Cluster"):
            meta["name"] = f"c{i}-{meta['name']}"[:60]
        else:
            meta["namespace"] = ns
            meta["name"] = f"c{i}-{meta['name']}"[:60]
        scenarios.append(
            scenario_for(rng, f"corpus-{i}-{doc['kind']}-{doc['metadata']['name']}", base, _protect)
        )
    _report(run_all(admin, scenarios), minimum=500)
