"""What a reconciler reports: plans, per-object outcomes and sync results.

A :class:`ReconcilePlan` is what :meth:`Reconciler.plan` returns (no write was
made): the objects to create, to change (with their diffs), to prune, and the
conflicts. A :class:`SyncResult` is the report of one pass: the revision,
kstatus-style conditions (``Ready``, ``Reconciling``, ``Stalled``), one
:class:`ObjectOutcome` per object, the drift found, the inventory and the time
spent in each phase. Both render as JSON (``to_json``) and in notebooks
(``_repr_html_``).

Example:

    >>> from reconcile.objects import ObjectRef
    >>> from reconcile.engine.results import Outcome, ObjectOutcome, SyncResult, condition
    >>> r = SyncResult(
    ...     name="shop", revision="main@sha1:abc",
    ...     conditions=(condition("Ready", True, "Succeeded", "applied 1 object"),),
    ...     outcomes=(ObjectOutcome(ObjectRef("v1", "ConfigMap", "cfg", "shop"), Outcome.CREATED),),
    ... )
    >>> r.ready, r.stalled, r.counts()
    (True, False, {'created': 1})
    >>> r.to_json()["conditions"][0]["type"]
    'Ready'
"""

from __future__ import annotations

import enum
import html
from collections.abc import Mapping
from typing import Any

import attrs

from reconcile.diff import ObjectDiff
from reconcile.engine.health import HealthResult, Status
from reconcile.errors import ReconcileError
from reconcile.objects import ObjectRef, Origin

__all__ = [
    "ConditionStatus",
    "ObjectOutcome",
    "Outcome",
    "ReconcileCondition",
    "ReconcilePlan",
    "SyncResult",
    "condition",
]


class Outcome(enum.Enum):
    """What a pass did (or, in a plan or a report-only pass, would do) to one object.

    Example:

        >>> Outcome("drifted") is Outcome.DRIFTED
        True
    """

    CREATED = "created"
    CONFIGURED = "configured"
    UNCHANGED = "unchanged"
    PRUNED = "pruned"
    #: Differs from the desired state and was not written (report-only, dry run).
    DRIFTED = "drifted"
    #: Claimed by another reconciler (ApplySet) or owned by another field manager.
    CONFLICT = "conflict"
    #: Left alone by policy (``ignore``, ``create-only`` on an existing object).
    SKIPPED = "skipped"
    #: Protected from pruning (``reconcile.dev/prune: disabled``): forgotten, not deleted.
    RELEASED = "released"
    FAILED = "failed"


ConditionStatus = str


@attrs.frozen
class ReconcileCondition:
    """A kstatus-style condition of a reconciler (``Ready``, ``Reconciling``, ``Stalled``).

    Example:

        >>> ReconcileCondition("Ready", "True", "Succeeded", "applied r1").to_json()["status"]
        'True'
    """

    type: str
    status: ConditionStatus
    reason: str
    message: str

    def to_json(self) -> dict[str, str]:
        """The condition as Kubernetes writes one."""
        return {
            "type": self.type,
            "status": self.status,
            "reason": self.reason,
            "message": self.message,
        }


def condition(type_: str, status: bool, reason: str, message: str) -> ReconcileCondition:
    """A condition with ``status`` ``"True"`` or ``"False"``.

    Example:

        >>> condition("Stalled", False, "Succeeded", "")
        ReconcileCondition(type='Stalled', status='False', reason='Succeeded', message='')
    """
    return ReconcileCondition(type_, "True" if status else "False", reason, message)


