"""The engine composes the loop: planner, inventory, health and the Reconciler.

Its building blocks are pure where they can be: :mod:`~reconcile.engine.annotations`
(every key the engine reads or writes), :mod:`~reconcile.engine.planner` (apply and
prune order), :mod:`~reconcile.engine.health` (kstatus) and
:mod:`~reconcile.engine.inventory` (the ApplySet-compatible record of what a
reconciler owns).
"""

from reconcile.engine.annotations import HookDeletePolicy, HookPhase, ObjectPolicy
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

__all__ = [
    "ApplySetParent",
    "DependencyCycleError",
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
    "ObjectPolicy",
    "Plan",
    "Stage",
    "StageName",
    "Status",
    "Wait",
    "WaitCondition",
    "Wave",
    "guard_prunes",
    "order_reconcilers",
    "plan",
    "wait_for_status",
]
