"""The public API is what ``reconcile.__all__`` says, and nothing less."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import reconcile
import reconcile.errors


def test_all_is_sorted_and_exported() -> None:
    assert list(reconcile.__all__) == sorted(reconcile.__all__)
    for name in reconcile.__all__:
        assert hasattr(reconcile, name), name


def test_every_public_class_is_in_all() -> None:
    public = {
        name
        for name, value in vars(reconcile).items()
        if not name.startswith("_") and isinstance(value, type)
    }
    assert public <= set(reconcile.__all__)


def test_every_error_derives_from_the_root() -> None:
    for name in reconcile.errors.__all__:
        value = getattr(reconcile.errors, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, reconcile.ReconcileError), name


def _modules() -> list[str]:
    return [
        m.name
        for m in pkgutil.walk_packages(reconcile.__path__, "reconcile.")
        if ".testing" not in m.name and ".cli" not in m.name
    ]


@pytest.mark.parametrize("module_name", _modules())
def test_docstring_examples_run(module_name: str) -> None:
    module = importlib.import_module(module_name)
    failures, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert failures == 0
