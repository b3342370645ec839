"""Fixtures for the Reconciler's end-to-end tests: a real git server and a real control plane.

The git server fixtures (``served_root``, ``git_daemon``) and the ``Upstream``
helper are the sources' own (tests/integration/sources/conftest.py), imported
here so both suites use the same servers' code. The control plane is the
session's ``control_plane`` from :mod:`reconcile.testing`.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from integration.sources.conftest import Upstream, git, git_daemon, served_root
from reconcile.cluster import KubernetesApplier
from reconcile.testing import ControlPlane, ExistingCluster

__all__ = ["Upstream", "applier", "git", "git_daemon", "repo", "served_root"]

_names = itertools.count()


@pytest.fixture
def repo(served_root: Path, tmp_path: Path) -> Upstream:
    """A fresh, empty upstream repository with ``main`` (no commit yet)."""
    name = f"rec{next(_names)}"
    bare = served_root / f"{name}.git"
    git("init", "-q", "--bare", "-b", "main", str(bare))
    work = tmp_path / f"{name}-work"
    git("init", "-q", "-b", "main", str(work))
    return Upstream(name, bare, work)


@pytest.fixture
async def applier(
    control_plane: ControlPlane | ExistingCluster,
) -> AsyncIterator[KubernetesApplier]:
    """A KubernetesApplier for the session's control plane, field manager ``gitops``."""
    control_plane.check_healthy()
    async with KubernetesApplier(
        field_manager="gitops",
        kubeconfig=control_plane.kubeconfig,
        context=control_plane.context,
    ) as a:
        yield a
