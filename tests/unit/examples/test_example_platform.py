"""examples/platform_tool.py: preview, apply, change and audit of a Python-described environment."""

from __future__ import annotations

import anyio
import pytest
from examples_support import load_example

from reconcile.objects import ObjectRef

platform = load_example("platform_tool.py")


def test_preview_apply_change_audit(capsys: pytest.CaptureFixture[str]) -> None:
    out = anyio.run(platform.main)
    assert [c["ref"]["kind"] for c in out["preview"]["creates"]] == [
        "Namespace",
        "ResourceQuota",
        "ConfigMap",
        "Deployment",
    ]
    assert out["applied"].counts() == {"created": 4}
    (changed,) = out["change"]["changes"]
    assert changed["ref"]["kind"] == "Deployment"
    assert [c["after"] for c in changed["changes"]] == ["registry.example.com/web:1.5.0"]
    assert [str(d.ref) for d in out["audit"].drift] == ["apps/Deployment env-staging/web"]
    web = ObjectRef("apps/v1", "Deployment", "web", "env-staging")
    live = anyio.run(out["cluster"].get, web)
    image = live["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "registry.example.com/web:1.4.0"  # report-only: nothing written
    assert "nothing written" in capsys.readouterr().out


def test_settings_are_strings() -> None:
    env = {
        "name": "x",
        "cpu": "1",
        "memory": "1Gi",
        "replicas": 1,
        "image": "i",
        "settings": {"ON": True, "N": 3},
    }
    config = platform.environment_objects(env)[2]
    assert config["data"] == {"ON": "True", "N": "3"}
