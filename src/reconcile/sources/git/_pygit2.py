"""The pygit2 backend (libgit2), an optional extra: ``pip install 'reconcile[pygit2]'``.

libgit2 cannot be pointed at a given known_hosts file, so this backend
refuses ``ssh://`` remotes rather than connect without verifying the host key;
use the ``cli`` or ``dulwich`` backend for SSH.

A custom CA bundle is a process-wide libgit2 setting that cannot be undone:
once a pygit2 source has used a CA bundle, that CA stays trusted by every
pygit2 source in the process. Use the ``cli`` or ``dulwich`` backend where
sources with different trust must share a process. libgit2's local transport
cannot fetch shallow: ``file://`` remotes are fetched in full.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread
import pygit2

from reconcile.errors import ConfigurationError, SourceAuthError, SourceError
from reconcile.sources.git._backend import (
    CacheError,
    Connection,
    RemoteRefs,
    TreeEntry,
    Want,
)
from reconcile.sources.git._cli import AUTH_STATUS, classify

__all__ = ["Pygit2Backend"]

T = TypeVar("T")
_NETWORK_LOCK = threading.Lock()
_UNSHALLOW = 2147483647


class _Callbacks(pygit2.RemoteCallbacks):
    def __init__(self, conn: Connection) -> None:
        super().__init__()
        self._conn = conn
        self.attempts = 0

    def credentials(self, url: str, username_from_url: str | None, allowed_types: Any) -> Any:
        self.attempts += 1
        conn = self._conn
        if self.attempts > 1 or conn.username is None or conn.password is None:
            raise SourceAuthError("authentication failed", url=conn.redacted)
        return pygit2.UserPass(conn.username, conn.password)

    def certificate_check(self, certificate: Any, valid: bool, host: bytes) -> bool:
        return bool(valid)

    def custom_headers(self) -> list[str] | None:
        if self._conn.bearer_token is None:
            return None
        return [f"Authorization: Bearer {self._conn.bearer_token}"]


class Pygit2Backend:
    """Talks to remotes with libgit2 through pygit2, in worker threads.

    Example:

        >>> Pygit2Backend().name
        'pygit2'
    """

    name = "pygit2"

    async def _run(self, conn: Connection | None, what: str, fn: Callable[[], T]) -> T:
        def call() -> T:
            if conn is None:
                return fn()
            if conn.remote.scheme == "ssh":
                raise ConfigurationError(
                    "the pygit2 backend cannot verify SSH host keys against known_hosts; "
                    "use the cli or dulwich backend for ssh:// remotes"
                )
            ms = max(1, int(conn.timeout * 1000))
            with _NETWORK_LOCK:
                pygit2.settings.server_connect_timeout = ms
                pygit2.settings.server_timeout = ms
                if conn.ca_file is not None:
                    pygit2.settings.set_ssl_cert_locations(str(conn.ca_file), None)
                return fn()

        try:
            return await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
        except (SourceError, ConfigurationError):
            raise
        except Exception as exc:
            if conn is None:
                raise CacheError(f"{what}: {type(exc).__name__}: {exc}") from exc
            text = str(exc)
            low = text.lower()
            if AUTH_STATUS.search(low) or "authentication" in low:
                return_exc: SourceError = SourceAuthError(
                    f"{what}: authentication failed: {conn.scrub(text)}", url=conn.redacted
                )
            elif "resource temporarily unavailable" in low or "timed out" in low:
                # libgit2 reports its socket timeout as EAGAIN.
                return_exc = SourceError(
                    f"{what} timed out after {conn.timeout:g}s: {conn.scrub(text)}",
                    url=conn.redacted,
                )
            elif "certificate" in low or "ssl" in low or "tls" in low:
                from reconcile.errors import SourceSecurityError

                return_exc = SourceSecurityError(
                    f"{what}: TLS verification failed: {conn.scrub(text)}", url=conn.redacted
                )
            elif "object" in low and ("corrupt" in low or "not found" in low or "missing" in low):
                return_exc = CacheError(f"{what}: {conn.scrub(text)}", url=conn.redacted)
            else:
                return_exc = classify(conn, what, text)
            raise return_exc from None

    def _remote(self, repo: Any, conn: Connection) -> Any:
        return repo.remotes.create_anonymous(conn.url)

    async def ls_remote(self, conn: Connection) -> RemoteRefs:
        """``Remote.list_heads`` from a throw-away in-memory remote."""

        def run() -> RemoteRefs:
            import tempfile

            with tempfile.TemporaryDirectory(prefix="rcp-") as tmp:
                repo = pygit2.init_repository(tmp, bare=True)
                try:
                    heads = self._remote(repo, conn).list_heads(callbacks=_Callbacks(conn))
                finally:
                    repo.free()
            refs: dict[str, str] = {}
            symrefs: dict[str, str] = {}
            for head in heads:
                if head.name is None:
                    continue
                refs[head.name] = str(head.oid)
                if head.symref_target:
                    symrefs[head.name] = head.symref_target
            return RemoteRefs(refs, symrefs)

        return await self._run(conn, "ls-remote", run)

    async def fetch(
        self, conn: Connection, repo: Path, wants: Sequence[Want], *, depth: int | None
    ) -> None:
        """``Remote.fetch`` into the bare cache repository."""

        def run() -> None:
            if (repo / "HEAD").is_file():
                r = pygit2.Repository(str(repo))
            else:
                repo.mkdir(parents=True, exist_ok=True)
                r = pygit2.init_repository(str(repo), bare=True)
            try:
                refspecs = [f"+{w.ref}:{w.ref}" if w.ref else w.sha for w in wants]
                unshallow = _UNSHALLOW if r.is_shallow else 0
                fetch_depth = depth if depth is not None else unshallow
                if conn.remote.scheme == "file":
                    fetch_depth = 0  # libgit2's local transport cannot fetch shallow
                self._remote(r, conn).fetch(refspecs, callbacks=_Callbacks(conn), depth=fetch_depth)
                for w in wants:
                    if w.sha not in r:
                        from reconcile.errors import RefNotFoundError

                        raise RefNotFoundError(
                            f"the server did not send {w.sha[:12]}", url=conn.redacted
                        )
            finally:
                r.free()

        await self._run(conn, "fetch", run)

    async def has_commit(self, repo: Path, sha: str) -> bool:
        """Whether the repository holds the commit."""
        if not (repo / "HEAD").is_file():
            return False

        def run() -> bool:
            r = pygit2.Repository(str(repo))
            try:
                obj = r.get(sha)
                return isinstance(obj, pygit2.Commit)
            finally:
                r.free()

        return await self._run(None, "has-commit", run)

    async def is_ancestor(self, repo: Path, ancestor: str, descendant: str) -> bool:
        """``git_graph_descendant_of`` (or equality)."""

        def run() -> bool:
            r = pygit2.Repository(str(repo))
            try:
                return ancestor == descendant or bool(r.descendant_of(descendant, ancestor))
            finally:
                r.free()

        return await self._run(None, "is-ancestor", run)

    async def list_tree(self, repo: Path, commit: str) -> list[TreeEntry]:
        """Walk the commit's tree (submodules skipped)."""

        def run() -> list[TreeEntry]:
            r = pygit2.Repository(str(repo))
            out: list[TreeEntry] = []
            try:
                self._walk(r, r[commit].peel(pygit2.Tree), "", out)
            finally:
                r.free()
            return out

        return await self._run(None, "list-tree", run)

    def _walk(self, r: Any, tree: Any, prefix: str, out: list[TreeEntry]) -> None:
        for entry in tree:
            rel = f"{prefix}{entry.name}"
            if entry.type_str == "tree":
                self._walk(r, r[entry.id], rel + "/", out)
            elif entry.type_str == "blob":
                out.append(TreeEntry(rel, entry.filemode, str(entry.id)))

    async def diff_tree(
        self, repo: Path, old: str, new: str
    ) -> list[tuple[str, TreeEntry | None]] | None:
        """What changed from commit ``old`` to ``new`` (see the CLI backend's ``diff_tree``)."""
        from reconcile.sources.git._cli import DIFF_LIMIT

        def run() -> list[tuple[str, TreeEntry | None]] | None:
            r = pygit2.Repository(str(repo))
            try:
                try:
                    a = r[old].peel(pygit2.Tree)
                    b = r[new].peel(pygit2.Tree)
                except (KeyError, ValueError):
                    return None
                out: list[tuple[str, TreeEntry | None]] = []
                for delta in a.diff_to_tree(b).deltas:
                    if delta.old_file.mode:
                        out.append((delta.old_file.path, None))
                    mode = delta.new_file.mode
                    if mode and mode != 0o160000:
                        path = delta.new_file.path
                        out.append((path, TreeEntry(path, mode, str(delta.new_file.id))))
                    if len(out) > 2 * DIFF_LIMIT:
                        return None
                return out
            finally:
                r.free()

        return await self._run(None, "diff-tree", run)

    async def list_gitlinks(self, repo: Path, commit: str) -> dict[str, str]:
        """Submodule entries of ``commit``'s tree: path -> commit SHA."""

        def run() -> dict[str, str]:
            r = pygit2.Repository(str(repo))
            links: dict[str, str] = {}

            def walk(tree: Any, prefix: str) -> None:
                for entry in tree:
                    rel = f"{prefix}{entry.name}"
                    if entry.type_str == "tree":
                        walk(r[entry.id], rel + "/")
                    elif entry.type_str == "commit":
                        links[rel] = str(entry.id)

            try:
                walk(r[commit].peel(pygit2.Tree), "")
            finally:
                r.free()
            return links

        return await self._run(None, "list-tree", run)

    async def read_blobs(
        self, repo: Path, oids: Sequence[str], sink: Callable[[int, bytes], None]
    ) -> None:
        """Read each blob from the object database and hand it to ``sink``."""

        def run() -> None:
            r = pygit2.Repository(str(repo))
            try:
                for i, oid in enumerate(oids):
                    blob: Any = r[oid]
                    sink(i, bytes(blob.data))
            finally:
                r.free()

        await self._run(None, "read-blobs", run)

    async def read_object(self, repo: Path, sha: str) -> tuple[str, bytes]:
        """The raw object from the object database."""

        def run() -> tuple[str, bytes]:
            r = pygit2.Repository(str(repo))
            try:
                kind, data = r.odb.read(sha)
            finally:
                r.free()
            names = {1: "commit", 2: "tree", 3: "blob", 4: "tag"}
            return names.get(int(kind), "unknown"), bytes(data)

        return await self._run(None, "read-object", run)
