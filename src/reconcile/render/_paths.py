"""Paths inside an artifact: nothing may leave its root, not even by a symlink."""

from __future__ import annotations

import os
from pathlib import Path

from reconcile.errors import RenderSecurityError
from reconcile.objects import Origin

__all__ = ["RealPaths", "inside", "relative", "resolve_inside"]


class RealPaths:
    """``os.path.realpath`` for the paths of one artifact, with the root resolved once.

    A path below the root is resolved component by component from the root's
    real path (one ``lstat`` per new component, remembered), falling back to
    ``os.path.realpath`` at the first symlink. Use one per render: a symlink
    changed between renders is seen by the next one.

    Example:

        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> (root / "a").mkdir()
        >>> (root / "link").symlink_to("/")
        >>> paths = RealPaths(root)
        >>> paths.inside(root / "a" / ".." / "a" / "x.yaml"), paths.inside(root / "link" / "etc")
        (True, False)
    """

    def __init__(self, root: Path) -> None:
        self.root = os.fspath(root)
        self.real_root = os.path.realpath(root)
        self._prefix = self.root.rstrip("/") + "/"
        self._real_prefix = self.real_root.rstrip("/") + "/"
        self._links: dict[str, bool] = {}

    def real(self, path: Path | str) -> str:
        """The real path of ``path``, as ``os.path.realpath`` gives it."""
        text = os.fspath(path)
        if text == self.root:
            return self.real_root
        if not text.startswith(self._prefix):
            return os.path.realpath(text)
        current = self.real_root
        parts = text[len(self._prefix) :].split("/")
        for i, part in enumerate(parts):
            if part in ("", "."):
                continue
            if part == "..":
                current = os.path.dirname(current)
                continue
            candidate = os.path.join(current, part)
            link = self._links.get(candidate)
            if link is None:
                link = self._links[candidate] = os.path.islink(candidate)
            if link:
                return os.path.realpath(os.path.join(candidate, *parts[i + 1 :]))
            current = candidate
        return current

    def inside(self, path: Path | str) -> bool:
        """True when ``path`` (symlinks resolved) is the root or below it."""
        real = self.real(path)
        return real == self.real_root or real.startswith(self._real_prefix)


def inside(path: Path, root: Path) -> bool:
    """True when ``path`` (symlinks resolved) is ``root`` or below it."""
    return RealPaths(root).inside(path)


def resolve_inside(
    root: Path,
    relative_to: Path,
    name: str,
    *,
    what: str,
    origin: Origin | None = None,
    path: str | None = None,
    paths: RealPaths | None = None,
) -> Path:
    """Join ``name`` to ``relative_to``; refuse it if it leaves ``root``.

    Raises:
        RenderSecurityError: ``name`` is absolute or climbs (``../``, or via a
            symlink) out of the artifact root.
    """
    if os.path.isabs(name):
        raise RenderSecurityError(f"{what} {name!r} is an absolute path", origin=origin, path=path)
    candidate = relative_to / name
    if not (paths or RealPaths(root)).inside(candidate):
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
