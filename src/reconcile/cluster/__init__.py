"""Appliers talk to a cluster: the Kubernetes API and the embedded in-memory cluster.

An :class:`Applier` reads live objects, applies desired ones (server-side by
default, client-side, create or replace), deletes with a propagation policy,
and reports one :class:`ApplyResult` per object. Failures are the typed errors
of :mod:`reconcile.errors`.

>>> from reconcile.cluster import Action, ApplyMode
>>> ApplyMode.SERVER_SIDE.value, Action.UNCHANGED.value
('server-side', 'unchanged')
"""

from reconcile.cluster._api import (
    DEFAULT_TAKEOVER_MANAGERS,
    Action,
    Applier,
    ApplyMode,
    ApplyResult,
    Propagation,
    ResourceInfo,
    WatchEvent,
)
from reconcile.cluster.kubernetes import (
    ConnectionSettings,
    Impersonation,
    KubernetesApplier,
    RetryPolicy,
)
from reconcile.cluster.memory import InMemoryCluster

__all__ = [
    "DEFAULT_TAKEOVER_MANAGERS",
    "Action",
    "Applier",
    "ApplyMode",
    "ApplyResult",
    "ConnectionSettings",
    "Impersonation",
    "InMemoryCluster",
    "KubernetesApplier",
    "Propagation",
    "ResourceInfo",
    "RetryPolicy",
    "WatchEvent",
]
