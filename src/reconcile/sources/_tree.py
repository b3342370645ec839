"""Turning a checked-out tree into an immutable artifact directory.

The steps every source shares: select a sub-path, drop ignored files
(``.sourceignore`` files in gitignore syntax, extra ignore patterns, then
include and exclude patterns), refuse symlinks that leave the tree, enforce
size and file-count limits, compute the content checksum, make the directory
read-only and move it into the artifact store.

>>> f = FileFilter(ignore=["*.md", "!keep.md"], exclude=["secret/"])
>>> [p for p in ["a.md", "keep.md", "app.yaml", "secret/x.yaml"] if f.keeps(p)]
['keep.md', 'app.yaml']
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import stat
import uuid
import weakref
from collections.abc import Iterable, Sequence
from pathlib import Path

import attrs

from reconcile.errors import ConfigurationError, SourceError, SourceSecurityError

__all__ = [
    "IGNORE_FILE",
    "ArtifactStore",
    "FileFilter",
    "Limits",
    "TreeStats",
    "finalize_tree",
    "make_readonly",
    "remove_tree",
]

#: The name of the ignore files read in every directory of a source.
IGNORE_FILE = ".sourceignore"
_ALWAYS_IGNORED = (".git/", ".git")


def blob_id(content: bytes) -> str:
    """The Git (SHA-1) blob id of ``content``.

    >>> blob_id(b"")
    'e69de29bb2d1d6434b8b29ae775ad8c2e48c5391'
    """
    h = hashlib.sha1(b"blob %d\0" % len(content), usedforsecurity=False)
    h.update(content)
    return h.hexdigest()


def checksum_of(items: Iterable[tuple[str, str, str]]) -> str:
    """The artifact checksum of (path, kind, blob id) items; see ``_materialize``."""
    h = hashlib.sha256()
    for path, kind, oid in sorted(items, key=lambda i: i[0].encode("utf-8", "surrogateescape")):
        h.update(kind.encode() + path.encode("utf-8", "surrogateescape") + b"\0")
        h.update(oid.encode() + b"\0")
    return f"sha256:{h.hexdigest()}"


def _spec(lines: Iterable[str]) -> object:
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(list(lines))


def _lines(patterns: str | Sequence[str]) -> list[str]:
    return patterns.splitlines() if isinstance(patterns, str) else list(patterns)


@attrs.frozen(slots=True)
class Limits:
    """Safety limits on what one artifact may hold.

    ``max_bytes`` counts file contents after ignore rules; ``max_files`` counts
    files and symlinks. Exceeding either raises
    :class:`~reconcile.errors.SourceSecurityError` and no artifact is made.

    Example:

        >>> Limits(max_files=1000).max_bytes == Limits().max_bytes
        True
    """

    max_bytes: int = 512 * 1024 * 1024
    max_files: int = 100_000


@attrs.frozen(slots=True)
class TreeStats:
    """What :func:`finalize_tree` measured."""

    checksum: str
    files: int
    size: int


class FileFilter:
    """Which files of a tree go into the artifact.

    The rules, in order:

    1. ``.git`` is always dropped.
    2. ``.sourceignore`` files (gitignore syntax) in any directory, and the
       ``ignore`` patterns (applied at the root, after the root's
       ``.sourceignore``): a deeper file's decision overrides a shallower one,
       and ``!pattern`` re-includes, as in git.
    3. ``include`` patterns (gitignore syntax): when given, only matching
       files are kept.
    4. ``exclude`` patterns drop matching files, whatever came before.

    Args:
        ignore: extra gitignore lines (a string with newlines, or a sequence).
        include: patterns of files to keep (all when empty).
        exclude: patterns of files to drop.
        ignore_file: the per-directory ignore file name; ``None`` disables it.

    Example:

        >>> from reconcile.sources import LocalSource
        >>> src = LocalSource(".", cache_dir="/tmp/c", include=["*.yaml"], exclude=["tests/"])
        >>> isinstance(src, LocalSource)
        True
    """

    def __init__(
        self,
        *,
        ignore: str | Sequence[str] = (),
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        ignore_file: str | None = IGNORE_FILE,
    ) -> None:
        try:
            self._ignore_lines = _lines(ignore)
            self._ignore = _spec(self._ignore_lines)
            self._include = _spec(include) if include else None
            self._exclude = _spec(exclude) if exclude else None
        except Exception as exc:  # pathspec raises several types on bad patterns
            raise ConfigurationError(f"invalid ignore/include/exclude pattern: {exc}") from exc
        self._include_lines = list(include)
        self._exclude_lines = list(exclude)
        self.ignore_file = ignore_file
        # directory (posix, "" for root) -> spec of its ignore file
        self._dir_specs: dict[str, object] = {}

    def fingerprint(self) -> str:
        """A short digest of the rules (part of an artifact directory's name)."""
        h = hashlib.sha256()
        for group in (self._ignore_lines, self._include_lines, self._exclude_lines):
            h.update(b"\x00".join(s.encode() for s in group) + b"\x01")
        h.update((self.ignore_file or "").encode())
        return h.hexdigest()[:12]

    def load_ignore_text(self, directory: str, text: str) -> None:
        """Use ``text`` as the ignore file of ``directory`` (posix, relative)."""
        try:
            self._dir_specs[directory] = _spec(text.splitlines())
        except Exception as exc:
            where = f"{directory}/{self.ignore_file}" if directory else self.ignore_file
            raise SourceError(f"{where}: invalid pattern: {exc}") from exc

    def load_ignore_file(self, directory: str, path: Path) -> None:
        """Read the ignore file of ``directory`` (posix, relative) if it exists."""
        if self.ignore_file is None:
            return
        candidate = path / self.ignore_file
        if candidate.is_file() and not candidate.is_symlink():
            text = candidate.read_text("utf-8", errors="replace")
            try:
                self._dir_specs[directory] = _spec(text.splitlines())
            except Exception as exc:
                where = f"{directory}/{self.ignore_file}" if directory else self.ignore_file
                raise SourceError(f"{where}: invalid pattern: {exc}") from exc

    @property
    def trivial(self) -> bool:
        """True when no rule is set: every file (but ``.git``) is kept."""
        return (
            not (self._ignore_lines or self._include is not None or self._exclude is not None)
            and not self._dir_specs
        )

    def _ignored(self, rel: str) -> bool:
        if not self._ignore_lines and not self._dir_specs:
            return False
        decision: bool | None = None
        parts = rel.rstrip("/").split("/")
        # Root first, then each deeper directory: deeper decisions win.
        for depth in range(len(parts)):
            directory = "/".join(parts[:depth])
            sub = rel[len(directory) + 1 :] if directory else rel
            specs: list[object] = []
            if directory in self._dir_specs:
                specs.append(self._dir_specs[directory])
            if depth == 0 and self._ignore_lines:
                specs.append(self._ignore)
            for spec in specs:
                result = spec.check_file(sub)  # type: ignore[attr-defined]
                if result.include is not None:
                    decision = bool(result.include)
        return bool(decision)

    def keeps_dir(self, rel: str) -> bool:
        """Whether to descend into directory ``rel`` (posix, relative, no slash)."""
        if rel == ".git" or rel.endswith("/.git"):
            return False
        return not self._ignored(rel + "/")

    def keeps(self, rel: str) -> bool:
        """Whether file ``rel`` (posix path relative to the root) is kept."""
        if self._ignored(rel):
            return False
        if self._include is not None and not self._include.match_file(rel):  # type: ignore[attr-defined]
            return False
        return not (self._exclude is not None and self._exclude.match_file(rel))  # type: ignore[attr-defined]


def _inside(root: Path, link: Path) -> bool:
    target = os.readlink(link)
    if os.path.isabs(target):
        return False
    resolved = os.path.normpath(os.path.join(os.path.dirname(link), target))
    root_s = os.path.normpath(root)
    return resolved == root_s or resolved.startswith(root_s + os.sep)


def finalize_tree(
    root: Path,
    file_filter: FileFilter,
    limits: Limits,
    *,
    url: str | None = None,
    readonly: bool = False,
) -> TreeStats:
    """Apply ``file_filter`` to ``root`` in place, check it and return its checksum.

    Files that the filter drops are deleted; empty directories stay. Symlinks
    must be relative and resolve inside ``root`` (symlinks to directories are
    kept but not followed). Raises :class:`SourceSecurityError` on a symlink
    that escapes, or when ``limits`` are exceeded. With ``readonly``, files and
    directories below ``root`` lose their write permission on the way (``root``
    itself stays writable: :meth:`ArtifactStore.commit` seals it after moving it).
    """
    items: list[tuple[str, str, str]] = []
    files = 0
    size = 0
    root = Path(root)
    entries: list[tuple[str, Path]] = []
    subdirs: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        rel_dir = here.relative_to(root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir
        file_filter.load_ignore_file(rel_dir, here)
        keep_dirs = []
        for name in sorted(dirnames):
            rel = f"{rel_dir}/{name}" if rel_dir else name
            full = here / name
            if full.is_symlink():
                filenames.append(name)
                continue
            if file_filter.keeps_dir(rel):
                keep_dirs.append(name)
            else:
                shutil.rmtree(full)
        dirnames[:] = keep_dirs
        subdirs.extend(os.path.join(dirpath, name) for name in keep_dirs)
        for name in filenames:
            rel = f"{rel_dir}/{name}" if rel_dir else name
            full = here / name
            if not file_filter.keeps(rel):
                full.unlink()
                continue
            entries.append((rel, full))
    entries.sort(key=lambda e: e[0].encode("utf-8", "surrogateescape"))
    for rel, full in entries:
        st = full.lstat()
        if stat.S_ISLNK(st.st_mode):
            if not _inside(root, full):
                raise SourceSecurityError(
                    f"symlink {rel!r} points outside the checkout", url=url, path=rel
                )
            target = os.readlink(full).encode("utf-8", "surrogateescape")
            items.append((rel, "L", blob_id(target)))
            size += len(target)
        elif stat.S_ISREG(st.st_mode):
            kind = "X" if st.st_mode & 0o100 else "F"
            size += st.st_size
            if size > limits.max_bytes:
                raise SourceSecurityError(
                    f"content exceeds the size limit of {limits.max_bytes} bytes", url=url
                )
            h = hashlib.sha1(b"blob %d\0" % st.st_size, usedforsecurity=False)
            with open(full, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
            items.append((rel, kind, h.hexdigest()))
            if readonly:
                os.chmod(full, stat.S_IMODE(st.st_mode) & ~0o222)
        else:
            raise SourceSecurityError(f"{rel!r} is not a regular file or symlink", url=url)
        files += 1
        if files > limits.max_files:
            raise SourceSecurityError(
                f"content exceeds the limit of {limits.max_files} files", url=url
            )
    if readonly:
        for d in reversed(subdirs):
            os.chmod(d, 0o555)  # noqa: S103 - read-only is the point
    return TreeStats(checksum=checksum_of(items), files=files, size=size)


def make_readonly(root: Path) -> None:
    """Remove write permission from every file and directory under ``root``."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p):
                mode = os.lstat(p).st_mode
                os.chmod(p, stat.S_IMODE(mode) & ~0o222)
        for name in dirnames:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p):
                os.chmod(p, 0o555)  # noqa: S103 - read-only is the point
    os.chmod(root, 0o555)  # noqa: S103


def remove_tree(root: Path) -> None:
    """Delete ``root`` even when it was made read-only."""
    if not os.path.lexists(root):
        return

    if os.path.islink(root) or not os.path.isdir(root):
        os.unlink(root)
        return
    for dirpath, dirnames, _ in os.walk(root):
        os.chmod(dirpath, 0o700)
        for name in dirnames:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p):
                os.chmod(p, 0o700)
    shutil.rmtree(root)


class Lease:
    """A shared lock on one artifact: no store collects or recycles it while held.

    Locks are ``flock`` locks on a file beside the artifact, so they hold
    across processes and across stores opened on the same directory. A lease
    nobody references any more is released (a source dropped without closing).
    """

    def __init__(self, fd: int) -> None:
        self._close = weakref.finalize(self, os.close, fd)

    def release(self) -> None:
        """Let the artifact be collected again (idempotent)."""
        self._close()


def _lock_path(root: Path, name: str) -> Path:
    return root / f".{name}.lock"


def _try_exclusive(lock: Path) -> int | None:
    """An exclusive lock on ``lock`` (created if missing), or None when someone holds it."""
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


class ArtifactStore:
    """Immutable artifact directories under one root, with garbage collection.

    Each revision lives in its own directory ``<root>/<key>``; it is built in
    a staging directory and renamed into place, so a reader never sees a
    partial tree. :meth:`gc` keeps the ``keep`` most recently built ones, and
    never touches an artifact someone holds (:meth:`hold`) or a staging
    directory another builder is still writing, in this process or another.
    """

    def __init__(self, root: Path, *, keep: int = 2) -> None:
        if keep < 1:
            raise ConfigurationError("keep must be at least 1")
        self.root: Path = Path(root)
        self.keep = keep
        self._staging_locks: dict[Path, int] = {}

    def hold(self, key: str) -> Lease | None:
        """A lease on artifact ``key``, or None if it is gone (collected meanwhile)."""
        fd = os.open(_lock_path(self.root, key), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_SH)
        if not self.exists(key):
            os.close(fd)
            return None
        return Lease(fd)

    def path(self, key: str) -> Path:
        """Where the artifact ``key`` lives (whether or not it exists)."""
        return self.root / key

    def exists(self, key: str) -> bool:
        """Whether artifact ``key`` was completely built."""
        return (self.root / key).is_dir()

    def meta(self, key: str) -> dict[str, object] | None:
        """The metadata stored with artifact ``key``, if it exists and is intact."""
        if not self.exists(key):
            return None
        try:
            data = json.loads((self.root / f"{key}.json").read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def touch(self, key: str) -> None:
        """Mark artifact ``key`` as the newest (for :meth:`gc`)."""
        os.utime(self.root / key)

    def staging(self) -> Path:
        """A fresh, empty staging directory on the same file system.

        It is locked until :meth:`discard`: no other store's :meth:`gc` removes
        it while it is being written.
        """
        name = f".staging-{uuid.uuid4().hex}"
        path = self.root / name
        path.mkdir(parents=True)
        fd = _try_exclusive(_lock_path(self.root, name))
        assert fd is not None  # a fresh name: nobody else knows it
        self._staging_locks[path] = fd
        return path

    def discard(self, staged: Path) -> None:
        """Remove a staging directory (what :meth:`commit` left of it) and its lock."""
        remove_tree(staged)
        fd = self._staging_locks.pop(staged, None)
        if fd is not None:
            _lock_path(self.root, staged.name).unlink(missing_ok=True)
            os.close(fd)

    def commit(
        self,
        staged: Path,
        key: str,
        meta: dict[str, object] | None = None,
        *,
        sealed: bool = False,
        listing: bytes | None = None,
    ) -> Path:
        """Make ``staged`` read-only and move it to ``key``; returns the final path.

        ``meta`` (JSON-compatible) is stored beside it for :meth:`meta`, and
        ``listing`` (what the directory holds, see :meth:`listing`) too.
        ``sealed`` says everything below ``staged`` is read-only already
        (:func:`finalize_tree` with ``readonly``).
        """
        final = self.root / key
        if not sealed:
            make_readonly(staged)
            os.chmod(staged, 0o755)  # noqa: S103 - moving a directory needs write access to it
        if final.exists():
            # Someone built the same revision concurrently; theirs is as good.
            remove_tree(staged)
            return final
        for suffix, data in ((".tree", listing), (".json", None)):
            if suffix == ".json":
                if meta is None:
                    continue
                data = json.dumps(meta, sort_keys=True).encode()
            sidecar = self.root / f"{key}{suffix}"
            if data is None:
                sidecar.unlink(missing_ok=True)
                continue
            tmp = self.root / f".{key}{suffix}.tmp"
            tmp.write_bytes(data)
            os.replace(tmp, sidecar)
        os.rename(staged, final)
        os.chmod(final, 0o555)  # noqa: S103
        os.utime(final)  # newest, for gc
        return final

    def listing(self, key: str) -> bytes | None:
        """The listing stored with artifact ``key`` by :meth:`commit`, if any."""
        if not self.exists(key):
            return None
        try:
            return (self.root / f"{key}.tree").read_bytes()
        except OSError:
            return None

    def _by_age(self) -> list[str]:
        """Artifact names, newest first."""
        if not self.root.is_dir():
            return []
        dirs = []
        for entry in os.scandir(self.root):
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                dirs.append((entry.stat(follow_symlinks=False).st_mtime_ns, entry.name))
        dirs.sort(reverse=True)
        return [name for _, name in dirs]

    def newest(self) -> str | None:
        """The most recently built (or touched) artifact."""
        names = self._by_age()
        return names[0] if names else None

    def doomed(self, *, protect: Iterable[str] = ()) -> list[str]:
        """Artifacts :meth:`gc` would remove once one more is committed, oldest first.

        Held ones among them are skipped by :meth:`take` and :meth:`gc`.

        The newest existing artifact is never among them, whatever ``keep``:
        it stays usable while the next one is built.
        """
        protected = set(protect)
        names = self._by_age()
        return [n for n in reversed(names[max(self.keep - 1, 1) :]) if n not in protected]

    def take(self, key: str, dest: Path) -> bool:
        """Retire artifact ``key`` by moving its directory to ``dest`` (same file system).

        Only for artifacts :meth:`doomed` names: the path ``<root>/<key>``
        disappears at once (as if collected), and the directory becomes the
        caller's to change. Its files may be hard links shared with live
        artifacts: the caller must replace them (unlink, create), never
        write into them. Returns False, and moves nothing, while someone
        holds the artifact.
        """
        lock = _lock_path(self.root, key)
        fd = _try_exclusive(lock)
        if fd is None:
            return False
        try:
            src = self.root / key
            os.chmod(src, 0o755)  # noqa: S103 - moving a directory needs write access to it
            os.rename(src, dest)
            for suffix in (".json", ".tree"):
                (self.root / f"{key}{suffix}").unlink(missing_ok=True)
            lock.unlink(missing_ok=True)
        finally:
            os.close(fd)
        return True

    def gc(self, *, protect: Iterable[str] = ()) -> list[str]:
        """Remove all but the ``keep`` newest artifacts (and stale staging dirs)."""
        if not self.root.is_dir():
            return []
        protected = set(protect)
        removed: list[str] = []
        dirs = []
        for entry in self.root.iterdir():
            if entry.name.startswith(".staging-") and entry.suffix != ".lock":
                if entry not in self._staging_locks:
                    self._remove_unless_held(entry.name, entry)
                continue
            if entry.suffix in {".json", ".tree"} and not (self.root / entry.stem).is_dir():
                entry.unlink(missing_ok=True)
                continue
            if entry.is_dir() and not entry.is_symlink():
                dirs.append((entry.stat().st_mtime_ns, entry.name, entry))
        dirs.sort(reverse=True)
        for _, name, entry in dirs[self.keep :]:
            if name in protected:
                continue
            if self._remove_unless_held(name, entry):
                removed.append(name)
        return removed

    def _remove_unless_held(self, name: str, entry: Path) -> bool:
        """Remove ``entry`` (an artifact or a builder's staging directory) unless it is held."""
        lock = _lock_path(self.root, name)
        fd = _try_exclusive(lock)
        if fd is None:
            return False
        try:
            (self.root / f"{name}.json").unlink(missing_ok=True)
            (self.root / f"{name}.tree").unlink(missing_ok=True)
            remove_tree(entry)
            lock.unlink(missing_ok=True)
        finally:
            os.close(fd)
        return True
