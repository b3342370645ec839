"""Sources fetch a revision of the declared state: Git (several backends) and local directories.

Every source has ``await source.fetch() -> Artifact``: the revision, a
read-only directory and a content checksum.

Example:

    >>> import anyio, pathlib, tempfile
    >>> from reconcile.sources import LocalSource
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "cm.yaml").write_text("kind: ConfigMap\\n")
    >>> artifact = anyio.run(LocalSource(d, cache_dir=tempfile.mkdtemp()).fetch)
    >>> artifact.checksum.startswith("sha256:"), artifact.files
    (True, 1)
"""

from reconcile.sources._artifact import Artifact, Revision, Source
from reconcile.sources._local import LocalSource
from reconcile.sources._redact import redact_url
from reconcile.sources._tree import FileFilter, Limits
from reconcile.sources.git import (
    GitBackend,
    GitRef,
    GitSource,
    HTTPSAuth,
    SignatureVerification,
    SSHAuth,
)

__all__ = [
    "Artifact",
    "FileFilter",
    "GitBackend",
    "GitRef",
    "GitSource",
    "HTTPSAuth",
    "Limits",
    "LocalSource",
    "Revision",
    "SSHAuth",
    "SignatureVerification",
    "Source",
    "redact_url",
]
