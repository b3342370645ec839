"""Connection settings against the real API server: several kubeconfig files, contexts."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from reconcile.cluster import KubernetesApplier
from reconcile.errors import ConfigurationError, RetryableError

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


def split_kubeconfig(source: Path, tmp_path: Path, namespace: str) -> tuple[Path, Path]:
    """Two files, merged as kubectl merges them: the first names a broken current context."""
    config: dict[str, Any] = json.loads(source.read_text())
    first = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "broken",
        "clusters": [{"name": "nowhere", "cluster": {"server": "https://127.0.0.1:9"}}],
        "users": [],
        "contexts": [
            {
                "name": "broken",
                "context": {"cluster": "nowhere", "user": config["users"][0]["name"]},
            },
            {"name": "no-user", "context": {"cluster": "nowhere", "user": "nobody"}},
        ],
    }
    second = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": config["clusters"],
        "users": config["users"],
        "contexts": [
            {
                "name": "good",
                "context": {
                    "cluster": config["clusters"][0]["name"],
                    "user": config["users"][0]["name"],
                    "namespace": namespace,
                },
            }
        ],
    }
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(json.dumps(first))
    b.write_text(json.dumps(second))
    return a, b


async def test_kubeconfig_env_with_several_files_and_a_context(
    control_plane: Any, kube_namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = split_kubeconfig(Path(control_plane.kubeconfig), tmp_path, kube_namespace)
    monkeypatch.setenv("KUBECONFIG", f"{a}{os.pathsep}{b}")
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    async with KubernetesApplier(field_manager="t", context="good") as applier:
        # The namespace comes from the chosen context.
        assert applier.namespace == kube_namespace
        result = await applier.apply(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "via-env"}}
        )
        assert result.ref.namespace == kube_namespace
    # An explicit kubeconfig list beats KUBECONFIG; its current context is the broken one.
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing.yaml"))
    async with KubernetesApplier(field_manager="t", kubeconfig=[a, b], timeout=2.0) as broken:
        broken.transport.retry = type(broken.transport.retry)(attempts=1)
        with pytest.raises(RetryableError, match="failed"):
            await broken.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
    with pytest.raises(ConfigurationError, match="context 'no-user'"):
        async with KubernetesApplier(field_manager="t", kubeconfig=[a, b], context="no-user"):
            pass
