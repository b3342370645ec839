"""Test helpers for users and for this project: a real control plane and fixtures.

``reconcile.testing`` is public API. Operator authors use it to test their own
code against a real kube-apiserver and etcd on loopback — no Docker, no kind:

>>> from reconcile.testing import ControlPlane
>>> with ControlPlane() as cp:                                 # doctest: +SKIP
...     print(cp.kubeconfig)                                   # an admin kubeconfig
...     status, ns = cp.request("GET", "/api/v1/namespaces/default")

The pytest plugin (registered automatically) provides the ``control_plane``,
``kubeconfig``, ``kube_client`` and ``kube_namespace`` fixtures; see
:mod:`reconcile.testing.pytest_plugin`. From a shell::

    python -m reconcile.testing build     # find or build the binaries, print their paths
    python -m reconcile.testing start     # run a control plane until Ctrl-C
"""

from reconcile.testing._assets import (
    DEFAULT_ETCD_VERSION,
    DEFAULT_KUBERNETES_VERSION,
    AssetsUnavailableError,
    ControlPlaneAssets,
    cache_dir,
    find_assets,
)
from reconcile.testing._controlplane import ControlPlane, ExistingCluster, free_port
from reconcile.testing._require import in_ci, skip_or_fail

__all__ = [
    "DEFAULT_ETCD_VERSION",
    "DEFAULT_KUBERNETES_VERSION",
    "AssetsUnavailableError",
    "ControlPlane",
    "ControlPlaneAssets",
    "ExistingCluster",
    "cache_dir",
    "find_assets",
    "free_port",
    "in_ci",
    "skip_or_fail",
]
