"""The Reconciler: Source -> Renderer -> Planner -> Differ -> Applier, with the inventory.

One :class:`Reconciler` keeps one target in sync:

* :meth:`Reconciler.plan` fetches, renders and diffs; it writes nothing and
  says what a sync would create, change (with diffs) and prune.
* :meth:`Reconciler.sync` is one pass: the inventory is written as
  ``old | new`` *before* anything is applied; pre-sync hooks; the planner's
  stages are applied in order (waiting for CRDs Established and Namespaces
  Active between stages); post-sync hooks; prunes in reverse order with the
  propagation policy (a live ``reconcile.dev/prune: disabled`` protects an
  object); the inventory shrinks only after the prunes succeeded. Nothing is
  applied or pruned when the fetch or the render failed, and nothing is
  pruned when the desired set is empty unless ``allow_empty`` is set.
* :meth:`Reconciler.run` is the loop: an interval with jitter, triggers (a new
  revision, :meth:`Reconciler.trigger` e.g. from the webhook receiver, watch
  events on owned objects), exponential backoff on failure, suspend and resume.

Two drift modes: ``SELF_HEAL`` re-applies; ``REPORT_ONLY`` never writes and
reports every difference as drift. Per-object policies by the
``reconcile.dev/policy`` annotation: ``override`` (server-side apply taking
over conflicting fields), ``merge`` (apply without force: fields owned by other
managers are a reported conflict), ``create-only`` and ``ignore``. An object
another reconciler's ApplySet claims is a reported conflict, never applied.

Example:

    >>> import anyio, pathlib, tempfile
    >>> from reconcile.cluster import InMemoryCluster
    >>> from reconcile.render import YamlRenderer
    >>> from reconcile.sources import LocalSource
    >>> from reconcile.engine.reconciler import Reconciler
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "cm.yaml").write_text(
    ...     "apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: cfg}\\ndata: {a: '1'}\\n")
    >>> cluster = InMemoryCluster()
    >>> r = Reconciler("demo", LocalSource(d, cache_dir=tempfile.mkdtemp()), YamlRenderer(),
    ...                cluster)
    >>> result = anyio.run(r.sync)
    >>> result.ready, result.counts()
    (True, {'created': 1})
    >>> anyio.run(r.plan).in_sync
    True
"""

from __future__ import annotations

import enum
import functools
import hashlib
import hmac
import inspect
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AsyncExitStack, suppress
from typing import Any

import anyio
import anyio.abc
import attrs

from reconcile.cluster import Action, Applier, ApplyMode, ApplyResult, Propagation
from reconcile.diff import DefaultDiffer, Differ, ObjectDiff
from reconcile.engine.annotations import (
    APPLYSET_PART_OF,
    HookDeletePolicy,
    HookPhase,
    ObjectPolicy,
    object_policy,
    prune_disabled,
)
from reconcile.engine.health import HealthChecks, Status, compute, wait_for_status
from reconcile.engine.inventory import (
    ApplySetParent,
    InventoryStore,
    other_applyset,
    to_write_before_apply,
    with_member_label,
)
from reconcile.engine.planner import Hook, Plan, WaitCondition, guard_prunes, order_reconcilers
from reconcile.engine.planner import plan as make_plan
from reconcile.engine.results import (
    ObjectOutcome,
    Outcome,
    ReconcileCondition,
    ReconcilePlan,
    SyncResult,
    condition,
)
from reconcile.errors import (
    ApplyError,
    ConfigurationError,
    ConflictError,
    HealthError,
    NotFoundError,
    PruneRefusedError,
    ReconcileError,
    RenderError,
    RetryableError,
    SourceError,
)
from reconcile.objects import JSONObject, Manifest, ObjectRef, Origin
from reconcile.render import Renderer, Validation, builtin_scope, finalize
from reconcile.schema import SchemaRegistry
from reconcile.sources import Artifact, Source

__all__ = ["Callback", "DriftMode", "Observer", "Reconciler", "sync_all", "verify_signature"]

log: logging.Logger = logging.getLogger(__name__)

#: A function called with every result (sync or async): metrics, notifications...
Callback = Callable[[SyncResult], "Awaitable[None] | None"]
#: A function told of progress during a pass: ``("phase", name)`` when a phase
#: starts (fetch, render, plan, apply, health, prune), ``("planned", count)``
#: with the number of objects to write, ``("object", ObjectOutcome)`` after each write.
Observer = Callable[[str, Any], None]


class DriftMode(enum.Enum):
    """What a pass does about live objects that differ from the desired state.

    Example:

        >>> DriftMode("report-only") is DriftMode.REPORT_ONLY
        True
    """

    #: Re-apply: the cluster is made to match (the default).
    SELF_HEAL = "self-heal"
    #: Detect and report; never write (no apply, no prune, no inventory write).
    REPORT_ONLY = "report-only"


@attrs.define
class _Prepared:
    artifact: Artifact
    revision: str
    manifests: tuple[Manifest, ...]
    plan: Plan
    old: frozenset[ObjectRef]
    desired: dict[ObjectRef, JSONObject]
    diffs: dict[ObjectRef, ObjectDiff]
    outcomes: dict[ObjectRef, ObjectOutcome]
    to_apply: list[ObjectRef]
    keep: set[ObjectRef]
    origins: dict[ObjectRef, Origin | None] | None = None


def verify_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    """Check a webhook's ``X-Hub-Signature-256`` (``sha256=<hex HMAC of the body>``).

    >>> import hashlib, hmac
    >>> sig = "sha256=" + hmac.new(b"s3cret", b"{}", hashlib.sha256).hexdigest()
    >>> verify_signature(b"s3cret", b"{}", sig), verify_signature(b"other", b"{}", sig)
    (True, False)
    >>> verify_signature(b"s3cret", b"{}", None)
    False
    """
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha256="))


