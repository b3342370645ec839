"""Artifacts: a revision of the declared state, on disk, read-only."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import attrs

__all__ = ["Artifact", "Revision", "Source"]


@attrs.frozen(slots=True)
class Revision:
    """Which revision an artifact holds.

    A Git revision has the commit SHA and the ref it was resolved from (a full
    ref name such as ``refs/heads/main`` or ``refs/tags/v1.2.0``; ``None``
    for an exact commit). A plain directory has no commit: its revision is the
    content digest.

    >>> str(Revision(commit="a" * 40, ref="refs/heads/main"))
    'main@sha1:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'
    >>> str(Revision(commit="b" * 40))
    'sha1:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb'
    >>> str(Revision(digest="sha256:0f0f"))
    'sha256:0f0f'
    """

    commit: str | None = None
    ref: str | None = None
    digest: str | None = None
    #: A git working tree with uncommitted changes (LocalSource only).
    dirty: bool = False

    @property
    def short_ref(self) -> str | None:
        """The ref without its ``refs/heads/`` or ``refs/tags/`` prefix."""
        if self.ref is None:
            return None
        for prefix in ("refs/heads/", "refs/tags/"):
            if self.ref.startswith(prefix):
                return self.ref[len(prefix) :]
        return self.ref

    def __str__(self) -> str:
        if self.commit is None:
            return self.digest or "unknown"
        algo = "sha256" if len(self.commit) == 64 else "sha1"
        text = f"{algo}:{self.commit}"
        if self.ref is not None:
            text = f"{self.short_ref}@{text}"
        if self.dirty:
            text += "+dirty"
        return text


@attrs.frozen(slots=True)
class Artifact:
    """The content of one revision: a read-only directory and its checksum.

    Attributes:
        revision: what was fetched.
        path: the root directory of the content (after sub-path selection and
            ignore rules). It is never modified once returned; a newer
            revision goes to a new directory, and old ones are garbage-collected
            only after newer ones exist.
        checksum: ``sha256:<hex>`` over the file names, modes and contents;
            equal content gives an equal checksum, whatever backend fetched it.
        files: how many files (and symlinks) the directory holds.
        size: their total size in bytes.

    Example:

        >>> import anyio, pathlib, tempfile
        >>> from reconcile.sources import LocalSource
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "a.yaml").write_text("kind: ConfigMap\\n")
        >>> artifact = anyio.run(LocalSource(d, cache_dir=tempfile.mkdtemp()).fetch)
        >>> artifact.files, artifact.size, (artifact.path / "a.yaml").read_text()
        (1, 16, 'kind: ConfigMap\\n')
    """

    revision: Revision
    path: Path
    checksum: str
    files: int = 0
    size: int = 0


@runtime_checkable
class Source(Protocol):
    """Anything that can produce an :class:`Artifact`.

    ``fetch`` is idempotent: when nothing changed at the origin it returns an
    artifact equal to the previous one, cheaply.

    Example:

        >>> from reconcile.sources import GitSource, LocalSource
        >>> isinstance(LocalSource(".", cache_dir="/tmp/c"), Source)
        True
        >>> isinstance(GitSource("https://git.example.com/r.git", cache_dir="/tmp/c"), Source)
        True
    """

    async def fetch(self) -> Artifact:
        """Fetch the current revision and return its artifact."""
        ...
