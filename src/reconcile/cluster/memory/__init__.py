"""The embedded in-memory cluster (the Applier protocol without a server)."""

from reconcile.cluster.memory._cluster import InMemoryCluster, plural_of

__all__ = ["InMemoryCluster", "plural_of"]
