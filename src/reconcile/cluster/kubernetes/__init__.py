"""The Applier over the Kubernetes API (kubernetes-asyncio)."""

from reconcile.cluster.kubernetes._applier import KubernetesApplier
from reconcile.cluster.kubernetes._cache import LiveCache
from reconcile.cluster.kubernetes._config import (
    SERVICE_ACCOUNT_DIR,
    ConnectionSettings,
    load_client,
)
from reconcile.cluster.kubernetes._discovery import RestMapper
from reconcile.cluster.kubernetes._transport import Impersonation, RetryPolicy, Transport

__all__ = [
    "SERVICE_ACCOUNT_DIR",
    "ConnectionSettings",
    "Impersonation",
    "KubernetesApplier",
    "LiveCache",
    "RestMapper",
    "RetryPolicy",
    "Transport",
    "load_client",
]
