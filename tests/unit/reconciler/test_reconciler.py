"""The Reconciler against the embedded in-memory cluster: every safety rule of a pass."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from reconcile import (
    BlockingReconciler,
    DriftMode,
    InMemoryCluster,
    LocalSource,
    ObjectRef,
    Outcome,
    Reconciler,
    Status,
    YamlRenderer,
)
from reconcile.cluster import ApplyMode, ApplyResult, Propagation
from reconcile.engine.annotations import APPLYSET_PART_OF
from reconcile.engine.inventory import ApplySetParent
from reconcile.engine.reconciler import verify_signature

pytestmark = pytest.mark.anyio


def cm(name: str, ns: str = "app", **data: str) -> str:
    body = "".join(f"  {k}: '{v}'\n" for k, v in data.items()) or "  a: '1'\n"
    meta = f"metadata:\n  name: {name}\n  namespace: {ns}\n"
    return f"apiVersion: v1\nkind: ConfigMap\n{meta}data:\n{body}"


NS = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: app\n"
DEPLOY = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: app}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "nginx:IMAGE"}]
"""


class Repo:
    def __init__(self, root: Path, cache: Path) -> None:
        self.root = root
        self.cache = cache
        root.mkdir()

    def write(self, files: Mapping[str, str | None]) -> None:
        for name, text in files.items():
            path = self.root / name
            if text is None:
                path.unlink()
            else:
                path.write_text(text)

    def source(self) -> LocalSource:
        return LocalSource(self.root, cache_dir=self.cache)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    r = Repo(tmp_path / "repo", tmp_path / "cache")
    r.write(
        {
            "ns.yaml": NS,
            "a.yaml": cm("a"),
            "b.yaml": cm("b"),
            "web.yaml": DEPLOY.replace("IMAGE", "1.27"),
        }
    )
    return r


def make(repo: Repo, cluster: InMemoryCluster, name: str = "demo", **kw: Any) -> Reconciler:
    return Reconciler(name, repo.source(), YamlRenderer(), cluster, **kw)


def by_ref(result: Any) -> dict[str, Outcome]:
    return {str(o.ref): o.outcome for o in result.outcomes}


async def test_first_sync_creates_in_stages_and_records_the_inventory(repo: Repo) -> None:
    cluster = InMemoryCluster()
    r = make(repo, cluster)
    plan = await r.plan()
    assert {str(d.ref) for d in plan.creates} == {
        "Namespace app",
        "ConfigMap app/a",
        "ConfigMap app/b",
        "apps/Deployment app/web",
    }
    assert await cluster.get(ObjectRef("v1", "ConfigMap", "a", "app")) is None  # plan wrote nothing
    result = await r.sync()
    assert set(by_ref(result).values()) == {Outcome.CREATED}
    assert next(str(o.ref) for o in result.outcomes) == "Namespace app"
    assert len(result.inventory) == 4
    live = await cluster.get(ObjectRef("v1", "ConfigMap", "a", "app"))
    assert live is not None
    assert live["metadata"]["labels"][APPLYSET_PART_OF] == r.parent.id
    stored = await r.store.load()
    assert stored.members == result.inventory
    # The Deployment never becomes Available without controllers: said honestly.
    web = next(o for o in result.outcomes if o.ref.kind == "Deployment")
    assert web.health is not None
    assert web.health.status is Status.IN_PROGRESS
    assert result.reconciling
    assert not result.ready
    assert not result.stalled
    for phase in ("fetch", "render", "plan", "apply", "health", "prune", "total"):
        assert phase in result.durations
    again = await r.sync()
    assert set(by_ref(again).values()) == {Outcome.UNCHANGED}
    assert (await r.plan()).in_sync


async def test_change_one_object_patches_only_it(repo: Repo) -> None:
    cluster = InMemoryCluster()
    r = make(repo, cluster)
    await r.sync()
    repo.write({"web.yaml": DEPLOY.replace("IMAGE", "1.28")})
    plan = await r.plan()
    assert [str(d.ref) for d in plan.changes] == ["apps/Deployment app/web"]
    assert "nginx:1.28" in plan.changes[0].unified_diff()
    result = await r.sync()
    changed = {k: v for k, v in by_ref(result).items() if v is not Outcome.UNCHANGED}
    assert changed == {"apps/Deployment app/web": Outcome.CONFIGURED}
    live = await cluster.get(ObjectRef("apps/v1", "Deployment", "web", "app"))
    assert live is not None
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"


