"""The protocol every Git backend implements, and what they share."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import attrs

from reconcile.errors import SourceError
from reconcile.sources._materialize import TreeEntry, check_tree_path
from reconcile.sources._redact import scrub
from reconcile.sources.git._url import ParsedRemote

__all__ = [
    "CacheError",
    "Connection",
    "GitBackend",
    "RemoteRefs",
    "TreeEntry",
    "Want",
    "check_tree_path",
]


class CacheError(SourceError):
    """The local cache repository is unusable (corrupt, missing objects).

    The source deletes the cache and fetches again; users never see this
    class unless the second attempt fails too.
    """


@attrs.frozen(slots=True)
class RemoteRefs:
    """What a remote advertises: ref name -> SHA (with peeled ``^{}`` tags), symrefs.

    Example:

        >>> refs = RemoteRefs({"refs/heads/main": "a" * 40}, {"HEAD": "refs/heads/main"})
        >>> refs.symrefs["HEAD"]
        'refs/heads/main'
    """

    refs: dict[str, str]
    symrefs: dict[str, str] = attrs.field(factory=dict)


@attrs.frozen(slots=True)
class Want:
    """One thing to fetch: a remote ref (stored under the same name) or a bare commit.

    Example:

        >>> Want("a" * 40, "refs/tags/v1.0.0").ref
        'refs/tags/v1.0.0'
    """

    sha: str
    ref: str | None = None


@attrs.frozen(slots=True)
class Connection:
    """Everything a backend needs to reach one remote, prepared by the source.

    Secrets live here only in memory; files (CA bundle, key, known_hosts,
    askpass script) are in a private directory that exists for one fetch.

    Example:

        >>> from reconcile.sources.git import parse_remote
        >>> conn = Connection(parse_remote("https://git.example.com/r.git"), timeout=30.0,
        ...                   username="bot", password="s3cret")
        >>> "s3cret" in repr(conn)
        False
    """

    remote: ParsedRemote
    timeout: float
    username: str | None = attrs.field(default=None)
    password: str | None = attrs.field(default=None, repr=False)
    bearer_token: str | None = attrs.field(default=None, repr=False)
    ca_file: Path | None = None
    #: argv of the ssh client with every option (identity, known_hosts, ...).
    ssh_command: tuple[str, ...] | None = None
    #: environment for ssh: askpass script and the passphrase.
    ssh_env: dict[str, str] = attrs.field(factory=dict, repr=False)
    secrets: tuple[str, ...] = attrs.field(default=(), repr=False)

    @property
    def url(self) -> str:
        """The credential-free URL."""
        return self.remote.url

    @property
    def redacted(self) -> str:
        """The URL for messages."""
        return self.remote.redacted

    def scrub(self, text: str) -> str:
        """``text`` with every secret of this connection removed."""
        return scrub(text, self.secrets)


@runtime_checkable
class GitBackend(Protocol):
    """A way of talking Git: the ``git`` CLI, dulwich, or pygit2.

    The cache repository is a bare repository in Git's on-disk format that
    only the backend that created it writes to. Backends raise
    :class:`~reconcile.errors.SourceError` subclasses with the redacted URL;
    :class:`CacheError` when the cache itself is broken. Timeouts are imposed
    by the caller through cancellation; backends must stop their work (kill
    their processes) when cancelled.

    Example:

        >>> from reconcile.sources.git import get_backend
        >>> backend: GitBackend = get_backend("dulwich")
        >>> backend.name
        'dulwich'
    """

    #: The backend's name: ``cli``, ``dulwich`` or ``pygit2``.
    name: str

    async def ls_remote(self, conn: Connection) -> RemoteRefs:
        """The refs the remote advertises (a cheap round trip, no objects)."""
        ...

    async def fetch(
        self, conn: Connection, repo: Path, wants: Sequence[Want], *, depth: int | None
    ) -> None:
        """Fetch ``wants`` into the bare repository ``repo`` (created if missing)."""
        ...

    async def has_commit(self, repo: Path, sha: str) -> bool:
        """Whether commit ``sha`` is in ``repo`` (False when ``repo`` does not exist)."""
        ...

    async def is_ancestor(self, repo: Path, ancestor: str, descendant: str) -> bool:
        """Whether ``ancestor`` is reachable from ``descendant`` in ``repo``."""
        ...

    async def list_tree(self, repo: Path, commit: str) -> list[TreeEntry]:
        """Every file and symlink of ``commit``'s tree, recursively (no submodules)."""
        ...

    async def read_blobs(
        self, repo: Path, oids: Sequence[str], sink: Callable[[int, bytes], None]
    ) -> None:
        """Call ``sink(index, content)`` for each blob of ``oids``, in order.

        ``sink`` does blocking file I/O: backends call it from a worker thread.
        """
        ...

    async def read_object(self, repo: Path, sha: str) -> tuple[str, bytes]:
        """The type (``commit``, ``tag``) and raw content of object ``sha``."""
        ...
