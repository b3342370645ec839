"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconcile.testing import skip_or_fail

REPO = Path(__file__).resolve().parent.parent


def corpus_path() -> Path:
    """Where ../shared/corpus is (``RECONCILE_CORPUS`` overrides)."""
    override = os.environ.get("RECONCILE_CORPUS")
    return Path(override) if override else REPO.parent / "shared" / "corpus"


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The third-party manifest corpus, read in place; skipped (failed in CI) when absent."""
    path = corpus_path()
    if not (path / "manifests").is_dir():
        skip_or_fail(f"the shared corpus is not at {path} (set RECONCILE_CORPUS)")
    return path
