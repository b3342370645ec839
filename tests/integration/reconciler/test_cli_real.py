"""The README's kubeconfig variant: ``reconcile sync examples/quickstart --kubeconfig ...``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconcile.cli import main
from reconcile.testing import ControlPlane, ExistingCluster

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "quickstart"

pytestmark = pytest.mark.integration


def test_quickstart_against_a_real_cluster(
    control_plane: ControlPlane | ExistingCluster,
    kube_namespace: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    target = ["--kubeconfig", str(control_plane.kubeconfig), "--namespace", kube_namespace]
    if control_plane.context:
        target += ["--context", control_plane.context]
    assert main(["sync", str(EXAMPLE), *target, "-o", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["inventory"]) == 6
    health = {o["ref"]["kind"]: o["health"]["status"] for o in result["objects"]}
    assert health["CustomResourceDefinition"] == "Current"
    assert health["Greeting"] == "Current"
    # In sync now: plan says so with exit code 0, and the inventory is readable.
    assert main(["plan", str(EXAMPLE), *target, "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["inSync"] is True
    assert main(["inventory", str(EXAMPLE), *target, "-o", "json"]) == 0
    members = json.loads(capsys.readouterr().out)
    assert {m["kind"] for m in members} == {
        "ConfigMap",
        "CustomResourceDefinition",
        "Deployment",
        "Greeting",
        "Namespace",
        "Service",
    }
