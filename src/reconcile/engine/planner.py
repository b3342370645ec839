"""The planner: in which order to apply and prune a set of manifests.

A pure function, :func:`plan`, turns desired :class:`~reconcile.objects.Manifest`
objects (and the references to prune) into a typed :class:`Plan`:

1. **Stages.** ``foundation`` — CustomResourceDefinitions, Namespaces and
   ClusterRoles; then ``classes`` — every kind whose name ends in ``Class``
   (StorageClass, IngressClass, PriorityClass, GatewayClass, ...); then
   ``resources`` — everything else in a fixed kind order: policies and quotas,
   ServiceAccounts, Roles and bindings, Secrets and ConfigMaps, storage, Services,
   workloads, then unknown kinds (custom resources), admission webhooks last.
   Between stages the applier waits for what :attr:`Stage.wait_for` lists:
   CRDs ``Established`` and Namespaces ``Active``.
2. **Waves.** Inside a stage, objects are grouped by their
   ``reconcile.dev/sync-wave`` annotation, lowest first; inside a wave by kind
   order, then namespace and name, so a plan is deterministic.
3. **Hooks.** Objects annotated ``reconcile.dev/hook`` are not part of the stages:
   they are listed by phase (pre-sync, post-sync, on-failure) with their delete
   policies, ordered by wave then kind and name.
4. **Prunes.** References to delete, in the reverse of the apply order.

:func:`order_reconcilers` sorts reconcilers by their ``dependsOn`` into levels
that can run concurrently, and reports a cycle as an error.

Example:

    >>> from reconcile.objects import Manifest
    >>> from reconcile.engine.planner import plan
    >>> def obj(kind, name, api="v1", ns=None, **ann):
    ...     meta = {"name": name, "annotations": ann}
    ...     if ns:
    ...         meta["namespace"] = ns
    ...     return Manifest({"apiVersion": api, "kind": kind, "metadata": meta})
    >>> p = plan([
    ...     obj("Deployment", "web", "apps/v1", "shop"),
    ...     obj("ConfigMap", "cfg", ns="shop"),
    ...     obj("Namespace", "shop"),
    ...     obj("Job", "migrate", "batch/v1", "shop", **{"reconcile.dev/hook": "pre-sync"}),
    ... ], prune=[ObjectRef("v1", "Service", "old", "shop")])
    >>> for stage in p.stages:
    ...     print(stage.name.value, [[str(m.ref) for m in w.manifests] for w in stage.waves],
    ...           [str(w) for w in stage.wait_for])
    foundation [['Namespace shop']] ['Namespace shop is Active']
    resources [['ConfigMap shop/cfg', 'apps/Deployment shop/web']] []
    >>> [str(h.manifest.ref) for h in p.hooks_for(HookPhase.PRE_SYNC)]
    ['batch/Job shop/migrate']
    >>> [str(r) for r in p.prunes]
    ['Service shop/old']
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Mapping, Sequence

import attrs

from reconcile.engine.annotations import (
    HookDeletePolicy,
    HookPhase,
    hook_delete_policies,
    hook_phases,
    sync_wave,
)
from reconcile.errors import ConfigurationError, DuplicateObjectError, PruneRefusedError
from reconcile.objects import Manifest, ObjectRef

__all__ = [
    "DependencyCycleError",
    "Hook",
    "HookDeletePolicy",
    "HookPhase",
    "Plan",
    "Stage",
    "StageName",
    "Wait",
    "WaitCondition",
    "Wave",
    "guard_prunes",
    "kind_rank",
    "order_reconcilers",
    "plan",
    "stage_of",
]

_CRD = ("apiextensions.k8s.io", "CustomResourceDefinition")
_NAMESPACE = ("", "Namespace")
_RBAC = "rbac.authorization.k8s.io"
_ADMISSION = "admissionregistration.k8s.io"


class StageName(enum.Enum):
    """The three stages, in apply order.

    Example:

        >>> [s.value for s in StageName]
        ['foundation', 'classes', 'resources']
    """

    FOUNDATION = "foundation"
    CLASSES = "classes"
    RESOURCES = "resources"


_FOUNDATION_ORDER: tuple[tuple[str, str], ...] = (_CRD, _NAMESPACE, (_RBAC, "ClusterRole"))

# The fixed order of the `resources` stage, by (group, kind). Unknown kinds go
# between the workloads and the admission webhooks.
_RESOURCE_ORDER: tuple[tuple[str, str], ...] = (
    ("networking.k8s.io", "NetworkPolicy"),
    ("", "ResourceQuota"),
    ("", "LimitRange"),
    ("scheduling.k8s.io", "PriorityClass"),  # also caught by the `classes` stage
    ("", "ServiceAccount"),
    (_RBAC, "Role"),
    (_RBAC, "ClusterRoleBinding"),
    (_RBAC, "RoleBinding"),
    ("", "Secret"),
    ("", "ConfigMap"),
    ("", "PersistentVolume"),
    ("", "PersistentVolumeClaim"),
    ("", "Service"),
    ("", "Endpoints"),
    ("discovery.k8s.io", "EndpointSlice"),
    ("", "Pod"),
    ("", "ReplicationController"),
    ("apps", "ReplicaSet"),
    ("apps", "Deployment"),
    ("apps", "StatefulSet"),
    ("apps", "DaemonSet"),
    ("batch", "Job"),
    ("batch", "CronJob"),
    ("autoscaling", "HorizontalPodAutoscaler"),
    ("policy", "PodDisruptionBudget"),
    ("networking.k8s.io", "Ingress"),
    ("apiregistration.k8s.io", "APIService"),
)
_LAST_ORDER: tuple[tuple[str, str], ...] = (
    (_ADMISSION, "ValidatingAdmissionPolicy"),
    (_ADMISSION, "ValidatingAdmissionPolicyBinding"),
    (_ADMISSION, "MutatingAdmissionPolicy"),
    (_ADMISSION, "MutatingAdmissionPolicyBinding"),
    (_ADMISSION, "MutatingWebhookConfiguration"),
    (_ADMISSION, "ValidatingWebhookConfiguration"),
)
_RANK: dict[tuple[str, str], int] = {
    gk: i for i, gk in enumerate(_FOUNDATION_ORDER + _RESOURCE_ORDER)
}
_UNKNOWN_RANK = len(_RANK)
_RANK.update({gk: _UNKNOWN_RANK + 1 + i for i, gk in enumerate(_LAST_ORDER)})


def stage_of(ref: ObjectRef) -> StageName:
    """The stage an object belongs to.

    >>> stage_of(ObjectRef("storage.k8s.io/v1", "StorageClass", "fast"))
    <StageName.CLASSES: 'classes'>
    """
    if (ref.group, ref.kind) in _FOUNDATION_ORDER:
        return StageName.FOUNDATION
    if ref.kind.endswith("Class"):
        return StageName.CLASSES
    return StageName.RESOURCES


def kind_rank(ref: ObjectRef) -> int:
    """The position of the object's kind in the fixed order (lower applies first).

    Unknown kinds (custom resources) share one rank after the workloads and
    before the admission webhooks.

    >>> cm, deploy = ObjectRef("v1", "ConfigMap", "a"), ObjectRef("apps/v1", "Deployment", "a")
    >>> kind_rank(cm) < kind_rank(deploy)
    True
    """
    return _RANK.get((ref.group, ref.kind), _UNKNOWN_RANK)


_Key = tuple[int, str, str, str, str]


def _sort_key(ref: ObjectRef) -> _Key:
    return (kind_rank(ref), ref.group, ref.kind, ref.namespace or "", ref.name)


class WaitCondition(enum.Enum):
    """What the applier waits for at the end of a stage.

    Example:

        >>> WaitCondition.ESTABLISHED.value
        'Established'
    """

    #: A CustomResourceDefinition's ``Established`` condition is True.
    ESTABLISHED = "Established"
    #: A Namespace's ``status.phase`` is ``Active``.
    ACTIVE = "Active"


@attrs.frozen
class Wait:
    """Wait for ``ref`` to reach ``condition`` before the next stage.

    Example:

        >>> from reconcile.objects import Manifest
        >>> crd = Manifest({"apiVersion": "apiextensions.k8s.io/v1",
        ...                 "kind": "CustomResourceDefinition",
        ...                 "metadata": {"name": "widgets.example.com"}})
        >>> cm = Manifest({"apiVersion": "v1", "kind": "ConfigMap",
        ...                "metadata": {"name": "c", "namespace": "d"}})
        >>> p = plan([cm, crd])
        >>> [str(w) for w in p.stages[0].wait_for]
        ['apiextensions.k8s.io/CustomResourceDefinition widgets.example.com is Established']
    """

    ref: ObjectRef
    condition: WaitCondition

    def __str__(self) -> str:
        return f"{self.ref} is {self.condition.value}"


@attrs.frozen
class Wave:
    """Objects applied together; the next wave starts when these are applied and healthy.

    Example:

        >>> from reconcile.objects import Manifest
        >>> crd = Manifest({"apiVersion": "apiextensions.k8s.io/v1",
        ...                 "kind": "CustomResourceDefinition",
        ...                 "metadata": {"name": "widgets.example.com"}})
        >>> cm = Manifest({"apiVersion": "v1", "kind": "ConfigMap",
        ...                "metadata": {"name": "c", "namespace": "d"}})
        >>> p = plan([cm, crd])
        >>> wave = p.stages[1].waves[0]
        >>> wave.number, [str(m.ref) for m in wave.manifests]
        (0, ['ConfigMap d/c'])
    """

    number: int
    manifests: tuple[Manifest, ...]


@attrs.frozen
class Stage:
    """One stage: its waves in order, and what to wait for before the next stage.

    Example:

        >>> from reconcile.objects import Manifest
        >>> crd = Manifest({"apiVersion": "apiextensions.k8s.io/v1",
        ...                 "kind": "CustomResourceDefinition",
        ...                 "metadata": {"name": "widgets.example.com"}})
        >>> cm = Manifest({"apiVersion": "v1", "kind": "ConfigMap",
        ...                "metadata": {"name": "c", "namespace": "d"}})
        >>> p = plan([cm, crd])
        >>> [(s.name.value, len(s.manifests)) for s in p.stages]
        [('foundation', 1), ('resources', 1)]
    """

    name: StageName
    waves: tuple[Wave, ...]
    wait_for: tuple[Wait, ...]

    @property
    def manifests(self) -> tuple[Manifest, ...]:
        """Every manifest of the stage, in apply order."""
        return tuple(m for wave in self.waves for m in wave.manifests)


@attrs.frozen
class Hook:
    """A hook object: when it runs, and when it is deleted.

    Example:

        >>> from reconcile.objects import Manifest
        >>> job = Manifest({"apiVersion": "batch/v1", "kind": "Job",
        ...                 "metadata": {"name": "migrate", "namespace": "d",
        ...                              "annotations": {"reconcile.dev/hook": "pre-sync"}}})
        >>> (hook,) = plan([job]).hooks
        >>> hook.phases, hook.wave
        ((<HookPhase.PRE_SYNC: 'pre-sync'>,), 0)
    """

    manifest: Manifest
    phases: tuple[HookPhase, ...]
    delete_policies: frozenset[HookDeletePolicy]
    wave: int


@attrs.frozen
class Plan:
    """The ordered work of one sync.

    Attributes:
        stages: the stages that have objects, in apply order.
        hooks: every hook, ordered by wave, kind and name.
        prunes: references to delete, in reverse apply order.

    Example:

        >>> from reconcile.objects import Manifest
        >>> crd = Manifest({"apiVersion": "apiextensions.k8s.io/v1",
        ...                 "kind": "CustomResourceDefinition",
        ...                 "metadata": {"name": "widgets.example.com"}})
        >>> cm = Manifest({"apiVersion": "v1", "kind": "ConfigMap",
        ...                "metadata": {"name": "c", "namespace": "d"}})
        >>> p = plan([cm, crd])
        >>> [str(r) for r in p.refs]
        ['apiextensions.k8s.io/CustomResourceDefinition widgets.example.com', 'ConfigMap d/c']
    """

    stages: tuple[Stage, ...]
    hooks: tuple[Hook, ...]
    prunes: tuple[ObjectRef, ...]

    @property
    def manifests(self) -> tuple[Manifest, ...]:
        """Every non-hook manifest, in apply order."""
        return tuple(m for stage in self.stages for m in stage.manifests)

    @property
    def refs(self) -> tuple[ObjectRef, ...]:
        """The references of :attr:`manifests`: what the inventory records."""
        return tuple(m.ref for m in self.manifests)

    def hooks_for(self, phase: HookPhase) -> tuple[Hook, ...]:
        """The hooks that run in ``phase``, in order."""
        return tuple(h for h in self.hooks if phase in h.phases)


def _wait_for(refs: Iterable[ObjectRef]) -> tuple[Wait, ...]:
    waits: list[Wait] = []
    for ref in refs:
        gk = (ref.group, ref.kind)
        if gk == _CRD:
            waits.append(Wait(ref, WaitCondition.ESTABLISHED))
        elif gk == _NAMESPACE:
            waits.append(Wait(ref, WaitCondition.ACTIVE))
    return tuple(waits)


def plan(manifests: Iterable[Manifest], *, prune: Iterable[ObjectRef | Manifest] = ()) -> Plan:
    """Order ``manifests`` into stages, waves and hooks, and ``prune`` in reverse.

    ``prune`` takes references, or live objects as manifests (whose
    ``sync-wave`` annotation then orders them too). References that are also
    desired are not pruned. Identity includes the namespace, so default the
    namespaces of namespaced manifests *before* planning: a desired object
    without its namespace does not match its inventory entry.

    Raises:
        ManifestValidationError: an annotation value is invalid (the error names
            the object, its origin and the annotation).
        DuplicateObjectError: two manifests have the same identity.

    Example:

        >>> from reconcile.objects import Manifest
        >>> crd = Manifest({"apiVersion": "apiextensions.k8s.io/v1",
        ...                 "kind": "CustomResourceDefinition",
        ...                 "metadata": {"name": "widgets.example.com"}})
        >>> cm = Manifest({"apiVersion": "v1", "kind": "ConfigMap",
        ...                "metadata": {"name": "c", "namespace": "d"}})
        >>> p = plan([cm, crd])
        >>> from reconcile.objects import ObjectRef
        >>> old = ObjectRef("v1", "Secret", "gone", "d")
        >>> [str(r) for r in plan([cm, crd], prune=[old]).prunes]
        ['Secret d/gone']
    """
    seen: dict[ObjectRef, Manifest] = {}
    grouped: dict[StageName, dict[int, list[tuple[_Key, ObjectRef, Manifest]]]] = {}
    hooks: list[tuple[tuple[int, _Key], Hook]] = []
    for m in manifests:
        ref = m.ref
        if ref in seen:
            raise DuplicateObjectError(
                "the same object is declared twice",
                origin=m.origin,
                ref=ref,
                other=seen[ref].origin,
            )
        seen[ref] = m
        wave = sync_wave(m)
        phases = hook_phases(m)
        if phases:
            hook = Hook(m, phases, hook_delete_policies(m), wave)
            hooks.append(((wave, _sort_key(ref)), hook))
            continue
        entry = (_sort_key(ref), ref, m)
        grouped.setdefault(stage_of(ref), {}).setdefault(wave, []).append(entry)

    stages: list[Stage] = []
    for name in StageName:
        by_wave = grouped.get(name)
        if not by_wave:
            continue
        ordered = {number: sorted(by_wave[number], key=lambda e: e[0]) for number in by_wave}
        waves = tuple(
            Wave(number, tuple(m for _, _, m in ordered[number])) for number in sorted(ordered)
        )
        refs = [ref for number in sorted(ordered) for _, ref, _ in ordered[number]]
        stages.append(Stage(name, waves, _wait_for(refs)))

    keyed: dict[ObjectRef, tuple[int, int, _Key]] = {}
    stage_index = {name: i for i, name in enumerate(StageName)}
    for item in prune:
        if isinstance(item, Manifest):
            ref, wave = item.ref, sync_wave(item)
        else:
            ref, wave = item, 0
        if ref in seen:
            continue
        keyed[ref] = (stage_index[stage_of(ref)], wave, _sort_key(ref))
    prunes = tuple(sorted(keyed, key=lambda r: keyed[r], reverse=True))

    hooks.sort(key=lambda pair: pair[0])
    return Plan(tuple(stages), tuple(h for _, h in hooks), prunes)


def guard_prunes(p: Plan, *, allow_empty: bool = False) -> None:
    """Refuse a plan that would prune everything because nothing is desired.

    An empty render is far more often a mistake (a wrong path, a broken
    generator) than an intent, so a plan with prunes and no desired object is
    refused unless ``allow_empty`` is set. (A failed fetch or render never
    reaches the planner: no plan, no prune.)

    Raises:
        PruneRefusedError: nothing is desired, something would be pruned, and
            ``allow_empty`` is false; the message counts and names the first prunes.

    >>> guard_prunes(plan([], prune=[ObjectRef("v1", "ConfigMap", "a", "x")]))
    Traceback (most recent call last):
    ...
    reconcile.errors.PruneRefusedError: the desired set is empty: refusing to prune 1 object \
