"""Plain YAML and JSON manifests from a directory tree.

Example:

    >>> import anyio, tempfile
    >>> from pathlib import Path
    >>> from reconcile.render import DirectoryArtifact, YamlRenderer
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = (Path(d) / "cm.yaml").write_text(
    ...         "apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: a, namespace: x}\\n")
    ...     manifests = anyio.run(YamlRenderer().render, DirectoryArtifact(d))
    ...     [(str(m.ref), str(m.origin)) for m in manifests]
    [('ConfigMap x/a', 'cm.yaml:1:1 (document 0)')]
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import anyio.to_thread

from reconcile.errors import RenderSecurityError
from reconcile.objects import Manifest, Origin
from reconcile.render._base import (
    DEFAULT_VALIDATION,
    ArtifactLike,
    Validation,
    finalize,
    flatten,
    render_key,
)
from reconcile.render._paths import inside, resolve_inside
from reconcile.render._yaml import DEFAULT_LIMITS, YamlLimits, load_yaml

__all__ = ["YamlRenderer", "load_manifests"]

DEFAULT_INCLUDE = ("*.yaml", "*.yml", "*.json")
DEFAULT_EXCLUDE = (".*", "kustomization.yaml", "kustomization.yml", "Kustomization")


def _matches(relpath: str, patterns: Sequence[str]) -> bool:
    name = relpath.rsplit("/", 1)[-1]
    for pattern in patterns:
        target = relpath if "/" in pattern else name
        if fnmatch.fnmatchcase(target, pattern.strip("/")):
            return True
    return False


def walk(
    root: Path,
    start: Path,
    *,
    include: Sequence[str] = DEFAULT_INCLUDE,
    exclude: Sequence[str] = DEFAULT_EXCLUDE,
    recursive: bool = True,
) -> Iterator[Path]:
    """Files under ``start`` in a deterministic order (sorted by name, depth first).

    Patterns without a ``/`` match a file or directory name; with a ``/``
    they match the path relative to ``start``. Symlinks are followed only
    while they stay inside ``root``.

    Raises:
        RenderSecurityError: a symlink points outside ``root``.
    """
    visited: set[str] = set()

    def visit(directory: Path, prefix: str) -> Iterator[Path]:
        real = os.path.realpath(directory)
        if real in visited:
            return
        visited.add(real)
        with os.scandir(directory) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            rel = f"{prefix}{entry.name}"
            if _matches(rel, exclude):
                continue
            path = Path(entry.path)
            if entry.is_symlink() and not inside(path, root):
                raise RenderSecurityError("a symlink leaves the artifact root", origin=Origin(rel))
            if entry.is_dir():
                if recursive:
                    yield from visit(path, f"{rel}/")
            elif entry.is_file() and _matches(rel, include):
                yield path

    yield from visit(start, "")


def load_manifests(
    path: Path,
    root: Path,
    *,
    limits: YamlLimits = DEFAULT_LIMITS,
) -> list[Manifest]:
    """The manifests of one file, with origins relative to ``root``.

    Example:

        >>> import pathlib, tempfile
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> text = "kind: A\\napiVersion: v1\\nmetadata: {name: a}\\n---\\n"
        >>> _ = (root / "two.yaml").write_text(text)
        >>> [m.obj["kind"] for m in load_manifests(root / "two.yaml", root)]
        ['A']
    """
    rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.as_posix()
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise RenderSecurityError(
            f"file is {size} bytes, over the limit of {limits.max_file_bytes}",
            origin=Origin(rel),
        )
    data = path.read_bytes()
    manifests: list[Manifest] = []
    for doc in load_yaml(data, rel, limits=limits):
        manifests.extend(flatten(doc.value, Origin(rel, doc.index, doc.line, doc.column)))
    return manifests


class YamlRenderer:
    """Plain YAML (and JSON) manifests from a directory of the artifact.

    Args:
        path: the directory (or a single file) inside the artifact.
        include: file name patterns to read.
        exclude: file or directory patterns to skip (hidden entries and
            kustomization files by default).
        recursive: descend into subdirectories.
        limits: size, alias and nesting bounds for the YAML loader.
        validation: scope and namespace rules.

    Example:

        >>> import pathlib, tempfile, types
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> cm = "apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: c}\\n"
        >>> _ = (root / "cm.yaml").write_text(cm)
        >>> artifact = types.SimpleNamespace(path=root, checksum="sha256:r1")
        >>> [str(m.origin) for m in YamlRenderer().render_sync(artifact)]
        ['cm.yaml:1:1 (document 0)']
    """

    def __init__(
        self,
        path: str = ".",
        *,
        include: Sequence[str] = DEFAULT_INCLUDE,
        exclude: Sequence[str] = DEFAULT_EXCLUDE,
        recursive: bool = True,
        limits: YamlLimits = DEFAULT_LIMITS,
        validation: Validation = DEFAULT_VALIDATION,
    ) -> None:
        self.path = path
        self.include: tuple[str, ...] = tuple(include)
        self.exclude: tuple[str, ...] = tuple(exclude)
        self.recursive = recursive
        self.limits = limits
        self.validation = validation

    def cache_key(self) -> str:
        """Every option that changes the output."""
        return render_key(
            "yaml",
            path=self.path,
            include=self.include,
            exclude=self.exclude,
            recursive=self.recursive,
            limits=self.limits,
            validation=self.validation,
        )

    def render_sync(self, artifact: ArtifactLike) -> tuple[Manifest, ...]:
        """Render in the calling thread."""
        root = Path(artifact.path)
        start = resolve_inside(root, root, self.path, what="path")
        if start.is_file():
            files: list[Path] = [start]
        else:
            files = list(
                walk(
                    root,
                    start,
                    include=self.include,
                    exclude=self.exclude,
                    recursive=self.recursive,
                )
            )
        manifests: list[Manifest] = []
        for file in files:
            manifests.extend(load_manifests(file, root, limits=self.limits))
        return finalize(manifests, self.validation)

    async def render(self, artifact: ArtifactLike) -> tuple[Manifest, ...]:
        """Read, parse and validate every matching file (in a worker thread)."""
        return await anyio.to_thread.run_sync(self.render_sync, artifact)
