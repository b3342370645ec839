"""Writing a Git tree into an artifact directory, straight from the object store.

Every backend lists the tree (path, mode, object id) and streams blobs; this
module selects the entries (sub-path, ignore rules, safety checks, limits),
computes the checksum from the object ids, and writes the selected blobs as
read-only files. Blobs are written as stored: no ``.gitattributes``
conversion (eol, ``ident``, filters) applies, so every backend, and a local
checkout, yield the same bytes.

The checksum is defined on content, so a plain directory gets the same one
(see :func:`content_checksum`): SHA-256 over, for each file in byte order of
its path, a kind (``F`` file, ``X`` executable, ``L`` symlink), the path, and
the Git blob id of its content (``sha1("blob <len>\\0" + content)``).

>>> import hashlib
>>> e = TreeEntry("a.txt", 0o100644, hashlib.sha1(b"blob 2\\0hi").hexdigest())
>>> tree_checksum([e]) == content_checksum([("a.txt", "F", b"hi")])
True
"""

from __future__ import annotations

import errno
import functools
import os
import stat
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

import attrs

from reconcile.errors import RefNotFoundError, SourceSecurityError
from reconcile.sources._tree import (
    IGNORE_FILE,
    FileFilter,
    Limits,
    TreeStats,
    blob_id,
    checksum_of,
)

__all__ = [
    "Listing",
    "TreeEntry",
    "TreeWriter",
    "blob_id",
    "check_subpath",
    "check_tree_path",
    "content_checksum",
    "decode_listing",
    "encode_listing",
    "ignore_files",
    "select_entries",
    "tree_checksum",
    "writes_into_readonly_dirs",
]

#: What an artifact directory holds: path -> (kind, blob id).
Listing = dict[str, tuple[str, str]]


@attrs.frozen(slots=True)
class TreeEntry:
    """One file or symlink of a Git tree (submodules are never listed).

    ``size`` is the blob size when the backend knows it cheaply, else -1.

    Example:

        >>> TreeEntry("deploy/web.yaml", 0o100644, "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391").size
        -1
    """

    path: str
    mode: int
    oid: str
    size: int = -1

    @property
    def kind(self) -> str:
        """``L`` for a symlink, ``X`` for an executable file, ``F`` otherwise."""
        if stat.S_ISLNK(self.mode):
            return "L"
        return "X" if self.mode & 0o100 else "F"


def tree_checksum(entries: Iterable[TreeEntry]) -> str:
    """The checksum of tree entries (paths relative to the artifact root)."""
    return checksum_of((e.path, e.kind, e.oid) for e in entries)


def content_checksum(files: Iterable[tuple[str, str, bytes]]) -> str:
    """The same checksum from (path, kind, content) of files on disk."""
    return checksum_of((path, kind, blob_id(content)) for path, kind, content in files)


def check_tree_path(path: str, *, url: str | None = None) -> None:
    """Refuse tree entries that could escape the checkout or touch ``.git``."""
    if (
        path
        and path[0] not in "./"
        and path[-1] != "/"
        and "/." not in path
        and "//" not in path
        and "\0" not in path
    ):
        return  # no component is empty or begins with a dot: the common case
    parts = path.split("/")
    if path.startswith("/") or any(part in {"", ".", ".."} for part in parts):
        raise SourceSecurityError(f"tree entry {path!r} is refused", url=url, path=path)
    if any(part.lower() == ".git" for part in parts) or "\0" in path:
        raise SourceSecurityError(f"tree entry {path!r} is refused", url=url, path=path)


def _symlink_inside(rel: str, target: bytes) -> bool:
    text = target.decode("utf-8", "surrogateescape")
    if not text or text.startswith("/") or "\0" in text:
        return False
    parts: list[str] = list(PurePosixPath(rel).parent.parts)
    for part in PurePosixPath(text).parts:
        if part == "..":
            if not parts:
                return False
            parts.pop()
        elif part != ".":
            parts.append(part)
    return True


