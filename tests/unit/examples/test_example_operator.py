"""examples/operator: one Reconciler per GitSync resource, against the in-memory cluster."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from examples_support import GitRepo, git_repo_at, load_example

from reconcile import InMemoryCluster
from reconcile.objects import ObjectRef

pytestmark = pytest.mark.anyio

operator = load_example("operator/gitsync_operator.py")

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  colour: {colour}
"""


@pytest.fixture
def git_repo(tmp_path: Path) -> GitRepo:
    return git_repo_at(tmp_path / "repo")


def gitsync(name: str, url: str, **spec: object) -> dict[str, object]:
    return {
        "apiVersion": operator.API_VERSION,
        "kind": operator.KIND,
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"url": url, **spec},
    }


async def test_one_reconciler_per_resource(git_repo: GitRepo, tmp_path: Path) -> None:
    first = git_repo.commit({"app/cm.yaml": CONFIGMAP.format(colour="blue")})
    cluster = InMemoryCluster(field_manager="gitsync-operator", namespaces=["default", "shop"])
    op = operator.GitSyncOperator(cluster, cache_dir=tmp_path / "cache", allow_file=True)
    settings = ObjectRef("v1", "ConfigMap", "settings", "shop")
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            await tg.start(op.run)
            url = git_repo.path.as_uri()
            await cluster.apply(gitsync("shop", url, path="app", targetNamespace="shop"))
            await op.wait_until(lambda: "default/shop" in op.results)
            result = op.results["default/shop"]
            assert result.ready, result.error
            assert first in result.revision
            live = await cluster.get(settings)
            assert live is not None
            assert live["data"] == {"colour": "blue"}

            # A new commit and a trigger (what a webhook would do): the change is applied.
            second = git_repo.commit({"app/cm.yaml": CONFIGMAP.format(colour="green")})
            op.trigger("default/shop")
            await op.wait_until(lambda: second in op.results["default/shop"].revision)
            live = await cluster.get(settings)
            assert live is not None
            assert live["data"] == {"colour": "green"}

            # Deleting the resource stops its reconciler.
            await cluster.delete(ObjectRef(operator.API_VERSION, operator.KIND, "shop", "default"))
            await op.wait_until(lambda: op.following == [])
            tg.cancel_scope.cancel()


async def test_a_bad_url_is_reported_not_fatal(tmp_path: Path) -> None:
    cluster = InMemoryCluster(field_manager="gitsync-operator")
    op = operator.GitSyncOperator(cluster, cache_dir=tmp_path / "cache", allow_file=True)
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            await tg.start(op.run)
            await cluster.apply(gitsync("broken", (tmp_path / "missing").as_uri()))
            await op.wait_until(lambda: "default/broken" in op.results)
            result = op.results["default/broken"]
            assert not result.ready
            assert result.error is not None
            assert op.following == ["default/broken"]
            tg.cancel_scope.cancel()