@attrs.frozen
class ObjectOutcome:
    """What happened to one object in a pass.

    Attributes:
        ref: the object.
        outcome: what was done.
        diff: the diff that decided it (None when not computed, e.g. a prune).
        health: the live object's health after the pass, when checked.
        message: details for humans (the error, the conflicting owner...).
        origin: where the desired manifest came from.

    Example:

        >>> from reconcile.objects import ObjectRef
        >>> o = ObjectOutcome(ObjectRef("v1", "ConfigMap", "c", "d"), Outcome.CREATED)
        >>> o.to_json()["outcome"]
        'created'
    """

    ref: ObjectRef
    outcome: Outcome
    diff: ObjectDiff | None = None
    health: HealthResult | None = None
    message: str = ""
    origin: Origin | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-compatible summary (with the structured field changes; Secrets masked)."""
        out: dict[str, Any] = {
            "ref": _ref_json(self.ref),
            "outcome": self.outcome.value,
        }
        if self.message:
            out["message"] = self.message
        if self.origin is not None:
            out["origin"] = str(self.origin)
        if self.health is not None:
            out["health"] = {"status": self.health.status.value, "message": self.health.message}
            if self.health.reason:
                out["health"]["reason"] = self.health.reason
        if self.diff is not None and self.diff.changes:
            out["changes"] = self.diff.to_json()["changes"]  # Secret values masked
        return out


def _ref_json(ref: ObjectRef) -> dict[str, str]:
    out = {"apiVersion": ref.api_version, "kind": ref.kind, "name": ref.name}
    if ref.namespace:
        out["namespace"] = ref.namespace
    return out


@attrs.frozen
class ReconcilePlan:
    """What a sync would do now; computed without writing anything.

    Attributes:
        revision: the source revision the plan was made from.
        creates: diffs of objects that do not exist yet.
        changes: diffs of objects that exist and differ.
        unchanged: objects already in sync.
        prunes: objects in the inventory and no longer desired, in prune order.
        conflicts: objects another reconciler claims, with the reason.
        skipped: objects left alone by their policy annotation.

    Example:

        >>> ReconcilePlan("main@sha1:1a2b").in_sync
        True
        >>> sorted(ReconcilePlan("main@sha1:1a2b").to_json())[:3]
        ['changes', 'conflicts', 'creates']
    """

    revision: str
    creates: tuple[ObjectDiff, ...] = ()
    changes: tuple[ObjectDiff, ...] = ()
    unchanged: tuple[ObjectRef, ...] = ()
    prunes: tuple[ObjectRef, ...] = ()
    conflicts: tuple[tuple[ObjectRef, str], ...] = ()
    skipped: tuple[ObjectRef, ...] = ()

    @property
    def in_sync(self) -> bool:
        """Nothing to create, change or prune."""
        return not (self.creates or self.changes or self.prunes)

    def to_json(self) -> dict[str, Any]:
        """The plan for machines: each diff with its field changes."""
        return {
            "revision": self.revision,
            "inSync": self.in_sync,
            "creates": [d.to_json() for d in self.creates],
            "changes": [d.to_json() for d in self.changes],
            "unchanged": [_ref_json(r) for r in self.unchanged],
            "prunes": [_ref_json(r) for r in self.prunes],
            "conflicts": [{"ref": _ref_json(r), "message": m} for r, m in self.conflicts],
            "skipped": [_ref_json(r) for r in self.skipped],
        }

    def _repr_html_(self) -> str:
        rows = [f"<b>plan</b> at <code>{html.escape(self.revision)}</code>"]
        rows.append(
            f"<p>{len(self.creates)} to create, {len(self.changes)} to change, "
            f"{len(self.prunes)} to prune, {len(self.unchanged)} unchanged, "
            f"{len(self.conflicts)} conflicts</p>"
        )
        for d in (*self.creates, *self.changes):
            rows.append(d._repr_html_())
        if self.prunes:
            items = "".join(f"<li>{html.escape(str(r))}</li>" for r in self.prunes)
            rows.append(f"<p>prune:</p><ul>{items}</ul>")
        if self.conflicts:
            items = "".join(
                f"<li>{html.escape(str(r))}: {html.escape(m)}</li>" for r, m in self.conflicts
            )
            rows.append(f"<p>conflicts:</p><ul>{items}</ul>")
        return "<div>" + "".join(rows) + "</div>"


_COLOURS: Mapping[Outcome, str] = {
    Outcome.CREATED: "#2e7d32",
    Outcome.CONFIGURED: "#1565c0",
    Outcome.PRUNED: "#6a1b9a",
    Outcome.DRIFTED: "#ef6c00",
    Outcome.CONFLICT: "#c62828",
    Outcome.FAILED: "#c62828",
}


@attrs.frozen
class SyncResult:
    """The report of one pass.

    Attributes:
        name: the reconciler's name.
        revision: the source revision applied (or attempted); "" when the fetch failed.
        conditions: ``Ready``, ``Reconciling`` and ``Stalled``, kstatus style.
        outcomes: one entry per desired, pruned or conflicting object.
        drift: diffs of objects found different from the desired state before
            the pass (healed in self-heal mode, only reported in report-only mode).
        inventory: the inventory stored after the pass.
        durations: seconds spent per phase (``fetch``, ``render``, ``plan``,
            ``apply``, ``health``, ``prune``, ``total``).
        error: the error that stopped the pass, if any.
        dry_run: True when nothing was written.

    Example:

        >>> result = SyncResult("shop", "main@sha1:1a2b",
        ...                     (condition("Ready", True, "Succeeded", "applied"),))
        >>> result.ready, result.stalled, result.counts()
        (True, False, {})
    """

    name: str
    revision: str
    conditions: tuple[ReconcileCondition, ...] = ()
    outcomes: tuple[ObjectOutcome, ...] = ()
    drift: tuple[ObjectDiff, ...] = ()
    inventory: frozenset[ObjectRef] = frozenset()
    durations: Mapping[str, float] = attrs.field(factory=dict)
    error: ReconcileError | None = None
    dry_run: bool = False

    def condition(self, type_: str) -> ReconcileCondition | None:
        """The condition of that type, or None."""
        return next((c for c in self.conditions if c.type == type_), None)

    def _is(self, type_: str) -> bool:
        c = self.condition(type_)
        return c is not None and c.status == "True"

    @property
    def ready(self) -> bool:
        """The ``Ready`` condition is True: applied, pruned, and every object Current."""
        return self._is("Ready")

    @property
    def stalled(self) -> bool:
        """The ``Stalled`` condition is True: the pass failed and will not succeed unchanged."""
        return self._is("Stalled")

    @property
    def reconciling(self) -> bool:
        """The ``Reconciling`` condition is True: objects are still becoming Current."""
        return self._is("Reconciling")

    @property
    def failed(self) -> bool:
        """An error stopped the pass, or an object failed or conflicted."""
        return self.error is not None or any(
            o.outcome in (Outcome.FAILED, Outcome.CONFLICT) for o in self.outcomes
        )

    def counts(self) -> dict[str, int]:
        """How many objects had each outcome."""
        out: dict[str, int] = {}
        for o in self.outcomes:
            out[o.outcome.value] = out.get(o.outcome.value, 0) + 1
        return out

    def unhealthy(self) -> tuple[ObjectOutcome, ...]:
        """Outcomes whose object is not Current."""
        return tuple(
            o
            for o in self.outcomes
            if o.health is not None and o.health.status is not Status.CURRENT
        )

    def to_json(self) -> dict[str, Any]:
        """The result for machines (no secret values: diffs are structured changes)."""
        out: dict[str, Any] = {
            "name": self.name,
            "revision": self.revision,
            "dryRun": self.dry_run,
            "conditions": [c.to_json() for c in self.conditions],
            "counts": self.counts(),
            "objects": [o.to_json() for o in self.outcomes],
            "drift": [d.to_json() for d in self.drift],
            "inventory": [_ref_json(r) for r in sorted(self.inventory, key=str)],
            "durations": {k: round(v, 6) for k, v in self.durations.items()},
        }
        if self.error is not None:
            out["error"] = str(self.error)
        return out

    def _repr_html_(self) -> str:
        conds = " ".join(
            f"<span title='{html.escape(c.message)}'><b>{c.type}</b>={c.status} "
            f"({html.escape(c.reason)})</span>"
            for c in self.conditions
        )
        rows = "".join(
            "<tr>"
            f"<td>{html.escape(str(o.ref))}</td>"
            f"<td style='color:{_COLOURS.get(o.outcome, 'inherit')}'>{o.outcome.value}</td>"
            f"<td>{html.escape(str(o.health) if o.health else '')}</td>"
            f"<td>{html.escape(o.message)}</td>"
            "</tr>"
            for o in self.outcomes
        )
        phases = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in self.durations.items())
        error = f"<p style='color:#c62828'>{html.escape(str(self.error))}</p>" if self.error else ""
        return (
            f"<div><b>{html.escape(self.name)}</b> at <code>{html.escape(self.revision)}</code>"
            f"<p>{conds}</p>{error}<table><tr><th>object</th><th>outcome</th><th>health</th>"
            f"<th>message</th></tr>{rows}</table><p>{len(self.inventory)} objects in the "
            f"inventory; {html.escape(phases)}</p></div>"
        )
