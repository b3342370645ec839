"""The GitSync operator example against a real kube-apiserver (reconcile.testing fixtures).

This is also the example the "Testing your operator" guide shows: the
``kubeconfig`` and ``kube_namespace`` fixtures come from reconcile's pytest
plugin, the Git repository is a real one on disk.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from reconcile import KubernetesApplier
from reconcile.objects import ObjectRef
from reconcile.testing import skip_or_fail

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "operator" / "gitsync_operator.py"


def _load_operator() -> object:
    spec = importlib.util.spec_from_file_location("gitsync_operator_real", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


operator: object = _load_operator()


def _git_repo(path: Path, manifest: str) -> Path:
    if shutil.which("git") is None:
        skip_or_fail("the git CLI is not installed")
    path.mkdir()
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "HOME": str(path),
        "PATH": "/usr/bin:/bin",
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    (path / "cm.yaml").write_text(manifest)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "init"]):
        subprocess.run(["git", *args], cwd=path, env=env, check=True, capture_output=True)
    return path


async def test_the_operator_syncs_a_repository(
    kubeconfig: Path, kube_namespace: str, tmp_path: Path
) -> None:
    repo = _git_repo(
        tmp_path / "repo",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {colour: blue}\n",
    )
    gitsync = {
        "apiVersion": operator.API_VERSION,  # type: ignore[attr-defined]
        "kind": operator.KIND,  # type: ignore[attr-defined]
        "metadata": {"name": "shop", "namespace": kube_namespace},
        "spec": {"url": repo.as_uri(), "interval": 3600},
    }
    async with KubernetesApplier(
        field_manager="gitsync-operator", kubeconfig=kubeconfig, namespace=kube_namespace
    ) as cluster:
        op = operator.GitSyncOperator(  # type: ignore[attr-defined]
            cluster, cache_dir=tmp_path / "cache", allow_file=True
        )
        with anyio.fail_after(120):
            async with anyio.create_task_group() as tg:
                await tg.start(op.run)
                await cluster.apply(gitsync)
                key = f"{kube_namespace}/shop"
                await op.wait_until(lambda: key in op.results)
                assert op.results[key].ready, op.results[key].error
                live = await cluster.get(ObjectRef("v1", "ConfigMap", "settings", kube_namespace))
                assert live is not None
                assert live["data"] == {"colour": "blue"}
                tg.cancel_scope.cancel()