async def test_deleted_file_is_pruned_and_leaves_the_inventory(repo: Repo) -> None:
    cluster = InMemoryCluster()
    r = make(repo, cluster)
    await r.sync()
    repo.write({"b.yaml": None})
    assert [str(x) for x in (await r.plan()).prunes] == ["ConfigMap app/b"]
    result = await r.sync()
    assert by_ref(result)["ConfigMap app/b"] is Outcome.PRUNED
    assert await cluster.get(ObjectRef("v1", "ConfigMap", "b", "app")) is None
    assert ObjectRef("v1", "ConfigMap", "b", "app") not in (await r.store.load()).members


async def test_prune_disabled_on_the_live_object_protects_it(repo: Repo) -> None:
    cluster = InMemoryCluster()
    r = make(repo, cluster)
    await r.sync()
    ref = ObjectRef("v1", "ConfigMap", "b", "app")
    live = await cluster.get(ref)
    assert live is not None
    live["metadata"].setdefault("annotations", {})["reconcile.dev/prune"] = "disabled"
    live["metadata"].pop("managedFields")
    await cluster.as_manager("kubectl-annotate").apply(live, mode=ApplyMode.REPLACE)
    repo.write({"b.yaml": None})
    result = await r.sync()
    assert by_ref(result)["ConfigMap app/b"] is Outcome.RELEASED
    kept = await cluster.get(ref)
    assert kept is not None
    assert APPLYSET_PART_OF not in (kept["metadata"].get("labels") or {})
    assert ref not in result.inventory


async def test_broken_yaml_applies_nothing_prunes_nothing_and_stalls_with_file_and_line(
    repo: Repo,
) -> None:
    cluster = InMemoryCluster()
    r = make(repo, cluster)
    await r.sync()
    repo.write({"b.yaml": None, "a.yaml": cm("a", x="2") + "  bad: [unclosed\n"})
    before = await cluster.get(ObjectRef("v1", "ConfigMap", "a", "app"))
    result = await r.sync()
    assert result.stalled
    assert not result.ready
    stalled = result.condition("Stalled")
    assert stalled is not None
    assert stalled.reason == "RenderFailed"
    assert "a.yaml:" in stalled.message
    assert result.error is not None
    assert result.error.origin is not None
    assert result.error.origin.line is not None
    assert await cluster.get(ObjectRef("v1", "ConfigMap", "b", "app")) is not None
    assert await cluster.get(ObjectRef("v1", "ConfigMap", "a", "app")) == before
    assert len((await r.store.load()).members) == 4


async def test_empty_render_prunes_nothing_unless_allowed(repo: Repo) -> None:
    cluster = InMemoryCluster()
    r = make(repo, cluster)
    await r.sync()
    repo.write(dict.fromkeys(("ns.yaml", "a.yaml", "b.yaml", "web.yaml")))
    result = await r.sync()
    assert result.stalled
    cond = result.condition("Stalled")
    assert cond is not None
    assert cond.reason == "PruneRefused"
    assert await cluster.get(ObjectRef("v1", "ConfigMap", "a", "app")) is not None
    allowed = await make(repo, cluster, allow_empty=True).sync()
    assert allowed.ready
    assert await cluster.get(ObjectRef("v1", "ConfigMap", "a", "app")) is None
    assert allowed.inventory == frozenset()


async def _intrude(cluster: InMemoryCluster) -> None:
    other = cluster.as_manager("intruder")
    patch = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "a", "namespace": "app"},
        "data": {"a": "hacked"},
    }
    result = await other.apply(patch, force=True)
    assert result.changed


async def test_self_heal_reapplies_a_manual_change(repo: Repo) -> None:
    cluster = InMemoryCluster()
    r = make(repo, cluster)
    await r.sync()
    await _intrude(cluster)
    result = await r.sync()
    assert by_ref(result)["ConfigMap app/a"] is Outcome.CONFIGURED
    assert [str(d.ref) for d in result.drift] == ["ConfigMap app/a"]
    live = await cluster.get(ObjectRef("v1", "ConfigMap", "a", "app"))
    assert live is not None
    assert live["data"]["a"] == "1"


