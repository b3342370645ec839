"""End to end: a real git server (git daemon), the Reconciler, a real kube-apiserver."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import anyio
import pytest

from reconcile import (
    DriftMode,
    GitSource,
    KubernetesApplier,
    ObjectRef,
    Outcome,
    Reconciler,
    Status,
    YamlRenderer,
)
from reconcile.engine.annotations import APPLYSET_PART_OF
from reconcile.testing import ControlPlane, ExistingCluster

from .conftest import Upstream, git

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


def cm(name: str, ns: str, value: str = "1") -> str:
    return textwrap.dedent(f"""\
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: {name}
          namespace: {ns}
        data:
          value: "{value}"
        """)


def deploy(ns: str, image: str) -> str:
    return textwrap.dedent(f"""\
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
          namespace: {ns}
        spec:
          replicas: 1
          selector:
            matchLabels: {{app: web}}
          template:
            metadata:
              labels: {{app: web}}
            spec:
              containers:
                - name: web
                  image: {image}
        """)


def crd(group: str) -> str:
    return textwrap.dedent(f"""\
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata:
          name: widgets.{group}
        spec:
          group: {group}
          scope: Namespaced
          names: {{kind: Widget, plural: widgets, singular: widget}}
          versions:
            - name: v1
              served: true
              storage: true
              schema:
                openAPIV3Schema:
                  type: object
                  x-kubernetes-preserve-unknown-fields: true
        """)


def widget(group: str, ns: str) -> str:
    return textwrap.dedent(f"""\
        apiVersion: {group}/v1
        kind: Widget
        metadata:
          name: gear
          namespace: {ns}
        spec:
          teeth: 12
        """)


def source(repo: Upstream, port: int, tmp_path: Path) -> GitSource:
    return GitSource(
        f"git://127.0.0.1:{port}/{repo.name}.git", cache_dir=tmp_path / "cache", branch="main"
    )


def make(repo: Upstream, port: int, tmp_path: Path, applier: Any, ns: str, **kw: Any) -> Reconciler:
    return Reconciler(
        kw.pop("name", "app"),
        source(repo, port, tmp_path),
        YamlRenderer(),
        applier,
        namespace=ns,
        health_timeout=60,
        **kw,
    )


def outcomes(result: Any) -> dict[str, Outcome]:
    return {str(o.ref): o.outcome for o in result.outcomes}


async def test_commit_sync_change_image_delete_file(
    repo: Upstream, git_daemon: int, tmp_path: Path, applier: KubernetesApplier, kube_namespace: str
) -> None:
    ns = kube_namespace
    group = f"{ns}.example.com"
    commit = repo.commit(
        {
            "crd.yaml": crd(group),
            "widget.yaml": widget(group, ns),
            "a.yaml": cm("a", ns),
            "b.yaml": cm("b", ns),
            "web.yaml": deploy(ns, "nginx:1.27"),
        },
        "initial",
    )
    r = make(repo, git_daemon, tmp_path, applier, ns)
    first = await r.sync()
    assert commit in first.revision
    assert not first.stalled, first.conditions
    assert set(outcomes(first).values()) == {Outcome.CREATED}, outcomes(first)
    for ref in first.inventory:
        live = await applier.get(ref)
        assert live is not None, ref
        assert live["metadata"]["labels"][APPLYSET_PART_OF] == r.parent.id
    gear = await applier.get(ObjectRef(f"{group}/v1", "Widget", "gear", ns))
    assert gear is not None
    assert gear["spec"]["teeth"] == 12
    # No controllers on this control plane: the Deployment is honestly InProgress.
    web = next(o for o in first.outcomes if o.ref.kind == "Deployment")
    assert web.health is not None
    assert web.health.status is Status.IN_PROGRESS
    parent = await applier.get(r.parent.ref)
    assert parent is not None
    assert parent["metadata"]["labels"]["applyset.kubernetes.io/id"] == r.parent.id
    events = await applier.list_objects("v1", "Event", ns)
    assert any(e["involvedObject"]["name"] == r.parent.name for e in events)

    # Steady state: nothing written.
    again = await r.sync()
    assert set(outcomes(again).values()) == {Outcome.UNCHANGED}

    # Change an image: only that object is patched.
    before = {
        str(ref): (await applier.get(ref) or {})["metadata"]["resourceVersion"]
        for ref in first.inventory
    }
    repo.commit({"web.yaml": deploy(ns, "nginx:1.28")}, "bump")
    bumped = await r.sync()
    changed = {k: v for k, v in outcomes(bumped).items() if v is not Outcome.UNCHANGED}
    assert changed == {f"apps/Deployment {ns}/web": Outcome.CONFIGURED}
    for ref in first.inventory:
        live = await applier.get(ref)
        assert live is not None
        if ref.kind != "Deployment":
            assert live["metadata"]["resourceVersion"] == before[str(ref)], ref
        else:
            assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"

    # Delete a file: the object is pruned and leaves the inventory.
    repo.commit({"b.yaml": None}, "drop b")
    pruned = await r.sync()
    assert outcomes(pruned)[f"ConfigMap {ns}/b"] is Outcome.PRUNED
    assert await applier.get(ObjectRef("v1", "ConfigMap", "b", ns)) is None
    assert ObjectRef("v1", "ConfigMap", "b", ns) not in (await r.store.load()).members

    # Clean up the cluster-scoped CRD through the reconciler itself.
    for name in ("crd.yaml", "widget.yaml", "a.yaml", "web.yaml"):
        repo.write({name: None})
    repo.commit({"keep.yaml": cm("keep", ns)}, "shrink")
    shrunk = await r.sync()
    assert outcomes(shrunk)[f"apiextensions.k8s.io/CustomResourceDefinition widgets.{group}"] in (
        Outcome.PRUNED,
    )


async def _intrude(control_plane: ControlPlane | ExistingCluster, ns: str) -> None:
    async with KubernetesApplier(
        field_manager="intruder", kubeconfig=control_plane.kubeconfig, context=control_plane.context
    ) as other:
        patch = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": ns},
            "data": {"value": "hacked"},
        }
        (await other.apply(patch, force=True)).raise_for_error()


async def _wait_value(applier: KubernetesApplier, ns: str, want: str) -> None:
    with anyio.fail_after(10):
        while True:
            live = await applier.get(ObjectRef("v1", "ConfigMap", "a", ns))
            if live is not None and live["data"]["value"] == want:
                return
            await anyio.sleep(0.05)


async def test_manual_change_reported_or_healed(
    repo: Upstream,
    git_daemon: int,
    tmp_path: Path,
    applier: KubernetesApplier,
    kube_namespace: str,
    control_plane: ControlPlane | ExistingCluster,
) -> None:
    ns = kube_namespace
    repo.commit({"a.yaml": cm("a", ns)}, "initial")
    r = make(repo, git_daemon, tmp_path, applier, ns)
    assert not (await r.sync()).stalled
    await _intrude(control_plane, ns)
    await _wait_value(applier, ns, "hacked")  # the applier's cache saw the intruder

    watcher = make(repo, git_daemon, tmp_path, applier, ns, drift=DriftMode.REPORT_ONLY)
    report = await watcher.sync()
    assert outcomes(report)[f"ConfigMap {ns}/a"] is Outcome.DRIFTED
    assert [(c.path, c.before, c.after) for c in report.drift[0].changes] == [
        (".data.value", "hacked", "1")
    ]
    live = await applier.get(ObjectRef("v1", "ConfigMap", "a", ns))
    assert live is not None
    assert live["data"]["value"] == "hacked"

    healed = await r.sync()
    assert outcomes(healed)[f"ConfigMap {ns}/a"] is Outcome.CONFIGURED
    await _wait_value(applier, ns, "1")


async def test_broken_yaml_and_empty_render_change_nothing(
    repo: Upstream, git_daemon: int, tmp_path: Path, applier: KubernetesApplier, kube_namespace: str
) -> None:
    ns = kube_namespace
    repo.commit({"a.yaml": cm("a", ns), "b.yaml": cm("b", ns)}, "initial")
    r = make(repo, git_daemon, tmp_path, applier, ns)
    first = await r.sync()
    assert first.ready, first.conditions
    repo.commit(
        {"a.yaml": cm("a", ns, "2"), "b.yaml": None, "broken.yaml": "kind: [oops\n  x: 1\n"},
        "broken",
    )
    broken = await r.sync()
    assert broken.stalled
    stalled = broken.condition("Stalled")
    assert stalled is not None
    assert stalled.reason == "RenderFailed"
    assert "broken.yaml:" in stalled.message
    assert broken.error is not None
    assert broken.error.origin is not None
    assert broken.error.origin.file.endswith("broken.yaml")
    assert broken.error.origin.line
    a = await applier.get(ObjectRef("v1", "ConfigMap", "a", ns))
    assert a is not None
    assert a["data"]["value"] == "1"
    assert await applier.get(ObjectRef("v1", "ConfigMap", "b", ns)) is not None

    repo.commit({"a.yaml": None, "broken.yaml": None, "README.md": "empty\n"}, "empty")
    empty = await r.sync()
    assert empty.stalled
    cond = empty.condition("Stalled")
    assert cond is not None
    assert cond.reason == "PruneRefused"
    assert await applier.get(ObjectRef("v1", "ConfigMap", "a", ns)) is not None
    assert await applier.get(ObjectRef("v1", "ConfigMap", "b", ns)) is not None
    assert len((await r.store.load()).members) == 2


async def test_two_reconcilers_claiming_one_object_is_a_reported_conflict(
    repo: Upstream,
    git_daemon: int,
    tmp_path: Path,
    applier: KubernetesApplier,
    kube_namespace: str,
    served_root: Path,
    control_plane: ControlPlane | ExistingCluster,
) -> None:
    ns = kube_namespace
    repo.commit({"a.yaml": cm("a", ns, "first")}, "first")
    first = make(repo, git_daemon, tmp_path, applier, ns, name="first")
    assert (await first.sync()).ready
    other = Upstream(f"{repo.name}-other", served_root / f"{repo.name}-other.git", tmp_path / "o")
    git("init", "-q", "--bare", "-b", "main", str(other.bare))
    git("init", "-q", "-b", "main", str(other.work))
    other.commit({"a.yaml": cm("a", ns, "second")}, "second")
    async with KubernetesApplier(
        field_manager="other-gitops",
        kubeconfig=control_plane.kubeconfig,
        context=control_plane.context,
    ) as second_applier:
        second = make(other, git_daemon, tmp_path / "2", second_applier, ns, name="second")
        for _ in range(2):
            result = await second.sync()
            assert outcomes(result)[f"ConfigMap {ns}/a"] is Outcome.CONFLICT
            assert result.stalled
            live = await applier.get(ObjectRef("v1", "ConfigMap", "a", ns))
            assert live is not None
            assert live["data"]["value"] == "first"
    assert set(outcomes(await first.sync()).values()) == {Outcome.UNCHANGED}


_WORKER = """
import sys, anyio
from reconcile import GitSource, KubernetesApplier, Reconciler, YamlRenderer
url, cache, kubeconfig, context, ns = sys.argv[1:6]
async def main():
    async with KubernetesApplier(field_manager="gitops", kubeconfig=kubeconfig,
                                 context=context or None, concurrency=2) as applier:
        r = Reconciler("app", GitSource(url, cache_dir=cache, branch="main"), YamlRenderer(),
                       applier, namespace=ns, concurrency=1)
        print("start", flush=True)
        await r.sync()
        print("done", flush=True)
