"""Finding the external tools, and the CI script that builds helm ahead."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reconcile.errors import ToolError
from reconcile.render import tools

REPO = Path(__file__).resolve().parents[3]


def test_ci_script_builds_the_same_helm_version() -> None:
    script = (REPO / ".ci/setup.d/40-helm.sh").read_text()
    assert re.search(rf'^HELM_VERSION="{re.escape(tools.HELM_VERSION)}"$', script, re.MULTILINE)
    assert f'HELM_MODULE="{tools.HELM_MODULE}"' in script


def test_ci_script_builds_the_same_kustomize_version() -> None:
    script = (REPO / ".ci/setup.d/41-kustomize.sh").read_text()
    version = re.escape(tools.KUSTOMIZE_VERSION)
    assert re.search(rf'^KUSTOMIZE_VERSION="{version}"$', script, re.MULTILINE)
    assert f'KUSTOMIZE_MODULE="{tools.KUSTOMIZE_MODULE}"' in script


def test_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("RECONCILE_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert tools.cache_dir() == tmp_path / "reconcile"
    monkeypatch.setenv("RECONCILE_CACHE_DIR", str(tmp_path / "c"))
    assert tools.helm_cache_path() == tmp_path / f"c/tools/helm-{tools.HELM_VERSION}/helm"


def test_missing_tools_are_tool_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RECONCILE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("RECONCILE_HELM", raising=False)
    with pytest.raises(ToolError, match="helm not found"):
        tools.find_helm()
    with pytest.raises(ToolError, match="not found"):
        tools.find_helm("/nonexistent/helm")
    with pytest.raises(ToolError, match="not found"):
        tools.ensure_helm("/nonexistent/helm")
    with pytest.raises(ToolError, match="no Go toolchain"):
        tools.build_helm(go="no-such-go")
    with pytest.raises(ToolError, match="no Go toolchain"):
        tools.build_kustomize(go="no-such-go")
    with pytest.raises(ToolError, match="no standalone kustomize"):
        tools.ensure_kustomize(build=False)
    with pytest.raises(ToolError, match="kustomize binary '/nonexistent' not found"):
        tools.find_kustomize("/nonexistent")


def test_kubectl_is_run_as_kubectl_kustomize(tmp_path: Path) -> None:
    kubectl = tmp_path / "kubectl"
    kubectl.write_text("#!/bin/sh\n")
    kubectl.chmod(0o755)
    assert tools.find_kustomize(str(kubectl)) == [str(kubectl), "kustomize"]
    kustomize = tmp_path / "kustomize"
    kustomize.write_text("#!/bin/sh\n")
    kustomize.chmod(0o755)
    assert tools.find_kustomize(str(kustomize)) == [str(kustomize)]