async def test_report_only_reports_drift_and_never_writes(repo: Repo) -> None:
    cluster = InMemoryCluster()
    await make(repo, cluster).sync()
    await _intrude(cluster)
    watcher = make(repo, cluster, drift=DriftMode.REPORT_ONLY)
    result = await watcher.sync()
    assert by_ref(result)["ConfigMap app/a"] is Outcome.DRIFTED
    assert result.dry_run
    assert not result.ready
    ready = result.condition("Ready")
    assert ready is not None
    assert ready.reason == "DriftDetected"
    change = result.drift[0].changes[0]
    assert (change.path, change.before, change.after) == (".data.a", "hacked", "1")
    live = await cluster.get(ObjectRef("v1", "ConfigMap", "a", "app"))
    assert live is not None
    assert live["data"]["a"] == "hacked"


async def test_two_reconcilers_claiming_one_object_is_a_conflict(
    repo: Repo, tmp_path: Path
) -> None:
    cluster = InMemoryCluster()
    first = make(repo, cluster, name="first")
    await first.sync()
    other = Repo(tmp_path / "other", tmp_path / "cache2")
    other.write({"a.yaml": cm("a", a="mine")})
    second = Reconciler(
        "second", other.source(), YamlRenderer(), cluster.as_manager("second-manager")
    )
    for _ in range(2):  # no tug of war: the second pass changes nothing either
        result = await second.sync()
        assert by_ref(result)["ConfigMap app/a"] is Outcome.CONFLICT
        assert result.stalled
        live = await cluster.get(ObjectRef("v1", "ConfigMap", "a", "app"))
        assert live is not None
        assert live["data"]["a"] == "1"
        assert ObjectRef("v1", "ConfigMap", "a", "app") not in result.inventory
    assert set(by_ref(await first.sync()).values()) == {Outcome.UNCHANGED}


async def test_policies_create_only_ignore_and_merge(repo: Repo) -> None:
    cluster = InMemoryCluster()
    await cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "app"}})
    await cluster.as_manager("someone").apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "app"},
            "data": {"a": "theirs"},
        }
    )
    ann = "  annotations:\n    reconcile.dev/policy: {}\n"
    repo.write(
        {
            "a.yaml": cm("a").replace(
                "  namespace: app\n", "  namespace: app\n" + ann.format("merge")
            ),
            "b.yaml": cm("b").replace(
                "  namespace: app\n", "  namespace: app\n" + ann.format("ignore")
            ),
            "c.yaml": cm("c").replace(
                "  namespace: app\n", "  namespace: app\n" + ann.format("create-only")
            ),
        }
    )
    r = make(repo, cluster)
    result = await r.sync()
    outcomes = by_ref(result)
    assert outcomes["ConfigMap app/a"] is Outcome.CONFLICT  # merge never takes fields over
    assert outcomes["ConfigMap app/b"] is Outcome.SKIPPED
    assert outcomes["ConfigMap app/c"] is Outcome.CREATED
    assert await cluster.get(ObjectRef("v1", "ConfigMap", "b", "app")) is None
    await cluster.as_manager("someone").apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "app"},
            "data": {"a": "edited"},
        },
        force=True,
    )
    again = by_ref(await r.sync())
    assert again["ConfigMap app/c"] is Outcome.SKIPPED
    live = await cluster.get(ObjectRef("v1", "ConfigMap", "c", "app"))
    assert live is not None
    assert live["data"]["a"] == "edited"


class Crashing:
    """An applier that cancels the pass at its ``budget``-th operation."""

    def __init__(
        self, inner: InMemoryCluster, budget: int, scope: anyio.CancelScope | None = None
    ) -> None:
        self.inner = inner
        self.budget = budget
        self.scope = scope
        self.field_manager = inner.field_manager

    async def _spend(self) -> None:
        self.budget -= 1
        if self.budget < 0:
            if self.scope is None:
                raise _Killed
            self.scope.cancel()  # a real cancellation, delivered at this await
            await anyio.lowlevel.checkpoint()

    async def get(self, ref: ObjectRef) -> Any:
        await self._spend()
        return await self.inner.get(ref)

    async def apply(self, obj: Any, **kw: Any) -> ApplyResult:
        await self._spend()
        return await self.inner.apply(obj, **kw)

    async def delete(self, ref: ObjectRef, **kw: Any) -> ApplyResult:
        await self._spend()
        return await self.inner.delete(ref, **kw)

    async def resource_for(self, api_version: str, kind: str) -> Any:
        return await self.inner.resource_for(api_version, kind)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class _Killed(BaseException):
    pass


