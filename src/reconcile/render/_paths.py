"""Paths inside an artifact: nothing may leave its root, not even by a symlink."""

from __future__ import annotations

import os
from pathlib import Path

from reconcile.errors import RenderSecurityError
from reconcile.objects import Origin

__all__ = ["inside", "relative", "resolve_inside"]


def inside(path: Path, root: Path) -> bool:
    """True when ``path`` (symlinks resolved) is ``root`` or below it."""
    real = Path(os.path.realpath(path))
    real_root = Path(os.path.realpath(root))
    return real == real_root or real_root in real.parents


def resolve_inside(
    root: Path,
    relative_to: Path,
    name: str,
    *,
    what: str,
    origin: Origin | None = None,
    path: str | None = None,
) -> Path:
    """Join ``name`` to ``relative_to``; refuse it if it leaves ``root``.

    Raises:
        RenderSecurityError: ``name`` is absolute or climbs (``../``, or via a
            symlink) out of the artifact root.
    """
    if os.path.isabs(name):
        raise RenderSecurityError(f"{what} {name!r} is an absolute path", origin=origin, path=path)
    candidate = relative_to / name
    if not inside(candidate, root):
        raise RenderSecurityError(
            f"{what} {name!r} leaves the artifact root", origin=origin, path=path
        )
    return candidate


def relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` in POSIX form (for origins)."""
    normal = Path(os.path.normpath(path))
    try:
        return normal.relative_to(os.path.normpath(root)).as_posix()
    except ValueError:
        return normal.as_posix()
