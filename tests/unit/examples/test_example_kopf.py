"""examples/operator/kopf_operator.py: the kopf daemon, driven as kopf would drive it."""

from __future__ import annotations

import logging
from pathlib import Path

import anyio
import pytest
from examples_support import GitRepo, git_repo_at, load_example

from reconcile import InMemoryCluster
from reconcile.objects import ObjectRef

kopf = pytest.importorskip("kopf")
pytestmark = pytest.mark.anyio

example = load_example("operator/kopf_operator.py")

CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings}}\ndata: {{colour: {c}}}\n"


def test_the_handlers_are_registered() -> None:
    handlers = example.registry._spawning.get_all_handlers()
    assert [h.fn.__name__ for h in handlers] == ["follow"]
    assert {h.fn.__name__ for h in example.registry._activities.get_all_handlers()} == {
        "connect",
        "disconnect",
    }


async def test_the_daemon_follows_the_live_spec(tmp_path: Path) -> None:
    repo: GitRepo = git_repo_at(tmp_path / "repo")
    repo.commit({"cm.yaml": CONFIGMAP.format(c="blue")})
    repo.git("checkout", "-q", "-b", "release")
    repo.commit({"cm.yaml": CONFIGMAP.format(c="green")})
    cluster = InMemoryCluster(field_manager="gitsync-kopf")
    memo = kopf.Memo(applier=cluster, cache_dir=tmp_path / "cache", allow_file=True)
    spec = {"url": repo.path.as_uri(), "branch": "main", "interval": 3600}
    settings = ObjectRef("v1", "ConfigMap", "settings", "default")

    events = cluster.watch("v1", "ConfigMap", "default")

    async def until_colour(wanted: str) -> None:
        async for event in events:
            obj = event.object
            if obj["metadata"]["name"] == "settings" and obj["data"]["colour"] == wanted:
                return

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                lambda: example.follow(
                    spec=spec,
                    name="shop",
                    namespace="default",
                    memo=memo,
                    logger=logging.getLogger("test"),
                )
            )
            await until_colour("blue")

            spec["branch"] = "release"  # kopf's live spec view changes in place
            memo.reconcilers["default/shop"].trigger("spec changed")
            await until_colour("green")
            live = await cluster.get(settings)
            assert live is not None
            assert live["data"] == {"colour": "green"}
            tg.cancel_scope.cancel()  # what kopf does when the resource is deleted
    assert memo.reconcilers == {}
    # The first pass reported before the second began.
    assert memo.results["default/shop"].ready
