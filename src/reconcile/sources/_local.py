"""A local directory as a source: a plain directory or a git working tree."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from reconcile.errors import ConfigurationError, SourceError
from reconcile.sources._artifact import Artifact, Revision
from reconcile.sources._tree import ArtifactStore, FileFilter, Lease, Limits, finalize_tree

__all__ = ["LocalSource"]

log = logging.getLogger(__name__)


class LocalSource:
    """A directory on this machine, snapshotted into a read-only artifact.

    A plain directory's revision is the digest of its content. A git working
    tree (a directory with ``.git``) reports the ``HEAD`` commit and branch,
    keeps only files git does not ignore, and marks the revision ``dirty``
    when the working tree differs from ``HEAD``.

    Every fetch copies the content into a new immutable directory under
    ``cache_dir`` (unless the content is unchanged), so later edits to the
    original never change an artifact already returned.

    Example:

        >>> import anyio, tempfile, pathlib
        >>> src_dir = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (src_dir / "app.yaml").write_text("kind: ConfigMap\\n")
        >>> _ = (src_dir / "notes.md").write_text("hi\\n")
        >>> source = LocalSource(src_dir, cache_dir=tempfile.mkdtemp(), ignore="*.md")
        >>> artifact = anyio.run(source.fetch)
        >>> sorted(p.name for p in artifact.path.iterdir())
        ['app.yaml']
        >>> str(artifact.revision) == artifact.checksum
        True
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        cache_dir: str | os.PathLike[str],
        subpath: str = "",
        ignore: str | list[str] | tuple[str, ...] = (),
        include: list[str] | tuple[str, ...] = (),
        exclude: list[str] | tuple[str, ...] = (),
        limits: Limits | None = None,
        keep: int = 2,
    ) -> None:
        self.path: Path = Path(path)
        if subpath.startswith("/") or ".." in Path(subpath).parts:
            raise ConfigurationError(f"subpath must be relative and stay inside: {subpath!r}")
        self.subpath: str = subpath.strip("/")
        self.filter_args: dict[str, Any] = {
            "ignore": ignore,
            "include": tuple(include),
            "exclude": tuple(exclude),
        }
        self.limits: Limits = limits or Limits()
        # Each source (directory, sub-path, filters) keeps and collects its own
        # artifacts, even when several share one cache directory.
        selection = "\0".join(
            [str(self.path.resolve()), self.subpath, self._file_filter().fingerprint()]
        )
        digest = hashlib.sha256(selection.encode()).hexdigest()[:32]
        self.store: ArtifactStore = ArtifactStore(Path(cache_dir) / "local" / digest, keep=keep)
        self._lock = anyio.Lock()
        self._last: Artifact | None = None
        self._lease: Lease | None = None

    def _file_filter(self) -> FileFilter:
        return FileFilter(**self.filter_args)

    async def fetch(self) -> Artifact:
        """Snapshot the directory and return its artifact."""
        async with self._lock:
            if not self.path.is_dir():
                raise SourceError(f"{self.path} is not a directory")
            revision = Revision()
            git_files: list[str] | None = None
            if (self.path / ".git").exists():
                revision, git_files = await _git_state(self.path)
            artifact = await anyio.to_thread.run_sync(self._snapshot, revision, git_files)
            self._last = artifact
            return artifact

    def _snapshot(self, revision: Revision, git_files: list[str] | None) -> Artifact:
        staged = self.store.staging()
        try:
            tree = staged / "tree"
            if git_files is None:
                shutil.copytree(
                    self.path, tree, symlinks=True, ignore=shutil.ignore_patterns(".git")
                )
            else:
                tree.mkdir()
                for rel in git_files:
                    src = self.path / rel
                    if not os.path.lexists(src) or (src.is_dir() and not src.is_symlink()):
                        continue  # deleted in the working tree, or a submodule
                    dst = tree / rel
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, dst, follow_symlinks=False)
            root = tree / self.subpath if self.subpath else tree
            if not root.is_dir():
                raise SourceError(f"sub-path {self.subpath!r} is not a directory in {self.path}")
            file_filter = self._file_filter()
            stats = finalize_tree(root, file_filter, self.limits)
            if revision.commit is None:
                revision = Revision(digest=stats.checksum)
            key = f"{stats.checksum[7:23]}-{file_filter.fingerprint()}"
            if self.store.exists(key):
                final = self.store.path(key)
                os.utime(final)
            else:
                final = self.store.commit(root, key)
            # Leased until the next fetch replaces it: no other store collects it.
            lease = self.store.hold(key)
            if self._lease is not None:
                self._lease.release()
            self._lease = lease
            self.store.gc(protect=[key])
            return Artifact(
                revision=revision,
                path=final,
                checksum=stats.checksum,
                files=stats.files,
                size=stats.size,
            )
        finally:
            self.store.discard(staged)


async def _git_state(path: Path) -> tuple[Revision, list[str] | None]:
    git = shutil.which("git")
    if git is None:
        return _dulwich_state(path), None
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}

    async def run(*args: str, check: bool = True) -> str:
        proc = await anyio.run_process(
            [git, "-C", str(path), *args], check=False, env=env, stdin=None
        )
        if check and proc.returncode != 0:
            msg = proc.stderr.decode("utf-8", "replace").strip()
            raise SourceError(f"git {args[0]} failed in {path}: {msg}")
        return proc.stdout.decode("utf-8", "surrogateescape")

    head = (await run("rev-parse", "--verify", "-q", "HEAD", check=False)).strip() or None
    ref = (await run("symbolic-ref", "-q", "HEAD", check=False)).strip() or None
    status = await run("status", "--porcelain", "-z", "--untracked-files=normal")
    listing = await run("ls-files", "-z", "--cached", "--others", "--exclude-standard")
    files = [f for f in listing.split("\0") if f]
    return Revision(commit=head, ref=ref, dirty=bool(status)), files


def _dulwich_state(path: Path) -> Revision:
    try:
        from dulwich.repo import Repo
    except ImportError as exc:  # pragma: no cover - dulwich ships with the git extra
        raise SourceError("reading a git working tree needs git or dulwich") from exc
    with Repo(str(path)) as repo:
        try:
            head = repo.head().decode()
        except KeyError:
            head = None
        symrefs: Any = repo.refs.get_symrefs()
        target = symrefs.get(b"HEAD")
        ref = target.decode() if target else None
    return Revision(commit=head, ref=ref)
