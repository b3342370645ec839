"""The engine composes the loop: planner, inventory, health and the Reconciler.

Its building blocks are pure where they can be: :mod:`~reconcile.engine.annotations`
(every key the engine reads or writes), :mod:`~reconcile.engine.planner` (apply and
prune order), :mod:`~reconcile.engine.health` (kstatus) and
:mod:`~reconcile.engine.inventory` (the ApplySet-compatible record of what a
reconciler owns). :mod:`~reconcile.engine.reconciler` composes them with a
Source, a Renderer, a Differ and an Applier into :class:`Reconciler`;
:mod:`~reconcile.engine.results` holds what it reports and
:mod:`~reconcile.engine.blocking` the blocking facade for scripts and notebooks.
"""

from reconcile.engine.annotations import HookDeletePolicy, HookPhase, ObjectPolicy
from reconcile.engine.blocking import BlockingReconciler
from reconcile.engine.health import (
    HealthCheck,
    HealthChecks,
    HealthResult,
    Status,
    wait_for_status,
)
from reconcile.engine.inventory import (
    ApplySetParent,
    Inventory,
    InventoryError,
    InventoryStore,
    ObjectClient,
)
from reconcile.engine.planner import (
    DependencyCycleError,
    Hook,
    Plan,
    Stage,
    StageName,
    Wait,
    WaitCondition,
    Wave,
    guard_prunes,
    order_reconcilers,
    plan,
)
from reconcile.engine.reconciler import (
    Callback,
    DriftMode,
    Reconciler,
    sync_all,
    verify_signature,
)
from reconcile.engine.results import (
    ObjectOutcome,
    Outcome,
    ReconcileCondition,
    ReconcilePlan,
    SyncResult,
)

__all__ = [
    "ApplySetParent",
    "BlockingReconciler",
    "Callback",
    "DependencyCycleError",
    "DriftMode",
    "HealthCheck",
    "HealthChecks",
    "HealthResult",
    "Hook",
    "HookDeletePolicy",
    "HookPhase",
    "Inventory",
    "InventoryError",
    "InventoryStore",
    "ObjectClient",
    "ObjectOutcome",
    "ObjectPolicy",
    "Outcome",
    "Plan",
    "ReconcileCondition",
    "ReconcilePlan",
    "Reconciler",
    "Stage",
    "StageName",
    "Status",
    "SyncResult",
    "Wait",
    "WaitCondition",
    "Wave",
    "guard_prunes",
    "order_reconcilers",
    "plan",
    "sync_all",
    "verify_signature",
    "wait_for_status",
]
