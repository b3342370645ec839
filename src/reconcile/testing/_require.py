"""Skip where a test dependency is absent on a user's machine, fail in CI."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

__all__ = ["in_ci", "skip_or_fail"]


def in_ci() -> bool:
    """True when running under CI (``CI`` set to a true value), where nothing may be skipped.

    Example:

        >>> in_ci() == (os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"})
        True
    """
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def skip_or_fail(reason: str) -> NoReturn:
    """Skip the current test with ``reason``; in CI, fail it instead.

    Integration tests call this when a binary, server or corpus is missing, so
    that a user's machine without them still runs the rest, and CI never
    passes by skipping.

    Example:

        In a fixture of your own::

            @pytest.fixture
            def helm() -> str:
                path = shutil.which("helm")
                if path is None:
                    skip_or_fail("helm is not installed")   # skipped locally, failed in CI
                return path
    """
    if in_ci():
        pytest.fail(f"required in CI: {reason}", pytrace=False)
    pytest.skip(reason)
