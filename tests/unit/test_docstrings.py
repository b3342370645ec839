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
WITHOUT_EXAMPLE: frozenset[str] = frozenset()


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