(ConfigMap x/a); allow an empty set to prune them
    """
    if p.prunes and not p.manifests and not allow_empty:
        first = ", ".join(str(r) for r in p.prunes[:3]) + (", ..." if len(p.prunes) > 3 else "")
        count = f"{len(p.prunes)} object" + ("s" if len(p.prunes) != 1 else "")
        raise PruneRefusedError(
            f"the desired set is empty: refusing to prune {count} ({first}); "
            "allow an empty set to prune them"
        )


class DependencyCycleError(ConfigurationError):
    """Reconcilers depend on each other in a cycle; ``cycle`` lists it in order.

    Attributes:
        cycle: the names in the cycle, the first repeated at the end.

    Example:

        >>> try:
        ...     order_reconcilers({"a": ["b"], "b": ["a"]})
        ... except DependencyCycleError as err:
        ...     print(err.cycle)
        ('a', 'b', 'a')
    """

    def __init__(self, cycle: Sequence[str]) -> None:
        self.cycle: tuple[str, ...] = tuple(cycle)
        super().__init__("dependsOn has a cycle: " + " -> ".join(self.cycle))


def order_reconcilers(depends_on: Mapping[str, Collection[str]]) -> list[list[str]]:
    """Sort reconcilers into levels: each depends only on earlier levels.

    ``depends_on`` maps each reconciler's name to the names it depends on.
    Reconcilers in one level may run concurrently; each level is sorted by name.

    Raises:
        ConfigurationError: a dependency names an unknown reconciler.
        DependencyCycleError: the dependencies form a cycle (named in order).

    >>> order_reconcilers({"apps": ["infra"], "infra": [], "monitoring": ["infra"]})
    [['infra'], ['apps', 'monitoring']]
    >>> order_reconcilers({"a": ["b"], "b": ["c"], "c": ["a"]})
    Traceback (most recent call last):
    ...
    reconcile.engine.planner.DependencyCycleError: dependsOn has a cycle: a -> b -> c -> a
    """
    for name, deps in depends_on.items():
        for dep in deps:
            if dep not in depends_on:
                raise ConfigurationError(f"reconciler {name!r} depends on unknown {dep!r}")
    remaining = {name: set(deps) - {name} for name, deps in depends_on.items()}
    for name, deps in depends_on.items():
        if name in deps:
            raise DependencyCycleError([name, name])
    levels: list[list[str]] = []
    done: set[str] = set()
    while remaining:
        ready = sorted(n for n, deps in remaining.items() if deps <= done)
        if not ready:
            raise DependencyCycleError(_find_cycle(remaining))
        levels.append(ready)
        done.update(ready)
        for n in ready:
            del remaining[n]
    return levels


def _find_cycle(graph: Mapping[str, Collection[str]]) -> list[str]:
    # Every node left has a dependency left, so walking from the smallest name
    # must revisit a node; the walk from that node is the cycle.
    start = min(graph)
    path: list[str] = []
    index: dict[str, int] = {}
    node = start
    while node not in index:
        index[node] = len(path)
        path.append(node)
        node = min(d for d in graph[node] if d in graph)
    return [*path[index[node] :], node]
