"""Test helpers for users and for this project: a real control plane, fixtures.

``reconcile.testing`` is public API: operator authors use it to test their own
code against a real kube-apiserver and etcd on loopback.
"""

from reconcile.testing._require import in_ci, skip_or_fail

__all__ = ["in_ci", "skip_or_fail"]
