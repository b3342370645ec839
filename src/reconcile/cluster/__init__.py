"""Appliers talk to a cluster: the Kubernetes API and the embedded in-memory cluster."""