@pytest.mark.parametrize("how", ["killed", "cancelled"])
async def test_killed_at_every_operation_then_restarted_converges_and_loses_nothing(
    repo: Repo, how: str
) -> None:
    desired_after = {
        "Namespace app",
        "ConfigMap app/a",
        "ConfigMap app/c",
        "apps/Deployment app/web",
    }
    budget = 0
    while True:
        cluster = InMemoryCluster()
        repo.write({"b.yaml": cm("b"), "web.yaml": DEPLOY.replace("IMAGE", "1.27")})
        (repo.root / "c.yaml").unlink(missing_ok=True)
        await make(repo, cluster).sync()
        repo.write({"b.yaml": None, "c.yaml": cm("c"), "web.yaml": DEPLOY.replace("IMAGE", "1.28")})
        completed = True
        if how == "killed":
            try:
                await make(repo, Crashing(cluster, budget)).sync()  # type: ignore[arg-type]
            except* _Killed:
                completed = False
        else:
            with anyio.CancelScope() as scope:
                await make(repo, Crashing(cluster, budget, scope)).sync()  # type: ignore[arg-type]
            completed = not scope.cancelled_caught
        # Whatever was written, the stored inventory names every object we created.
        stored = {str(r) for r in (await make(repo, cluster).store.load()).members}
        for kind, name in (("ConfigMap", "b"), ("ConfigMap", "c")):
            if await cluster.get(ObjectRef("v1", kind, name, "app")) is not None:
                assert f"{kind} app/{name}" in stored, (budget, stored)
        # A restarted reconciler converges.
        result = await make(repo, cluster).sync()
        assert not result.stalled, (budget, result.conditions)
        assert {str(r) for r in result.inventory} == desired_after
        assert await cluster.get(ObjectRef("v1", "ConfigMap", "b", "app")) is None
        for ref in result.inventory:
            assert await cluster.get(ref) is not None
        if completed:
            break
        budget += 1
    assert budget > 5  # the pass was really interrupted at many points


async def test_blocking_facade_composes_the_async_api(repo: Repo) -> None:
    cluster = InMemoryCluster()

    def run() -> tuple[int, bool, bool]:
        with BlockingReconciler(make(repo, cluster)) as r:
            creates = len(r.plan().creates)
            first = r.sync()
            return creates, first.reconciling, r.plan().in_sync

    assert await anyio.to_thread.run_sync(run) == (4, True, True)


async def until(predicate: Callable[[], bool]) -> None:
    while not predicate():  # noqa: ASYNC110 - polls a list a callback fills
        await anyio.sleep(0.01)


async def test_run_triggers_backoff_suspend_and_clean_cancellation(repo: Repo) -> None:
    cluster = InMemoryCluster()
    seen: list[str] = []
    r = make(
        repo,
        cluster,
        interval=3600,
        poll_interval=None,
        callbacks=[lambda res: seen.append(res.revision)],
    )
    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            await tg.start(r.run)
            await until(lambda: len(seen) >= 1)
            r.suspend()
            repo.write({"a.yaml": cm("a", a="2")})
            r.trigger("test")
            await anyio.sleep(0.2)
            assert len(seen) == 1  # suspended: no pass
            r.resume()
            await until(lambda: len(seen) >= 2)
            # A change by someone else on an owned object triggers a pass (watch).
            await anyio.sleep(1.2)
            await _intrude(cluster)
            await until(lambda: len(seen) >= 3)
            tg.cancel_scope.cancel()
    live = await cluster.get(ObjectRef("v1", "ConfigMap", "a", "app"))
    assert live is not None
    assert live["data"]["a"] == "2"
    assert seen[0] != seen[1]


async def test_webhook_needs_a_valid_hmac(repo: Repo) -> None:
    r = make(repo, InMemoryCluster(), interval=3600, poll_interval=None)
    secret = b"hook-secret"

    async def post(body: bytes, signature: str | None) -> bytes:
        stream = await anyio.connect_tcp("127.0.0.1", port)
        async with stream:
            head = f"POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
            if signature:
                head += f"X-Hub-Signature-256: {signature}\r\n"
            await stream.send(head.encode() + b"\r\n" + body)
            return await stream.receive()

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            port = await tg.start(
                lambda task_status: r.serve_webhook(secret, task_status=task_status)
            )
            body = b'{"ref": "refs/heads/main"}'
            bad = await post(body, "sha256=" + "0" * 64)
            assert bad.startswith(b"HTTP/1.1 401")
            assert not r._trigger.is_set()
            good = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
            assert verify_signature(secret, body, good)
            ok = await post(body, good)
            assert ok.startswith(b"HTTP/1.1 202")
            assert r._trigger.is_set()
            tg.cancel_scope.cancel()