def select_entries(
    entries: Sequence[TreeEntry],
    subpath: str,
    file_filter: FileFilter,
    ignore_texts: dict[str, bytes],
    *,
    url: str | None = None,
) -> list[TreeEntry]:
    """The entries below ``subpath`` that ``file_filter`` keeps, re-rooted there.

    ``ignore_texts`` maps the path (relative to ``subpath``) of each ignore
    file to its content. Raises :class:`SourceError` when ``subpath`` holds
    nothing, :class:`SourceSecurityError` on unsafe paths.
    """
    prefix = f"{subpath}/" if subpath else ""
    if prefix:
        cut = len(prefix)
        rooted = [
            TreeEntry(e.path[cut:], e.mode, e.oid, e.size)
            for e in entries
            if e.path.startswith(prefix)
        ]
    else:
        rooted = list(entries)
    for rel, text in sorted(ignore_texts.items(), key=lambda kv: kv[0].count("/")):
        directory = rel.rpartition("/")[0]
        file_filter.load_ignore_text(directory, text.decode("utf-8", "replace"))
    dir_ok: dict[str, bool] = {"": True}

    def dir_kept(d: str) -> bool:
        if d in dir_ok:
            return dir_ok[d]
        parent = d.rpartition("/")[0]
        ok = dir_kept(parent) and file_filter.keeps_dir(d)
        dir_ok[d] = ok
        return ok

    if file_filter.trivial:
        for e in rooted:
            check_tree_path(e.path, url=url)
        return rooted
    kept = []
    for e in rooted:
        check_tree_path(e.path, url=url)
        if not dir_kept(e.path.rpartition("/")[0]):
            continue
        if file_filter.keeps(e.path):
            kept.append(e)
    return kept


def ignore_files(entries: Sequence[TreeEntry], subpath: str) -> list[TreeEntry]:
    """The ignore files (``.sourceignore``) below ``subpath``."""
    prefix = f"{subpath}/" if subpath else ""
    return [
        e
        for e in entries
        if e.path.endswith(IGNORE_FILE)
        and e.path.rpartition("/")[2] == IGNORE_FILE
        and e.path.startswith(prefix)
        and e.kind != "L"
    ]


