"""Git as a source: one :class:`GitSource`, several backends.

Backends: ``cli`` (the ``git`` command), ``dulwich`` (pure Python, the
default where no ``git`` binary exists), ``pygit2`` (optional extra).

Example:

    >>> from reconcile.sources.git import GitRef, GitSource
    >>> src = GitSource("git@github.example:org/repo.git", ref=GitRef(semver="^1.2"),
    ...                 cache_dir="/tmp/c", auth=SSHAuth(private_key=b"...", known_hosts="h k v"))
    >>> src.url
    'ssh://git@github.example/org/repo.git'
"""

from reconcile.sources.git._auth import HTTPSAuth, SSHAuth
from reconcile.sources.git._backend import Connection, GitBackend, RemoteRefs, TreeEntry, Want
from reconcile.sources.git._refs import GitRef, ResolvedRef, best_semver
from reconcile.sources.git._source import GitSource, backend_names, get_backend
from reconcile.sources.git._url import ParsedRemote, parse_remote
from reconcile.sources.git._verify import SignatureVerification

__all__ = [
    "Connection",
    "GitBackend",
    "GitRef",
    "GitSource",
    "HTTPSAuth",
    "ParsedRemote",
    "RemoteRefs",
    "ResolvedRef",
    "SSHAuth",
    "SignatureVerification",
    "TreeEntry",
    "Want",
    "backend_names",
    "best_semver",
    "get_backend",
    "parse_remote",
]
