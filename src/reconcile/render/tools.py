"""Public access to the external tools: find or build kustomize and helm.

>>> from reconcile.render import tools
>>> tools.HELM_VERSION.startswith("v")
True
"""

from reconcile.render._tools import (
    HELM_MODULE,
    HELM_VERSION,
    KUSTOMIZE_MODULE,
    KUSTOMIZE_VERSION,
    build_helm,
    build_kustomize,
    cache_dir,
    ensure_helm,
    ensure_kustomize,
    find_helm,
    find_kustomize,
    helm_cache_path,
    kustomize_cache_path,
    run_tool,
)

__all__ = [
    "HELM_MODULE",
    "HELM_VERSION",
    "KUSTOMIZE_MODULE",
    "KUSTOMIZE_VERSION",
    "build_helm",
    "build_kustomize",
    "cache_dir",
    "ensure_helm",
    "ensure_kustomize",
    "find_helm",
    "find_kustomize",
    "helm_cache_path",
    "kustomize_cache_path",
    "run_tool",
]