class TreeWriter:
    """Writes selected entries under ``root`` (an existing, empty directory).

    Backends stream blobs into :meth:`sink` in entry order; :meth:`finish`
    seals subdirectories read-only (``root`` stays writable until the store
    moves it) and returns the stats. Files are created read-only. Limits
    are checked up front (count, known sizes) and as bytes arrive; symlink
    targets must stay inside ``root``.
    """

    def __init__(
        self, root: Path, entries: Sequence[TreeEntry], limits: Limits, *, url: str | None = None
    ) -> None:
        if len(entries) > limits.max_files:
            raise SourceSecurityError(
                f"content exceeds the limit of {limits.max_files} files", url=url
            )
        known = sum(e.size for e in entries if e.size >= 0)
        if known > limits.max_bytes:
            raise SourceSecurityError(
                f"content exceeds the size limit of {limits.max_bytes} bytes", url=url
            )
        self.root = root
        self.entries = entries
        self.limits = limits
        self.url = url
        self.total = 0
        self._made: set[str] = {""}
        self._dirs: list[Path] = []
        self._root_s = str(root)
        #: Directories are created read-only (see :func:`writes_into_readonly_dirs`).
        self.sealed_dirs = writes_into_readonly_dirs(root.parent)
        self._external: list[int] = []

    def _ensure_dir(self, rel_dir: str) -> None:
        if rel_dir in self._made:
            return
        self._ensure_dir(rel_dir.rpartition("/")[0])
        p = f"{self._root_s}/{rel_dir}"
        try:
            # Where the process may write into read-only directories, they are
            # made read-only at once: no second pass to seal them.
            os.mkdir(p, 0o555 if self.sealed_dirs else 0o777)
            if not self.sealed_dirs:
                self._dirs.append(Path(p))
        except FileExistsError:
            self._dirs.append(Path(p))
        self._made.add(rel_dir)

    def _count(self, size: int) -> None:
        self.total += size
        if self.total > self.limits.max_bytes:
            raise SourceSecurityError(
                f"content exceeds the size limit of {self.limits.max_bytes} bytes", url=self.url
            )

    def link(self, index: int, source: str | Path) -> None:
        """Hard-link entry ``index`` to the identical, read-only file ``source``.

        Artifacts never change, so an unchanged file of the previous revision
        is shared instead of written again.
        """
        e = self.entries[index]
        self._ensure_dir(e.path.rpartition("/")[0])
        os.link(source, f"{self._root_s}/{e.path}", follow_symlinks=False)
        self._count(e.size if e.size >= 0 else os.lstat(source).st_size)

    def prepare_dirs(self, indices: Sequence[int]) -> None:
        """Create the directories of entries a backend will write itself."""
        for i in indices:
            self._ensure_dir(self.entries[i].path.rpartition("/")[0])

    def written_by_others(self, indices: Sequence[int], *, sealed: bool = False) -> None:
        """Entries a backend wrote itself, read-only already when ``sealed``.

        Their sizes must be known (``TreeEntry.size``).
        """
        for i in indices:
            e = self.entries[i]
            self._count(e.size if e.size >= 0 else os.lstat(self.root / e.path).st_size)
            if not sealed:
                self._external.append(i)

    def sink(self, index: int, content: bytes) -> None:
        """Write entry ``index`` with ``content`` (called in entry order)."""
        e = self.entries[index]
        self._count(len(content))
        self._ensure_dir(e.path.rpartition("/")[0])
        target = self.root / e.path
        if e.kind == "L":
            if not _symlink_inside(e.path, content):
                raise SourceSecurityError(
                    f"symlink {e.path!r} points outside the checkout", url=self.url, path=e.path
                )
            os.symlink(content, target)
            return
        fd = os.open(
            target,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
            0o555 if e.kind == "X" else 0o444,
        )
        try:
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)

    def recycle(self, old: Listing) -> list[int]:
        """Turn ``root``, a retired artifact holding ``old``, into this tree; return what is left.

        Entries of ``old`` that differ from (or are absent in) the new entries
        are unlinked, directories nothing needs any more are removed, and
        directories that will receive files are made writable (and sealed
        again by :meth:`finish`). Nothing is written into an existing file:
        files may be hard links shared with live artifacts. Returns the
        indices of the entries still to write (with :meth:`sink`,
        :meth:`link` or :meth:`written_by_others`). Raises :class:`OSError`
        when the directory does not hold what ``old`` says; the caller then
        discards it and builds from scratch.
        """
        entries = self.entries
        root = str(self.root)
        new: dict[str, int] = {}
        todo: list[int] = []
        kept_size = 0
        for i, e in enumerate(entries):
            new[e.path] = i
            have = old.get(e.path)
            if have is not None and have[1] == e.oid and have[0] == e.kind:
                kept_size += e.size if e.size >= 0 else os.lstat(f"{root}/{e.path}").st_size
            else:
                todo.append(i)
        self._count(kept_size)
        opened: set[str] = set()

        def writable(d: str) -> None:
            if d not in opened:
                os.chmod(f"{root}/{d}" if d else root, 0o755)  # noqa: S103
                opened.add(d)

        # Unlink what changed or went away; then try to remove the directories
        # above, deepest first: one that still holds anything stays.
        emptied: set[str] = set()
        for p, (kind, oid) in old.items():
            j = new.get(p)
            if j is not None and entries[j].oid == oid and entries[j].kind == kind:
                continue
            d = p.rpartition("/")[0]
            writable(d)
            os.unlink(f"{root}/{p}")
            while d and d not in emptied:
                emptied.add(d)
                d = d.rpartition("/")[0]
        for d in sorted(emptied, key=lambda d: d.count("/"), reverse=True):
            writable(d.rpartition("/")[0])
            try:
                os.rmdir(f"{root}/{d}")
            except OSError as exc:
                if exc.errno not in {errno.ENOTEMPTY, errno.EEXIST}:
                    raise
                continue
            opened.discard(d)
        # The deepest directory that exists receives a file or a new directory.
        present: dict[str, bool] = {"": True}
        for i in todo:
            d = entries[i].path.rpartition("/")[0]
            while d not in present or not present[d]:
                if d not in present:
                    try:
                        present[d] = stat.S_ISDIR(os.lstat(f"{root}/{d}").st_mode)
                    except FileNotFoundError:
                        present[d] = False
                    continue
                d = d.rpartition("/")[0]
            writable(d)
        self._made.update(d for d, ok in present.items() if ok)
        self._dirs.extend(self.root / d for d in opened if d)
        return todo

    def finish(self) -> TreeStats:
        """Seal the subdirectories and return checksum, file count and size."""
        for i in self._external:
            e = self.entries[i]
            os.chmod(self.root / e.path, 0o555 if e.kind == "X" else 0o444)
            self._ensure_dir(e.path.rpartition("/")[0])
        for d in sorted(self._dirs, key=lambda p: len(p.parts), reverse=True):
            os.chmod(d, 0o555)  # noqa: S103 - read-only is the point
        return TreeStats(
            checksum=tree_checksum(self.entries), files=len(self.entries), size=self.total
        )