anyio.run(main)
"""


N_NEW = 150


async def test_killed_mid_sync_then_restarted_converges_and_loses_nothing(
    repo: Upstream,
    git_daemon: int,
    tmp_path: Path,
    applier: KubernetesApplier,
    kube_namespace: str,
    control_plane: ControlPlane | ExistingCluster,
) -> None:
    ns = kube_namespace
    old = {f"old{i}.yaml": cm(f"old{i}", ns) for i in range(10)}
    repo.commit({**old, "keep.yaml": cm("keep", ns)}, "v1")
    r = make(repo, git_daemon, tmp_path, applier, ns)
    assert (await r.sync()).ready
    new = {f"new{i}.yaml": cm(f"new{i}", ns) for i in range(N_NEW)}
    repo.commit({**dict.fromkeys(old), **new}, "v2")
    url = f"git://127.0.0.1:{git_daemon}/{repo.name}.git"
    out_path, err_path = tmp_path / "worker.out", tmp_path / "worker.err"
    with out_path.open("wb") as out_file, err_path.open("wb") as err_file:
        proc = await anyio.open_process(
            [sys.executable, "-c", _WORKER, url, str(tmp_path / "wcache"),
             str(control_plane.kubeconfig), control_plane.context or "", ns],
            stdout=out_file, stderr=err_file,
        )  # fmt: skip
        async with proc:
            # Kill it once it has started writing the new objects.
            with anyio.move_on_after(60):
                while proc.returncode is None:
                    if await applier.get(ObjectRef("v1", "ConfigMap", "new3", ns)) is not None:
                        break
                    await anyio.sleep(0.01)
            if proc.returncode is None:
                proc.kill()  # SIGKILL
            await proc.wait()
    out, err = out_path.read_text(), err_path.read_text()
    assert "start" in out, err
    assert "done" not in out, "the worker finished before it could be killed"
    # Whatever it created is in the stored inventory (written before applying).
    stored = {str(m) for m in (await r.store.load()).members}
    for name in [*(f"new{i}" for i in range(N_NEW)), *(f"old{i}" for i in range(10))]:
        if await applier.get(ObjectRef("v1", "ConfigMap", name, ns)) is not None:
            assert f"ConfigMap {ns}/{name}" in stored, name
    # Restarted, it converges: every new object, no old one, nothing else lost.
    restarted = make(repo, git_daemon, tmp_path / "restart", applier, ns)
    result = await restarted.sync()
    assert result.ready, result.conditions
    want = {f"ConfigMap {ns}/new{i}" for i in range(N_NEW)} | {f"ConfigMap {ns}/keep"}
    assert {str(m) for m in result.inventory} == want
    for i in range(10):
        assert await applier.get(ObjectRef("v1", "ConfigMap", f"old{i}", ns)) is None
    for i in range(N_NEW):
        assert await applier.get(ObjectRef("v1", "ConfigMap", f"new{i}", ns)) is not None


async def test_prune_opt_out_releases_the_object_and_its_label(
    repo: Upstream,
    git_daemon: int,
    tmp_path: Path,
    applier: KubernetesApplier,
    kube_namespace: str,
    control_plane: ControlPlane | ExistingCluster,
) -> None:
    ns = kube_namespace
    repo.commit({"a.yaml": cm("a", ns), "b.yaml": cm("b", ns)}, "initial")
    r = make(repo, git_daemon, tmp_path, applier, ns)
    assert (await r.sync()).ready
    async with KubernetesApplier(
        field_manager="kubectl-annotate",
        kubeconfig=control_plane.kubeconfig,
        context=control_plane.context,
    ) as other:
        protect = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "b",
                "namespace": ns,
                "annotations": {"reconcile.dev/prune": "disabled"},
            },
        }
        (await other.apply(protect)).raise_for_error()
    with anyio.fail_after(10):
        while True:  # the applier's cache sees the annotation
            live = await applier.get(ObjectRef("v1", "ConfigMap", "b", ns))
            if live and (live["metadata"].get("annotations") or {}).get("reconcile.dev/prune"):
                break
            await anyio.sleep(0.05)
    repo.commit({"b.yaml": None}, "drop b")
    result = await r.sync()
    assert outcomes(result)[f"ConfigMap {ns}/b"] is Outcome.RELEASED
    kept = await applier.get(ObjectRef("v1", "ConfigMap", "b", ns))
    assert kept is not None
    assert APPLYSET_PART_OF not in (kept["metadata"].get("labels") or {})
    assert ObjectRef("v1", "ConfigMap", "b", ns) not in (await r.store.load()).members
