"""Every public name has a docstring, and (but for a shrinking list) an example in it."""

from __future__ import annotations

import importlib
import inspect

import pytest

#: The public modules: their ``__all__`` is the public API.
PUBLIC_MODULES = [
    "reconcile",
    "reconcile.objects",
    "reconcile.errors",
    "reconcile.schema",
    "reconcile.merge",
    "reconcile.diff",
    "reconcile.sources",
    "reconcile.sources.git",
    "reconcile.render",
    "reconcile.render.tools",
    "reconcile.cluster",
    "reconcile.cluster.memory",
    "reconcile.cluster.kubernetes",
    "reconcile.engine",
    "reconcile.engine.annotations",
    "reconcile.engine.planner",
    "reconcile.engine.health",
    "reconcile.engine.inventory",
    "reconcile.engine.reconciler",
    "reconcile.engine.results",
    "reconcile.engine.blocking",
    "reconcile.engine.metrics",
    "reconcile.testing",
]

#: Public classes and functions whose docstring has no example yet. This list may only
#: shrink: a test fails when a name on it gains an example, so it is kept exact.
WITHOUT_EXAMPLE: frozenset[str] = frozenset(
    {
        "reconcile.cluster.kubernetes._cache.LiveCache",
        "reconcile.cluster.kubernetes._config.load_client",
        "reconcile.cluster.kubernetes._discovery.RestMapper",
        "reconcile.cluster.kubernetes._transport.Transport",
        "reconcile.render._tools.build_helm",
        "reconcile.render._tools.build_kustomize",
        "reconcile.render._tools.cache_dir",
        "reconcile.render._tools.ensure_helm",
        "reconcile.render._tools.ensure_kustomize",
        "reconcile.render._tools.find_helm",
        "reconcile.render._tools.find_kustomize",
        "reconcile.render._tools.helm_cache_path",
        "reconcile.render._tools.kustomize_cache_path",
        "reconcile.render._tools.run_tool",
        "reconcile.sources._materialize.TreeEntry",
        "reconcile.sources.git._backend.Connection",
        "reconcile.sources.git._backend.GitBackend",
        "reconcile.sources.git._backend.RemoteRefs",
        "reconcile.sources.git._backend.Want",
        "reconcile.testing._assets.AssetsUnavailableError",
        "reconcile.testing._assets.ControlPlaneAssets",
        "reconcile.testing._assets.cache_dir",
        "reconcile.testing._assets.find_assets",
        "reconcile.testing._controlplane.ControlPlane",
        "reconcile.testing._controlplane.ExistingCluster",
        "reconcile.testing._controlplane.free_port",
        "reconcile.testing._require.in_ci",
        "reconcile.testing._require.skip_or_fail",
    }
)


def public_objects() -> dict[str, object]:
    found: dict[str, object] = {}
    seen: set[int] = set()
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            value = getattr(module, name)
            if not (inspect.isclass(value) or inspect.isfunction(value)) or id(value) in seen:
                continue
            if not str(getattr(value, "__module__", "")).startswith("reconcile"):
                continue
            seen.add(id(value))
            found[f"{value.__module__}.{value.__qualname__}"] = value
    return found


def own_doc(value: object) -> str:
    if inspect.isclass(value):
        return str(vars(value).get("__doc__") or "")
    return str(getattr(value, "__doc__", None) or "")


OBJECTS = public_objects()


@pytest.mark.parametrize("name", sorted(OBJECTS))
def test_has_a_docstring(name: str) -> None:
    assert own_doc(OBJECTS[name]).strip(), f"{name} has no docstring"


@pytest.mark.parametrize("name", sorted(OBJECTS))
def test_has_an_example(name: str) -> None:
    doc = own_doc(OBJECTS[name])
    has_example = ">>>" in doc or "Example" in doc
    if name in WITHOUT_EXAMPLE:
        assert not has_example, f"{name} has an example now: remove it from WITHOUT_EXAMPLE"
    else:
        assert has_example, f"{name}: add an example to its docstring"