async def test_failed_apply_blocks_prunes_and_keeps_inventory(repo: Repo) -> None:
    cluster = InMemoryCluster()
    r = make(repo, cluster)
    await r.sync()
    # An invalid name fails the apply; the removed object must not be pruned in that pass.
    repo.write({"b.yaml": None, "a.yaml": cm("a").replace("name: a", "name: Not_Valid")})
    result = await r.sync()
    assert result.stalled
    assert any(o.outcome is Outcome.FAILED for o in result.outcomes)
    assert await cluster.get(ObjectRef("v1", "ConfigMap", "b", "app")) is not None
    members = {str(m) for m in (await r.store.load()).members}
    assert "ConfigMap app/b" in members
    assert "ConfigMap app/Not_Valid" in members


async def test_prune_uses_the_propagation_policy(repo: Repo) -> None:
    cluster = InMemoryCluster()
    calls: list[Propagation] = []

    class Recording(InMemoryCluster):
        async def delete(self, ref: ObjectRef, **kw: Any) -> ApplyResult:
            calls.append(kw["propagation"])
            return await super().delete(ref, **kw)

    rec = Recording(_store=cluster._store)
    r = make(repo, rec, propagation=Propagation.FOREGROUND)
    await r.sync()
    repo.write({"b.yaml": None})
    await r.sync()
    assert calls == [Propagation.FOREGROUND]


def test_inventory_parent_defaults() -> None:
    r = Reconciler("shop", LocalSource(".", cache_dir="/tmp/x"), YamlRenderer(), InMemoryCluster())
    assert r.parent == ApplySetParent("ConfigMap", "shop-inventory", "default")


def hook(name: str, phase: str, policy: str = "") -> str:
    extra = f"    reconcile.dev/hook-delete-policy: {policy}\n" if policy else ""
    return (
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: app\n"
        f"  annotations:\n    reconcile.dev/hook: {phase}\n{extra}data: {{run: '1'}}\n"
    )


async def test_hooks_run_around_the_apply_and_stay_out_of_the_inventory(repo: Repo) -> None:
    from reconcile import HealthChecks, HealthResult

    cluster = InMemoryCluster()
    await cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "app"}})
    repo.write(
        {
            "pre.yaml": hook("pre", "pre-sync", "hook-succeeded"),
            "post.yaml": hook("post", "post-sync"),
            "fail.yaml": hook("on-fail", "on-failure"),
        }
    )
    r = make(repo, cluster)
    result = await r.sync()
    assert not result.stalled, result.conditions
    assert await cluster.get(ObjectRef("v1", "ConfigMap", "pre", "app")) is None  # succeeded
    assert await cluster.get(ObjectRef("v1", "ConfigMap", "post", "app")) is not None
    assert await cluster.get(ObjectRef("v1", "ConfigMap", "on-fail", "app")) is None
    assert not {r.name for r in result.inventory} & {"pre", "post", "on-fail"}

    # A failing pre-sync hook: nothing is applied, the on-failure hook runs.
    checks = HealthChecks()
    checks.add(
        "",
        "ConfigMap",
        lambda obj: (
            HealthResult.failed("Boom", "hook failed") if obj["metadata"]["name"] == "bad" else None
        ),
    )
    repo.write({"pre.yaml": hook("bad", "pre-sync"), "x.yaml": cm("x")})
    failing = make(repo, cluster, health_checks=checks, health_timeout=5)
    result = await failing.sync()
    assert result.stalled
    assert "hook failed" in str(result.error)
    assert await cluster.get(ObjectRef("v1", "ConfigMap", "x", "app")) is None
    assert await cluster.get(ObjectRef("v1", "ConfigMap", "on-fail", "app")) is not None