def _namespaced_crds(manifests: Iterable[Manifest]) -> dict[tuple[str, str], bool]:
    out: dict[tuple[str, str], bool] = {}
    for m in manifests:
        if m.obj.get("kind") == "CustomResourceDefinition":
            spec = m.obj.get("spec") or {}
            names = spec.get("names") or {}
            out[(str(spec.get("group")), str(names.get("kind")))] = spec.get("scope") != "Cluster"
    return out


class Reconciler:
    """Keeps one target in sync with a source.

    Args:
        name: the reconciler's name; the inventory parent is ``<name>-inventory``
            (a ConfigMap in ``namespace`` unless ``inventory`` says otherwise).
        source: where the desired state comes from.
        renderer: how the artifact becomes manifests.
        applier: the cluster (its ``field_manager`` is the reconciler's).
        namespace: the default namespace of namespaced objects that have none,
            and the inventory's namespace.
        inventory: the ApplySet parent, when not the default.
        differ: decides drift (a :class:`~reconcile.diff.DefaultDiffer` with the
            applier's field manager by default).
        prune: delete objects that left the desired set.
        allow_empty: allow an empty desired set to prune everything.
        drift: self-heal or report-only.
        propagation: the deletion propagation policy of prunes.
        wait: wait for every object to be Current after applying (up to
            ``health_timeout`` seconds); otherwise health is read once.
        health_timeout: seconds to wait for CRDs, Namespaces, hooks and health.
        health_checks: user health checks by group and kind.
        interval: seconds between passes in :meth:`run`.
        jitter: a fraction of ``interval`` added or removed at random.
        poll_interval: seconds between source fetches in :meth:`run` (a new
            revision triggers a pass); None to fetch only at each pass.
        backoff: first and largest retry delay (seconds) after a failed pass.
        events: write Kubernetes Events about passes on the inventory parent.
        callbacks: called with every :class:`SyncResult`.
        depends_on: names of reconcilers this one depends on (recorded on the parent).
        concurrency: how many objects are read or written at once (64, as the
            KubernetesApplier: more writes in flight let etcd batch its commits).

    Example:

        >>> import anyio, pathlib, tempfile
        >>> from reconcile import InMemoryCluster, LocalSource, YamlRenderer
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> cm = "apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: c}\\n"
        >>> _ = (d / "cm.yaml").write_text(cm)
        >>> r = Reconciler("demo", LocalSource(d, cache_dir=tempfile.mkdtemp()), YamlRenderer(),
        ...                InMemoryCluster())
        >>> len(anyio.run(r.plan).creates)
        1
        >>> anyio.run(r.sync).counts()
        {'created': 1}
        >>> anyio.run(r.sync).counts()
        {'unchanged': 1}
    """

    def __init__(
        self,
        name: str,
        source: Source,
        renderer: Renderer,
        applier: Applier,
        *,
        namespace: str = "default",
        inventory: ApplySetParent | None = None,
        differ: Differ | None = None,
        prune: bool = True,
        allow_empty: bool = False,
        drift: DriftMode = DriftMode.SELF_HEAL,
        propagation: Propagation = Propagation.BACKGROUND,
        wait: bool = False,
        health_timeout: float = 120.0,
        health_checks: HealthChecks | None = None,
        interval: float = 300.0,
        jitter: float = 0.1,
        poll_interval: float | None = 60.0,
        backoff: tuple[float, float] = (1.0, 300.0),
        events: bool = True,
        callbacks: Sequence[Callback] = (),
        observers: Sequence[Observer] = (),
        depends_on: Iterable[str] = (),
        concurrency: int = 64,
    ) -> None:
        if not name:
            raise ConfigurationError("a reconciler needs a name")
        if interval <= 0 or not 0 <= jitter < 1:
            raise ConfigurationError("interval must be positive and jitter in [0, 1)")
        self.name = name
        self.source = source
        self.renderer = renderer
        self.applier = applier
        self.namespace = namespace
        self.parent: ApplySetParent = inventory or ApplySetParent(
            "ConfigMap", f"{name}-inventory", namespace
        )
        # The differ learns custom resources' schemas where the applier does (CRDs it
        # applied), so that its predictions match the cluster's for custom resources.
        schemas = getattr(applier, "schemas", None)
        self.differ: Differ = differ or DefaultDiffer(
            manager=applier.field_manager,
            registry=schemas if isinstance(schemas, SchemaRegistry) else None,
        )
        self.prune = prune
        self.allow_empty = allow_empty
        self.drift = drift
        self.propagation = propagation
        self.wait = wait
        self.health_timeout = health_timeout
        self.health_checks = health_checks
        self.interval = interval
        self.jitter = jitter
        self.poll_interval = poll_interval
        self.backoff = backoff
        self.events = events
        self.callbacks: list[Callback] = list(callbacks)
        self.limiter: anyio.CapacityLimiter = anyio.CapacityLimiter(concurrency)
        self.observers: list[Observer] = list(observers)
        self.depends_on: tuple[str, ...] = tuple(depends_on)
        self.store: InventoryStore = InventoryStore(
            _ApplierObjects(applier), self.parent, reconciler=name, depends_on=self.depends_on
        )
        self.last_result: SyncResult | None = None
        self._trigger = anyio.Event()
        self._resumed = anyio.Event()
        self._resumed.set()
        self._lock = anyio.Lock()
        self._last_revision: str | None = None
        self._exit: AsyncExitStack | None = None

    # -- lifecycle ---------------------------------------------------------------

    async def __aenter__(self) -> Reconciler:
        """Open the applier (when it is an async context manager)."""
        stack = AsyncExitStack()
        enter = getattr(self.applier, "__aenter__", None)
        if enter is not None:
            await stack.enter_async_context(self.applier)  # type: ignore[arg-type]
        self._exit = stack
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._exit is not None:
            await self._exit.aclose()
            self._exit = None

    @property
    def suspended(self) -> bool:
        """Whether :meth:`run` is paused."""
        return not self._resumed.is_set()

    def suspend(self) -> None:
        """Pause :meth:`run` after the current pass (a pass in progress finishes)."""
        self._resumed = anyio.Event()
        log.info("reconciler suspended", extra={"reconciler": self.name})

    def resume(self) -> None:
        """Resume :meth:`run` and start a pass now."""
        self._resumed.set()
        self.trigger("resumed")

    def _notify(self, what: str, value: Any) -> None:
        for observer in self.observers:
            try:
                observer(what, value)
            except Exception:
                log.exception("an observer raised", extra={"reconciler": self.name})

    def trigger(self, reason: str = "requested") -> None:
        """Ask :meth:`run` for a pass now (webhook, watch event, user)."""
        log.debug("pass triggered: %s", reason, extra={"reconciler": self.name})
        self._trigger.set()

    # -- the pipeline ------------------------------------------------------------

    async def _fetch_render(
        self, durations: dict[str, float]
    ) -> tuple[Artifact, str, tuple[Manifest, ...]]:
        t = time.perf_counter()
        self._notify("phase", "fetch")
        artifact = await self.source.fetch()
        revision = str(artifact.revision)
        durations["fetch"] = time.perf_counter() - t
        t = time.perf_counter()
        self._notify("phase", "render")
        rendered = await self.renderer.render(artifact)
        manifests = await self._default_namespaces(rendered)
        durations["render"] = time.perf_counter() - t
        return artifact, revision, manifests

    async def _default_namespaces(self, manifests: Sequence[Manifest]) -> tuple[Manifest, ...]:
        crds = _namespaced_crds(manifests)
        unknown: dict[tuple[str, str], bool | None] = {}

        def scope(group: str, kind: str) -> bool | None:
            known = crds.get((group, kind))
            if known is not None:
                return known
            return (
                builtin_scope(group, kind)
                if (group, kind) not in unknown
                else unknown[(group, kind)]
            )

        for m in manifests:
            group = m.ref.group
            key = (group, m.ref.kind)
            if key in crds or key in unknown or builtin_scope(*key) is not None:
                continue
            try:
                info = await self.applier.resource_for(m.ref.api_version, m.ref.kind)
                unknown[key] = info.namespaced
            except (NotFoundError, RetryableError):
                unknown[key] = None
        return finalize(manifests, Validation(scope=scope, default_namespace=self.namespace))

    async def _live(self, ref: ObjectRef) -> JSONObject | None:
        try:
            return await self.applier.get(ref)
        except (NotFoundError, RetryableError):
            # The kind is not served yet (its CRD is part of this set).
            return None

    async def _prepare(self, durations: dict[str, float]) -> _Prepared:
        artifact, revision, manifests = await self._fetch_render(durations)
        t = time.perf_counter()
        self._notify("phase", "plan")
        old = (await self.store.load()).members
        desired_refs = {m.ref for m in manifests}
        p = make_plan(manifests, prune=[r for r in old if r not in desired_refs])
        if self.prune:
            guard_prunes(p, allow_empty=self.allow_empty)
        desired: dict[ObjectRef, JSONObject] = {}
        diffs: dict[ObjectRef, ObjectDiff] = {}
        outcomes: dict[ObjectRef, ObjectOutcome] = {}
        to_apply: list[ObjectRef] = []
        keep: set[ObjectRef] = set()
        lives: dict[ObjectRef, JSONObject | None] = {}

        async def read(ref: ObjectRef) -> None:
            async with self.limiter:
                lives[ref] = await self._live(ref)

        async with anyio.create_task_group() as tg:
            for m in p.manifests:
                tg.start_soon(read, m.ref)
        for m in p.manifests:
            ref = m.ref
            live = lives[ref]
            policy = object_policy(m)
            if policy is ObjectPolicy.IGNORE:
                outcomes[ref] = ObjectOutcome(
                    ref, Outcome.SKIPPED, message="policy: ignore", origin=m.origin
                )
                keep.add(ref)
                continue
            if live is not None:
                owner = other_applyset(live, self.parent)
                if owner is not None:
                    outcomes[ref] = ObjectOutcome(
                        ref,
                        Outcome.CONFLICT,
                        message=f"claimed by another reconciler (ApplySet {owner})",
                        origin=m.origin,
                    )
                    continue
            keep.add(ref)
            if policy is ObjectPolicy.CREATE_ONLY and live is not None:
                outcomes[ref] = ObjectOutcome(
                    ref, Outcome.SKIPPED, message="policy: create-only", origin=m.origin
                )
                continue
            obj = with_member_label(m.obj, self.parent)
            desired[ref] = obj
            if isinstance(self.differ, DefaultDiffer):
                diff = self.differ.diff(obj, live, force=policy is not ObjectPolicy.MERGE)
            else:
                diff = self.differ.diff(obj, live)
            diffs[ref] = diff
            if diff.in_sync:
                outcomes[ref] = ObjectOutcome(ref, Outcome.UNCHANGED, diff, origin=m.origin)
            else:
                to_apply.append(ref)
        durations["plan"] = time.perf_counter() - t
        return _Prepared(
            artifact, revision, manifests, p, old, desired, diffs, outcomes, to_apply, keep
        )

    async def plan(self) -> ReconcilePlan:
        """What a sync would do now: creates, changes with their diffs, prunes. No writes.

        Raises:
            SourceError, RenderError: the fetch or the render failed.
            PruneRefusedError: the desired set is empty and pruning would remove everything.
        """
        prepared = await self._prepare({})
        creates = tuple(
            prepared.diffs[r] for r in prepared.to_apply if prepared.diffs[r].live is None
        )
        changes = tuple(
            prepared.diffs[r] for r in prepared.to_apply if prepared.diffs[r].live is not None
        )
        unchanged = tuple(r for r, o in prepared.outcomes.items() if o.outcome is Outcome.UNCHANGED)
        conflicts = tuple(
            (r, o.message) for r, o in prepared.outcomes.items() if o.outcome is Outcome.CONFLICT
        )
        skipped = tuple(r for r, o in prepared.outcomes.items() if o.outcome is Outcome.SKIPPED)
        prunes = tuple(prepared.plan.prunes) if self.prune else ()
        return ReconcilePlan(
            prepared.revision, creates, changes, unchanged, prunes, conflicts, skipped
        )

    async def sync(self, *, dry_run: bool = False) -> SyncResult:
        """One pass; returns its report (errors are reported in it, not raised).

        ``dry_run`` (or the report-only drift mode) computes everything and
        writes nothing.
        """
        async with self._lock:
            start = time.perf_counter()
            durations: dict[str, float] = {}
            try:
                result = await self._sync(
                    durations, dry_run=dry_run or self.drift is DriftMode.REPORT_ONLY
                )
            except ReconcileError as exc:
                result = self._stalled(exc, durations)
            except (OSError, TimeoutError, ValueError) as exc:
                # An unexpected failure (a connection reset...) is reported like the others;
                # the loop backs off and retries instead of dying.
                log.exception("the pass failed", extra={"reconciler": self.name})
                wrapped = ReconcileError(f"the pass failed: {exc!r}")
                wrapped.__cause__ = exc
                result = self._stalled(wrapped, durations)
            durations["total"] = time.perf_counter() - start
            result = attrs.evolve(result, durations=dict(durations))
            previous, self.last_result = self.last_result, result
            self._log(result)
            await self._report(result, previous)
            return result

    def _stalled(self, exc: ReconcileError, durations: dict[str, float]) -> SyncResult:
        reason = {
            SourceError: "FetchFailed",
            RenderError: "RenderFailed",
            PruneRefusedError: "PruneRefused",
        }
        why = next((v for k, v in reason.items() if isinstance(exc, k)), "ReconcileFailed")
        message = str(exc)
        return SyncResult(
            self.name,
            self._last_revision or "",
            (
                condition("Ready", False, why, message),
                condition("Reconciling", False, why, "nothing was applied or pruned"),
                condition("Stalled", True, why, message),
            ),
            error=exc,
            inventory=frozenset(),
        )

    async def _ensure_inventory_namespace(
        self, prepared: _Prepared, outcomes: dict[ObjectRef, ObjectOutcome]
    ) -> None:
        """Make sure the inventory parent's namespace exists before it is written.

        The inventory must be stored before anything else is applied, so when its
        namespace is one this pass declares (a common layout: the reconciler keeps
        its record in the app's own namespace), that Namespace is applied first.
        A namespace neither live nor declared is a configuration error: creating
        one nobody declared would leave an object no one owns.
        """
        namespace = self.parent.namespace
        if not namespace:
            return
        ref = ObjectRef("v1", "Namespace", namespace)
        if await self.applier.get(ref) is not None:
            return
        declared = prepared.desired.get(ref)
        if declared is None:
            raise ConfigurationError(
                f"the inventory namespace {namespace!r} does not exist and the source does not "
                "declare it: create it, declare it, or give the reconciler another namespace",
                ref=self.parent.ref,
            )
        await self._apply_wave(prepared, [ref], outcomes)
        if outcomes[ref].outcome is not Outcome.CREATED:
            raise ApplyError(
                f"cannot create the inventory namespace: {outcomes[ref].message}", ref=ref
            )
        if ref in prepared.to_apply:
            prepared.to_apply.remove(ref)

    async def _sync(self, durations: dict[str, float], *, dry_run: bool) -> SyncResult:
        try:
            prepared = await self._prepare(durations)
        except ReconcileError:
            raise
        self._last_revision = prepared.revision
        outcomes = prepared.outcomes
        drift = tuple(
            prepared.diffs[r] for r in prepared.to_apply if prepared.diffs[r].live is not None
        )
        new_members = prepared.keep
        inventory = prepared.old
        if dry_run:
            for ref in prepared.to_apply:
                d = prepared.diffs[ref]
                outcomes[ref] = ObjectOutcome(
                    ref,
                    Outcome.DRIFTED,
                    d,
                    message="would create" if d.live is None else f"{len(d.changes)} fields differ",
                    origin=_origin(prepared, ref),
                )
            for ref in prepared.plan.prunes if self.prune else ():
                outcomes[ref] = ObjectOutcome(ref, Outcome.DRIFTED, message="would prune")
            return self._finish(prepared, outcomes, drift, inventory, None, dry_run=True)

        # 1. The inventory first: old | new (crash-safe).
        union = to_write_before_apply(prepared.old, new_members)
        if _versions(union) != _versions(prepared.old):
            await self._ensure_inventory_namespace(prepared, outcomes)
            inventory = (await self.store.begin(new_members)).members
        failure: ReconcileError | None = None

        # 2. Pre-sync hooks.
        t = time.perf_counter()
        self._notify("phase", "apply")
        self._notify("planned", len(prepared.to_apply))
        try:
            await self._run_hooks(prepared.plan, HookPhase.PRE_SYNC)
        except ReconcileError as exc:
            failure = exc

        # 3. Stages, waves.
        if failure is None:
            for stage in prepared.plan.stages:
                for wave in stage.waves:
                    refs = [m.ref for m in wave.manifests if m.ref in prepared.desired]
                    pending = [r for r in refs if r in set(prepared.to_apply)]
                    await self._apply_wave(prepared, pending, outcomes)
                try:
                    for w in stage.wait_for:
                        want = Status.CURRENT
                        await wait_for_status(
                            functools.partial(self._live, w.ref),
                            w.ref,
                            timeout=self.health_timeout,
                            want=want,
                            interval=0.1,
                        )
                        if w.condition is WaitCondition.ESTABLISHED:
                            await self._wait_served(prepared.desired.get(w.ref))
                except HealthError as exc:
                    failure = exc
                    break
        durations["apply"] = time.perf_counter() - t

        # 4. Health.
        t = time.perf_counter()
        self._notify("phase", "health")
        await self._health(prepared, outcomes)
        durations["health"] = time.perf_counter() - t
        failed = [o for o in outcomes.values() if o.outcome is Outcome.FAILED]
        if failure is None and failed:
            first = failed[0]
            failure = ApplyError(
                f"{len(failed)} objects failed; first: {first.message}", ref=first.ref
            )

        if failure is None:
            try:
                await self._run_hooks(prepared.plan, HookPhase.POST_SYNC)
            except ReconcileError as exc:
                failure = exc
        if failure is not None:
            try:
                await self._run_hooks(prepared.plan, HookPhase.ON_FAILURE)
            except ReconcileError as exc:
                log.warning("on-failure hook failed: %s", exc)

        # 5. Prune, only when everything before succeeded.
        t = time.perf_counter()
        self._notify("phase", "prune")
        if failure is None and self.prune and prepared.plan.prunes:
            inventory = await self._prune(prepared, outcomes)
        durations["prune"] = time.perf_counter() - t
        return self._finish(prepared, outcomes, drift, inventory, failure, dry_run=False)

    async def _apply_retrying(self, obj: JSONObject, *, force: bool) -> ApplyResult:
        """Apply, retrying what the server says is worth retrying (discovery lag...)."""
        delay = 0.25
        for _ in range(6):
            try:
                return await self.applier.apply(obj, mode=ApplyMode.SERVER_SIDE, force=force)
            except RetryableError:
                await anyio.sleep(delay)
                delay *= 2
        return await self.applier.apply(obj, mode=ApplyMode.SERVER_SIDE, force=force)

    async def _wait_served(self, crd: Mapping[str, Any] | None) -> None:
        """After a CRD is Established, wait until the applier's discovery serves its kind."""
        if crd is None:
            return
        spec = crd.get("spec") or {}
        kind = str((spec.get("names") or {}).get("kind"))
        versions = [v.get("name") for v in spec.get("versions") or () if v.get("served", True)]
        try:
            with anyio.fail_after(self.health_timeout):
                for version in versions:
                    while True:
                        try:
                            await self.applier.resource_for(f"{spec.get('group')}/{version}", kind)
                            break
                        except (RetryableError, NotFoundError):
                            await anyio.sleep(0.2)
        except TimeoutError:
            raise HealthError(
                f"{kind} is not served after {self.health_timeout:g} s",
                ref=ObjectRef.from_object(crd),
            ) from None

    async def _apply_wave(
        self,
        prepared: _Prepared,
        refs: Sequence[ObjectRef],
        outcomes: dict[ObjectRef, ObjectOutcome],
    ) -> None:
        async def one(ref: ObjectRef) -> None:
            diff = prepared.diffs[ref]
            m = prepared.desired[ref]
            force = object_policy(m) is not ObjectPolicy.MERGE
            origin = _origin(prepared, ref)
            try:
                result: ApplyResult = await self._apply_retrying(m, force=force)
            except ConflictError as exc:
                outcomes[ref] = ObjectOutcome(
                    ref, Outcome.CONFLICT, diff, message=exc.message, origin=origin
                )
                return
            except ApplyError as exc:
                outcomes[ref] = ObjectOutcome(
                    ref, Outcome.FAILED, diff, message=str(exc), origin=origin
                )
                return
            action = {
                Action.CREATED: Outcome.CREATED,
                Action.RECREATED: Outcome.CONFIGURED,
                Action.CONFIGURED: Outcome.CONFIGURED,
                Action.UNCHANGED: Outcome.UNCHANGED,
            }.get(result.action, Outcome.FAILED)
            outcomes[ref] = ObjectOutcome(
                ref,
                action,
                diff,
                message=result.message if action is Outcome.FAILED else "",
                origin=origin,
            )

        async def notified(ref: ObjectRef) -> None:
            async with self.limiter:
                await one(ref)
            self._notify("object", outcomes[ref])

        async with anyio.create_task_group() as tg:
            for ref in refs:
                tg.start_soon(notified, ref)

    async def _health(self, prepared: _Prepared, outcomes: dict[ObjectRef, ObjectOutcome]) -> None:
        refs = [
            r
            for r, o in outcomes.items()
            if o.outcome in (Outcome.CREATED, Outcome.CONFIGURED, Outcome.UNCHANGED)
        ]

        async def one(ref: ObjectRef) -> None:
            if self.wait:
                try:
                    health = await wait_for_status(
                        lambda: self._live(ref),
                        ref,
                        timeout=self.health_timeout,
                        interval=0.2,
                        checks=self.health_checks,
                    )
                except HealthError as exc:
                    health = compute(await self._live(ref), checks=self.health_checks)
                    outcomes[ref] = attrs.evolve(outcomes[ref], health=health, message=exc.message)
                    return
            else:
                health = compute(await self._live(ref), checks=self.health_checks)
            outcomes[ref] = attrs.evolve(outcomes[ref], health=health)

        async with anyio.create_task_group() as tg:
            for ref in refs:
                tg.start_soon(one, ref)

    async def _prune(
        self, prepared: _Prepared, outcomes: dict[ObjectRef, ObjectOutcome]
    ) -> frozenset[ObjectRef]:
        ok: list[ObjectRef] = []
        failed: list[ObjectRef] = []
        for ref in prepared.plan.prunes:
            live = await self._live(ref)
            if live is None:
                ok.append(ref)
                outcomes[ref] = ObjectOutcome(ref, Outcome.PRUNED, message="already gone")
                continue
            owner = other_applyset(live, self.parent)
            if owner is not None:
                ok.append(ref)
                outcomes[ref] = ObjectOutcome(
                    ref, Outcome.CONFLICT, message=f"not pruned: claimed by ApplySet {owner}"
                )
                continue
            if prune_disabled(live):
                await self._release(live)
                ok.append(ref)
                outcomes[ref] = ObjectOutcome(
                    ref, Outcome.RELEASED, message="prune disabled by annotation"
                )
                continue
            uid = (live.get("metadata") or {}).get("uid")
            try:
                result = await self._delete(ref, uid)
            except ApplyError as exc:
                failed.append(ref)
                outcomes[ref] = ObjectOutcome(ref, Outcome.FAILED, message=str(exc))
                continue
            if result.action is Action.FAILED:
                failed.append(ref)
                outcomes[ref] = ObjectOutcome(ref, Outcome.FAILED, message=result.message)
            else:
                ok.append(ref)
                outcomes[ref] = ObjectOutcome(ref, Outcome.PRUNED)
        return (await self.store.finish(ok, failed)).members

    async def _delete(self, ref: ObjectRef, uid: str | None) -> ApplyResult:
        params = inspect.signature(self.applier.delete).parameters
        if "uid" in params and uid:
            return await self.applier.delete(ref, propagation=self.propagation, uid=uid)  # type: ignore[call-arg]
        return await self.applier.delete(ref, propagation=self.propagation)

    async def _release(self, live: JSONObject) -> None:
        """Remove the part-of label from an object leaving the set unpruned."""
        meta = dict(live.get("metadata") or {})
        labels = dict(meta.get("labels") or {})
        if labels.pop(APPLYSET_PART_OF, None) is None:
            return
        meta["labels"] = labels
        meta.pop("managedFields", None)
        try:
            await self.applier.apply({**live, "metadata": meta}, mode=ApplyMode.REPLACE)
        except ApplyError as exc:
            log.warning(
                "could not remove the part-of label of %s: %s", ObjectRef.from_object(live), exc
            )

    async def _run_hooks(self, p: Plan, phase: HookPhase) -> None:
        for hook in p.hooks_for(phase):
            await self._run_hook(hook)

    async def _run_hook(self, hook: Hook) -> None:
        ref = hook.manifest.ref
        if (
            HookDeletePolicy.BEFORE_HOOK_CREATION in hook.delete_policies
            or not hook.delete_policies
        ) and await self._live(ref) is not None:
            await self.applier.delete(ref, propagation=Propagation.BACKGROUND)
            await wait_for_status(
                lambda: self._live(ref),
                ref,
                timeout=self.health_timeout,
                want=Status.NOT_FOUND,
                interval=0.1,
            )
        await self.applier.apply(hook.manifest.obj, force=True)
        try:
            await wait_for_status(
                lambda: self._live(ref),
                ref,
                timeout=self.health_timeout,
                interval=0.2,
                checks=self.health_checks,
            )
        except HealthError:
            if HookDeletePolicy.HOOK_FAILED in hook.delete_policies:
                await self.applier.delete(ref, propagation=Propagation.BACKGROUND)
            raise
        if HookDeletePolicy.HOOK_SUCCEEDED in hook.delete_policies:
            await self.applier.delete(ref, propagation=Propagation.BACKGROUND)

    def _finish(
        self,
        prepared: _Prepared,
        outcomes: dict[ObjectRef, ObjectOutcome],
        drift: tuple[ObjectDiff, ...],
        inventory: frozenset[ObjectRef],
        failure: ReconcileError | None,
        *,
        dry_run: bool,
    ) -> SyncResult:
        ordered = [outcomes[r] for r in _order(prepared, outcomes)]
        conflicts = [o for o in ordered if o.outcome is Outcome.CONFLICT]
        waiting = [
            o for o in ordered if o.health is not None and o.health.status is not Status.CURRENT
        ]
        drifted = [o for o in ordered if o.outcome is Outcome.DRIFTED]
        conds: list[ReconcileCondition]
        if failure is not None:
            conds = [
                condition("Ready", False, "ApplyFailed", str(failure)),
                condition("Reconciling", False, "ApplyFailed", "the pass failed"),
                condition("Stalled", True, "ApplyFailed", str(failure)),
            ]
        elif conflicts:
            msg = "; ".join(f"{o.ref}: {o.message}" for o in conflicts[:3])
            conds = [
                condition("Ready", False, "Conflict", msg),
                condition("Reconciling", False, "Conflict", "objects are claimed by others"),
                condition("Stalled", True, "Conflict", msg),
            ]
        elif dry_run:
            why = "DriftDetected" if drifted else "InSync"
            msg = f"{len(drifted)} objects differ" if drifted else "the cluster matches the source"
            conds = [
                condition("Ready", not drifted, why, msg),
                condition("Reconciling", False, why, "nothing was written"),
                condition("Stalled", False, why, msg),
            ]
        elif waiting:
            first = waiting[0]
            msg = f"{len(waiting)} objects not Current; {first.ref}: {first.health}"
            conds = [
                condition("Ready", False, "Progressing", msg),
                condition("Reconciling", True, "Progressing", msg),
                condition("Stalled", False, "Progressing", msg),
            ]
        else:
            msg = f"applied revision {prepared.revision}"
            conds = [
                condition("Ready", True, "ReconciliationSucceeded", msg),
                condition("Reconciling", False, "ReconciliationSucceeded", msg),
                condition("Stalled", False, "ReconciliationSucceeded", msg),
            ]
        return SyncResult(
            self.name,
            prepared.revision,
            tuple(conds),
            tuple(ordered),
            drift,
            inventory,
            error=failure,
            dry_run=dry_run,
        )

    # -- reporting ---------------------------------------------------------------

    def _log(self, result: SyncResult) -> None:
        ready = result.condition("Ready")
        log.info(
            "pass %s: %s",
            "ready" if result.ready else "not ready",
            ready.message if ready else "",
            extra={
                "reconciler": self.name,
                "revision": result.revision,
                "counts": result.counts(),
                "durations": dict(result.durations),
            },
        )

    async def _report(self, result: SyncResult, previous: SyncResult | None) -> None:
        # An event when something changed or the verdict did: a steady state writes nothing.
        ready, before = result.condition("Ready"), previous and previous.condition("Ready")
        changed = any(
            o.outcome not in (Outcome.UNCHANGED, Outcome.SKIPPED) for o in result.outcomes
        )
        verdict = (ready.status, ready.reason) if ready else None
        last = (before.status, before.reason) if before else None
        if self.events and not result.dry_run and (changed or verdict != last):
            await self._event(result)
        for callback in self.callbacks:
            try:
                value = callback(result)
                if inspect.isawaitable(value):
                    await value
            except Exception:
                log.exception("a result callback raised", extra={"reconciler": self.name})

    async def _event(self, result: SyncResult) -> None:
        ready = result.condition("Ready")
        if ready is None:
            return
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{self.parent.name}.{uuid.uuid4().hex[:16]}",
                "namespace": self.parent.namespace,
            },
            "involvedObject": {
                "apiVersion": "v1",
                "kind": self.parent.kind,
                "name": self.parent.name,
                "namespace": self.parent.namespace,
            },
            "reason": ready.reason,
            "message": ready.message[:1000],
            "type": "Normal" if ready.status == "True" or result.reconciling else "Warning",
            "source": {"component": "reconcile"},
            "reportingComponent": "reconcile",
            "reportingInstance": self.name,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            await self.applier.apply(event, mode=ApplyMode.CREATE)
        except (ReconcileError, OSError) as exc:
            log.debug("could not write an event: %s", exc)

    # -- the loop ----------------------------------------------------------------

    async def run(
        self,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
        watch: bool = True,
        max_passes: int | None = None,
    ) -> None:
        """Reconcile until cancelled: on the interval, on triggers, with backoff on failure.

        ``watch`` starts watches on the kinds of owned objects (a change by
        someone else triggers a pass). ``max_passes`` stops after that many
        passes (for tests and scripts). Cancel the enclosing scope to stop;
        a pass in progress is cancelled cleanly (the inventory protocol makes
        that safe).
        """
        failures = 0
        passes = 0
        async with anyio.create_task_group() as tg:
            if self.poll_interval is not None:
                tg.start_soon(self._poll_source)
            if watch:
                tg.start_soon(self._watch_owned)
            task_status.started()
            while max_passes is None or passes < max_passes:
                await self._resumed.wait()
                self._trigger = anyio.Event()
                result = await self.sync()
                passes += 1
                failures = failures + 1 if (result.stalled or result.error is not None) else 0
                delay = self.next_delay(failures)
                if max_passes is not None and passes >= max_passes:
                    break
                with anyio.move_on_after(delay):
                    await self._trigger.wait()
                    await anyio.sleep(0.2)  # coalesce a burst of triggers into one pass
            tg.cancel_scope.cancel()

    def next_delay(self, failures: int) -> float:
        """Seconds until the next pass after ``failures`` failed passes in a row.

        No failure: the interval, plus or minus ``jitter``. Failures: the first
        backoff delay doubled per failure, up to the largest.

        Example:

            >>> r = Reconciler.__new__(Reconciler)
            >>> r.interval, r.jitter, r.backoff = 60.0, 0.0, (1.0, 10.0)
            >>> [r.next_delay(n) for n in range(6)]
            [60.0, 1.0, 2.0, 4.0, 8.0, 10.0]
        """
        if failures:
            first, largest = self.backoff
            return float(min(largest, first * 2 ** (failures - 1)))
        spread = self.interval * self.jitter
        return self.interval + random.uniform(-spread, spread)  # noqa: S311 - jitter

    async def _poll_source(self) -> None:
        assert self.poll_interval is not None
        while True:
            await anyio.sleep(self.poll_interval)
            try:
                artifact = await self.source.fetch()
            except ReconcileError as exc:
                log.warning("polling the source failed: %s", exc, extra={"reconciler": self.name})
                continue
            revision = str(artifact.revision)
            if self._last_revision is not None and revision != self._last_revision:
                self.trigger(f"new revision {revision}")

    async def _watch_owned(self) -> None:
        watched: set[tuple[str, str]] = set()
        async with anyio.create_task_group() as tg:
            while True:
                result = self.last_result
                if result is not None:
                    for ref in result.inventory:
                        key = (ref.api_version, ref.kind)
                        if key not in watched:
                            watched.add(key)
                            tg.start_soon(self._watch_kind, key[0], key[1], result.inventory)
                await anyio.sleep(1.0)

    async def _watch_kind(self, api_version: str, kind: str, _: frozenset[ObjectRef]) -> None:
        manager = self.applier.field_manager
        try:
            async for event in self.applier.watch(api_version, kind):
                ref = ObjectRef.from_object(event.object)
                owned = self.last_result is not None and ref in self.last_result.inventory
                if not owned or self._lock.locked():
                    continue
                entries = [
                    e
                    for e in (event.object.get("metadata") or {}).get("managedFields") or []
                    if not e.get("subresource")  # controllers writing status are not drift
                ]
                latest: Mapping[str, Any] = max(
                    entries, key=lambda e: str(e.get("time", "")), default={}
                )
                if event.type == "DELETED" or latest.get("manager") != manager:
                    self.trigger(f"{event.type} {ref}")
        except Exception as exc:  # a broken watch must not stop the loop; passes go on
            log.warning("watch on %s %s ended: %s", api_version, kind, exc)

    async def serve_webhook(
        self,
        secret: bytes,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Receive push webhooks: a POST whose ``X-Hub-Signature-256`` is valid triggers a pass.

        Answers 202 to a valid signature, 401 otherwise; the secret is never logged.
        ``task_status.started`` gets the port listened on.
        """
        listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
        bound = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610
        task_status.started(bound)

        async def handle(stream: anyio.abc.SocketStream) -> None:
            async with stream:
                try:
                    with anyio.fail_after(10):
                        status = await self._webhook_request(stream, secret)
                except (TimeoutError, anyio.EndOfStream, anyio.BrokenResourceError, ValueError):
                    status = 400
                reason = {202: "Accepted", 401: "Unauthorized", 400: "Bad Request"}[status]
                with suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                    await stream.send(
                        f"HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\n"
                        "Connection: close\r\n\r\n".encode()
                    )

        async with listener:
            await listener.serve(handle)

    async def _webhook_request(self, stream: anyio.abc.SocketStream, secret: bytes) -> int:
        data = b""
        while b"\r\n\r\n" not in data:
            data += await stream.receive()
            if len(data) > 65536:
                raise ValueError("headers too large")
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method = lines[0].split(" ", 1)[0]
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])
        }
        length = int(headers.get("content-length", "0"))
        if length > 1 << 20:
            raise ValueError("body too large")
        while len(body) < length:
            body += await stream.receive()
        if method != "POST" or not verify_signature(
            secret, body[:length], headers.get("x-hub-signature-256")
        ):
            log.warning("webhook refused: bad signature", extra={"reconciler": self.name})
            return 401
        self.trigger("webhook")
        return 202


def _origin(prepared: _Prepared, ref: ObjectRef) -> Origin | None:
    if prepared.origins is None:
        prepared.origins = {m.ref: m.origin for m in prepared.manifests}
    return prepared.origins.get(ref)


async def sync_all(reconcilers: Sequence[Reconciler]) -> dict[str, SyncResult]:
    """One pass of each reconciler, in ``depends_on`` order (levels run concurrently).

    A reconciler whose dependency did not end Ready is not synced: its result
    is Stalled with the reason ``DependencyNotReady``.

    Raises:
        ConfigurationError: a dependency names an unknown reconciler.
        DependencyCycleError: the dependencies form a cycle.

    Example:

        >>> import anyio, pathlib, tempfile
        >>> from reconcile import InMemoryCluster, LocalSource, YamlRenderer
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> cm = "apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: c}\\n"
        >>> _ = (d / "cm.yaml").write_text(cm)
        >>> r = Reconciler("demo", LocalSource(d, cache_dir=tempfile.mkdtemp()), YamlRenderer(),
        ...                InMemoryCluster())
        >>> sorted(anyio.run(sync_all, [r]))
        ['demo']
    """
    by_name = {r.name: r for r in reconcilers}
    results: dict[str, SyncResult] = {}
    for level in order_reconcilers({r.name: r.depends_on for r in reconcilers}):

        async def one(name: str) -> None:
            r = by_name[name]
            waiting = [d for d in r.depends_on if not results[d].ready]
            if waiting:
                message = f"waiting for {', '.join(waiting)} to be Ready"
                results[name] = SyncResult(
                    name,
                    "",
                    (
                        condition("Ready", False, "DependencyNotReady", message),
                        condition("Reconciling", False, "DependencyNotReady", message),
                        condition("Stalled", True, "DependencyNotReady", message),
                    ),
                )
                return
            results[name] = await r.sync()

        async with anyio.create_task_group() as tg:
            for name in level:
                tg.start_soon(one, name)
    return results


def _versions(refs: Iterable[ObjectRef]) -> set[tuple[ObjectRef, str]]:
    return {(r, r.api_version) for r in refs}


def _order(prepared: _Prepared, outcomes: Mapping[ObjectRef, ObjectOutcome]) -> list[ObjectRef]:
    first = [r for r in prepared.plan.refs if r in outcomes]
    seen = set(first)
    return first + [r for r in outcomes if r not in seen]


class _ApplierObjects:
    """The inventory store's ObjectClient over an Applier."""

    def __init__(self, applier: Applier) -> None:
        self.applier = applier

    async def get(self, ref: ObjectRef) -> JSONObject | None:
        return await self.applier.get(ref)

    async def apply(self, obj: JSONObject) -> JSONObject:
        result = await self.applier.apply(obj, force=True)
        result.raise_for_error()
        return result.object or obj

    async def delete(self, ref: ObjectRef) -> None:
        await self.applier.delete(ref)