def check_subpath(
    entries: Sequence[TreeEntry], subpath: str, *, url: str | None, commit: str
) -> None:
    """Raise unless ``subpath`` is a directory of the tree."""
    if not subpath:
        return
    prefix = f"{subpath}/"
    if not any(e.path.startswith(prefix) for e in entries):
        raise RefNotFoundError(f"sub-path {subpath!r} is not a directory at {commit[:12]}", url=url)


def encode_listing(entries: Iterable[TreeEntry]) -> bytes:
    """What an artifact holds, in the form :meth:`ArtifactStore.commit` stores.

    >>> e = TreeEntry("a b/c", 0o100755, "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391")
    >>> decode_listing(encode_listing([e]))
    {'a b/c': ('X', 'e69de29bb2d1d6434b8b29ae775ad8c2e48c5391')}
    """
    return b"".join(
        f"{e.kind}{e.oid} {e.path}\0".encode("utf-8", "surrogateescape") for e in entries
    )


def decode_listing(data: bytes) -> Listing:
    """The inverse of :func:`encode_listing`; raises :class:`ValueError` on damage."""
    out: Listing = {}
    if data and not data.endswith(b"\0"):
        raise ValueError("truncated listing")
    for record in data.split(b"\0")[:-1]:
        text = record.decode("utf-8", "surrogateescape")
        kind = text[:1]
        oid, _, path = text[1:].partition(" ")
        if kind not in {"F", "X", "L"} or len(oid) not in {40, 64} or not path:
            raise ValueError(f"damaged listing record {text[:60]!r}")
        out[path] = (kind, oid)
    return out


def writes_into_readonly_dirs(directory: str | os.PathLike[str]) -> bool:
    """Whether this process may create files in read-only directories under ``directory``.

    True for root with ``CAP_DAC_OVERRIDE`` on a local file system (not, say,
    on NFS with root squashing): a tree can then be written with read-only
    directories from the start, with no second pass to seal them. Probed once
    per file system (by a directory made in ``directory`` and removed).

    >>> import tempfile
    >>> isinstance(writes_into_readonly_dirs(tempfile.gettempdir()), bool)
    True
    """
    return _probe(os.stat(directory).st_dev, os.fspath(directory))


@functools.lru_cache(maxsize=16)
def _probe(device: int, directory: str) -> bool:
    del device  # the cache key: one probe per file system
    with tempfile.TemporaryDirectory(prefix=".rc-probe-", dir=directory) as tmp:
        probe = os.path.join(tmp, "d")
        os.mkdir(probe, 0o555)
        try:
            os.close(os.open(os.path.join(probe, "f"), os.O_WRONLY | os.O_CREAT, 0o444))
        except PermissionError:
            return False
        finally:
            os.chmod(probe, 0o755)  # noqa: S103 - so that the temporary directory can go
        return True