async def test_a_new_revision_triggers_a_pass(repo: Repo) -> None:
    cluster = InMemoryCluster()
    seen: list[str] = []
    r = make(
        repo,
        cluster,
        interval=3600,
        poll_interval=0.05,
        callbacks=[lambda res: seen.append(res.revision)],
    )
    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            await tg.start(lambda task_status: r.run(task_status=task_status, watch=False))
            await until(lambda: len(seen) >= 1)
            repo.write({"b.yaml": cm("b", a="new")})
            await until(lambda: len(seen) >= 2)
            tg.cancel_scope.cancel()
    assert seen[0] != seen[1]
    live = await cluster.get(ObjectRef("v1", "ConfigMap", "b", "app"))
    assert live is not None
    assert live["data"]["a"] == "new"


async def test_failed_passes_back_off(repo: Repo) -> None:
    repo.write({"a.yaml": "kind: [broken\n"})
    r = make(repo, InMemoryCluster(), interval=3600, poll_interval=None, backoff=(0.01, 0.02))
    with anyio.fail_after(20):
        await r.run(max_passes=4, watch=False)  # would take an hour without the backoff
    assert r.last_result is not None
    assert r.last_result.stalled


async def test_plans_and_results_render_as_html_and_json(repo: Repo) -> None:
    import json

    cluster = InMemoryCluster()
    r = make(repo, cluster)
    plan = await r.plan()
    page = plan._repr_html_()
    assert "4 to create" in page
    assert "ConfigMap app/a" in page
    json.dumps(plan.to_json())
    result = await r.sync()
    html_text = result._repr_html_()
    assert "<table>" in html_text
    assert "created" in html_text
    data = json.loads(json.dumps(result.to_json()))
    assert data["counts"] == {"created": 4}
    assert {c["type"] for c in data["conditions"]} == {"Ready", "Reconciling", "Stalled"}


async def test_secret_values_never_reach_results(repo: Repo) -> None:
    import json

    secret = (
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: app}\n"
        "stringData: {token: hunter2-never-shown}\n"
    )
    repo.write({"s.yaml": secret})
    cluster = InMemoryCluster()
    r = make(repo, cluster)
    first = await r.sync()
    repo.write({"s.yaml": secret.replace("hunter2-never-shown", "swordfish-never-shown")})
    plan = await r.plan()
    second = await r.sync()
    for text in (
        json.dumps(first.to_json()),
        json.dumps(plan.to_json()),
        json.dumps(second.to_json()),
        second._repr_html_(),
        plan._repr_html_(),
    ):
        assert "hunter2" not in text
        assert "swordfish" not in text


async def test_sync_all_orders_by_depends_on_and_holds_dependents(
    repo: Repo, tmp_path: Path
) -> None:
    from reconcile.engine.reconciler import sync_all

    cluster = InMemoryCluster()
    apps = Repo(tmp_path / "apps", tmp_path / "c2")
    apps.write({"x.yaml": cm("x")})
    infra = make(repo, cluster, name="infra")
    app = Reconciler("apps", apps.source(), YamlRenderer(), cluster, depends_on=["infra"])
    results = await sync_all([app, infra])
    # infra ran first (it creates the namespace app needs); its Deployment is not
    # Current without controllers, so apps waits.
    assert results["infra"].reconciling
    assert results["apps"].stalled
    cond = results["apps"].condition("Stalled")
    assert cond is not None
    assert cond.reason == "DependencyNotReady"
    repo.write({"web.yaml": None})
    results = await sync_all([app, infra])
    assert results["infra"].ready
    assert results["apps"].ready


async def test_inventory_in_a_namespace_the_source_declares(repo: Repo) -> None:
    cluster = InMemoryCluster()
    assert await cluster.get(ObjectRef("v1", "Namespace", "app")) is None
    r = make(repo, cluster, namespace="app")
    result = await r.sync()
    assert result.error is None, result.error
    assert set(by_ref(result).values()) == {Outcome.CREATED}
    stored = await r.store.load()
    assert stored.members == result.inventory
    assert len(stored.members) == 4


async def test_inventory_namespace_neither_live_nor_declared_stalls_and_writes_nothing(
    repo: Repo,
) -> None:
    cluster = InMemoryCluster()
    r = make(repo, cluster, namespace="nowhere")
    result = await r.sync()
    assert result.stalled
    assert "inventory namespace 'nowhere' does not exist" in str(result.error)
    assert await cluster.get(ObjectRef("v1", "Namespace", "app")) is None
    assert await cluster.get(ObjectRef("v1", "ConfigMap", "a", "app")) is None
