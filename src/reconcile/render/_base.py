"""The Renderer protocol, chaining, caching and the checks every result passes.

A renderer turns an artifact (anything with a ``path`` directory and a content
``checksum``, such as a Source's :class:`~reconcile.sources.Artifact` or a
:class:`DirectoryArtifact`) into an ordered tuple of
:class:`~reconcile.objects.Manifest`, each with its origin. A render either
returns every manifest or raises a :class:`~reconcile.errors.RenderError`:
never a partial result.

Example:

    >>> import anyio
    >>> from reconcile.render import Chain, FunctionRenderer, Substitute, DirectoryArtifact
    >>> def app(artifact):
    ...     return [{"apiVersion": "v1", "kind": "ConfigMap",
    ...              "metadata": {"name": "web", "namespace": "${NS:=shop}"}}]
    >>> renderer = Chain(FunctionRenderer(app), Substitute({}))
    >>> [str(m.ref) for m in anyio.run(renderer.render, DirectoryArtifact("."))]
    ['ConfigMap shop/web']
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Protocol, runtime_checkable

import attrs

from reconcile.errors import DuplicateObjectError, ManifestValidationError
from reconcile.objects import Manifest, ObjectRef, Origin
from reconcile.schema import namespaced

__all__ = [
    "ArtifactLike",
    "CachedRenderer",
    "Chain",
    "DirectoryArtifact",
    "PostRenderer",
    "Renderer",
    "ScopeLookup",
    "Validation",
    "builtin_scope",
    "finalize",
    "first_scope",
]

#: Given (API group, kind): True when namespaced, False when cluster-scoped, None when unknown.
ScopeLookup = Callable[[str, str], bool | None]


@runtime_checkable
class ArtifactLike(Protocol):
    """What a renderer needs from an artifact: a directory and a content checksum.

    Every Source's :class:`~reconcile.sources.Artifact` satisfies it, and so
    does :class:`DirectoryArtifact`. ``checksum`` must change whenever the
    content does: :class:`CachedRenderer` keys its results by it. An empty
    checksum means "unknown", and such an artifact is never served from cache.

    Example:

        >>> import anyio, pathlib, tempfile
        >>> from reconcile.render import YamlRenderer
        >>> from reconcile.sources import LocalSource
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> cm = "apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: c}\\n"
        >>> _ = (root / "cm.yaml").write_text(cm)
        >>> artifact = anyio.run(LocalSource(root, cache_dir=tempfile.mkdtemp()).fetch)
        >>> isinstance(artifact, ArtifactLike)
        True
        >>> [str(m.ref) for m in YamlRenderer().render_sync(artifact)]
        ['ConfigMap c']
    """

    @property
    def path(self) -> Path:
        """The directory holding the artifact's files."""
        ...

    @property
    def checksum(self) -> str:
        """A digest of the content (``sha256:<hex>``), or ``""`` when unknown."""
        ...


@attrs.frozen
class DirectoryArtifact:
    """A directory on disk as an artifact, to render without a Source.

    Give a ``checksum`` that changes with the content (a commit id, a digest)
    to let :class:`CachedRenderer` reuse results; without one every render
    reads the directory afresh. To snapshot a directory and checksum it, use
    :class:`~reconcile.sources.LocalSource` instead.

    Example:

        >>> import pathlib, tempfile
        >>> from reconcile.render import YamlRenderer
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> ns = "apiVersion: v1\\nkind: Namespace\\nmetadata: {name: a}\\n"
        >>> _ = (root / "ns.yaml").write_text(ns)
        >>> [str(m.ref) for m in YamlRenderer().render_sync(DirectoryArtifact(root))]
        ['Namespace a']
    """

    path: Path = attrs.field(converter=Path)
    checksum: str = ""


@runtime_checkable
class Renderer(Protocol):
    """Turns an artifact into manifests.

    Example:

        >>> from reconcile.render import FunctionRenderer, YamlRenderer
        >>> isinstance(YamlRenderer(), Renderer), isinstance(FunctionRenderer(list), Renderer)
        (True, True)
    """

    async def render(self, artifact: ArtifactLike) -> tuple[Manifest, ...]:
        """All manifests, in a stable order, or a RenderError (never a partial result)."""
        ...

    def cache_key(self) -> str:
        """A string that changes whenever an option that changes the output does."""
        ...


@runtime_checkable
class PostRenderer(Protocol):
    """Transforms rendered manifests (variable substitution, for example).

    Example:

        >>> from reconcile.render import Substitute
        >>> isinstance(Substitute({"ENV": "prod"}), PostRenderer)
        True
    """

    async def transform(
        self, manifests: Sequence[Manifest], artifact: ArtifactLike
    ) -> tuple[Manifest, ...]:
        """The transformed manifests; the input is left unchanged."""
        ...

    def cache_key(self) -> str:
        """A string that changes whenever an option that changes the output does."""
        ...


class Chain:
    """A renderer followed by post-renderers, each fed the previous output.

    Example:

        >>> import anyio, pathlib, tempfile, types
        >>> from reconcile.render import Substitute, YamlRenderer
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> text = "kind: ConfigMap\\napiVersion: v1\\nmetadata: {name: c}\\n"
        >>> text += "data:\\n  env: ${ENV}\\n"
        >>> _ = (root / "cm.yaml").write_text(text)
        >>> chain = Chain(YamlRenderer(), Substitute({"ENV": "prod"}))
        >>> (m,) = anyio.run(chain.render, types.SimpleNamespace(path=root, checksum="sha256:r1"))
        >>> m.obj["data"]
        {'env': 'prod'}
    """

    def __init__(self, renderer: Renderer, *post: PostRenderer) -> None:
        self.renderer = renderer
        self.post: tuple[PostRenderer, ...] = tuple(post)

    def __repr__(self) -> str:
        return f"Chain({self.renderer!r}, *{self.post!r})"

    async def render(self, artifact: ArtifactLike) -> tuple[Manifest, ...]:
        """Render, then apply each post-renderer in order."""
        manifests = await self.renderer.render(artifact)
        for step in self.post:
            manifests = await step.transform(manifests, artifact)
        return manifests

    def cache_key(self) -> str:
        """The keys of every step."""
        return " | ".join([self.renderer.cache_key(), *(p.cache_key() for p in self.post)])


class CachedRenderer:
    """Remembers the last results by (artifact checksum, renderer options).

    The manifests returned are shared between calls: treat them as read-only.

    >>> CachedRenderer.__name__
    'CachedRenderer'
    """

    def __init__(self, renderer: Renderer, *, maxsize: int = 8) -> None:
        self.renderer = renderer
        self.maxsize = maxsize
        self._cache: collections.OrderedDict[tuple[str, str, str], tuple[Manifest, ...]] = (
            collections.OrderedDict()
        )
        self.hits: int = 0
        self.misses: int = 0

    async def render(self, artifact: ArtifactLike) -> tuple[Manifest, ...]:
        """The cached result, or a fresh render (failures are not cached)."""
        if not artifact.checksum:
            self.misses += 1
            return await self.renderer.render(artifact)
        key = (str(artifact.path), artifact.checksum, self.renderer.cache_key())
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            self.hits += 1
            return cached
        self.misses += 1
        result = await self.renderer.render(artifact)
        self._cache[key] = result
        while len(self._cache) > self.maxsize:
            self._cache.popitem(last=False)
        return result

    def cache_key(self) -> str:
        """The wrapped renderer's key."""
        return self.renderer.cache_key()

    def statistics(self) -> dict[str, int]:
        """Hits, misses and the number of cached results."""
        return {"hits": self.hits, "misses": self.misses, "size": len(self._cache)}


def builtin_scope(group: str, kind: str) -> bool | None:
    """Whether a built-in kind is namespaced; None for kinds of other groups.

    The table is :func:`reconcile.schema.namespaced` (Kubernetes 1.37).

    >>> builtin_scope("apps", "Deployment"), builtin_scope("", "Namespace")
    (True, False)
    >>> builtin_scope("cert-manager.io", "Certificate") is None
    True
    """
    return namespaced(group, kind)


def first_scope(*lookups: ScopeLookup) -> ScopeLookup:
    """A lookup that asks each of ``lookups`` in turn; the first answer that is not None wins.

    For example discovery first, then the built-in table::

        Validation(scope=first_scope(discovery_lookup, builtin_scope))

    >>> crds = {("example.com", "Widget"): False}
    >>> scope = first_scope(lambda group, kind: crds.get((group, kind)), builtin_scope)
    >>> scope("example.com", "Widget"), scope("apps", "Deployment"), scope("x.io", "Y")
    (False, True, None)
    """

    def lookup(group: str, kind: str) -> bool | None:
        for each in lookups:
            answer = each(group, kind)
            if answer is not None:
                return answer
        return None

    return lookup


@attrs.frozen(slots=True)
class Validation:
    """How rendered objects are checked.

    Attributes:
        scope: says whether a kind is namespaced (True), cluster-scoped
            (False) or unknown (None), given its API group and kind. CRDs
            rendered in the same set answer first for their own kinds; then
            this lookup: by default the built-in table of Kubernetes 1.37
            (:func:`reconcile.schema.namespaced`). A caller that knows a
            cluster passes a lookup backed by its discovery, for example
            ``first_scope(discovery_lookup, builtin_scope)``. A kind nobody
            knows is left as it is: no namespace added, none refused.
        default_namespace: set on namespaced objects that have none.
        require_namespace: a namespaced object without a namespace (after
            defaulting) is an error.

    Example:

        >>> from reconcile.objects import Manifest
        >>> cm = Manifest({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})
        >>> (m,) = finalize([cm], Validation(default_namespace="shop"))
        >>> m.obj["metadata"]["namespace"]
        'shop'
    """

    scope: ScopeLookup = builtin_scope
    default_namespace: str | None = None
    require_namespace: bool = False


DEFAULT_VALIDATION: Final = Validation()


def _is_list(obj: Mapping[str, Any]) -> bool:
    """``kind: List`` (or ``FooList``) with items and no name, as kubectl flattens."""
    kind = obj.get("kind")
    if not isinstance(kind, str) or not kind.endswith("List") or "items" not in obj:
        return False
    meta = obj.get("metadata")
    return not (isinstance(meta, dict) and meta.get("name"))


def flatten(value: Any, origin: Origin) -> Iterable[Manifest]:
    """Yield the manifests of one document, expanding ``kind: List`` items."""
    if not isinstance(value, dict):
        what = "a list" if isinstance(value, list) else f"a scalar ({type(value).__name__})"
        raise ManifestValidationError(
            f"a document must be a Kubernetes object (a mapping), not {what}", origin=origin
        )
    if _is_list(value):
        items = value.get("items")
        if not isinstance(items, list):
            raise ManifestValidationError(
                "a List needs a list of items", origin=origin, path="items"
            )
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise ManifestValidationError(
                    "a List item must be a mapping", origin=origin, path=f"items[{i}]"
                )
            yield from flatten(item, origin)
        return
    yield Manifest(value, origin)


def _crd_scopes(manifests: Sequence[Manifest]) -> dict[tuple[str, str], bool]:
    scopes: dict[tuple[str, str], bool] = {}
    for m in manifests:
        obj = m.obj
        if obj.get("kind") == "CustomResourceDefinition" and str(
            obj.get("apiVersion", "")
        ).startswith("apiextensions.k8s.io/"):
            spec = obj.get("spec") or {}
            names = spec.get("names") or {}
            if isinstance(spec, dict) and isinstance(names, dict):
                group, kind = spec.get("group"), names.get("kind")
                if isinstance(group, str) and isinstance(kind, str):
                    scopes[(group, kind)] = spec.get("scope") != "Cluster"
    return scopes


def validate_object(m: Manifest) -> None:
    """Check that apiVersion, kind and metadata.name are present and strings."""
    obj = m.obj
    for field in ("apiVersion", "kind"):
        value = obj.get(field)
        if not isinstance(value, str) or not value:
            problem = "missing" if value is None else "not a non-empty string"
            raise ManifestValidationError(f"{field} is {problem}", origin=m.origin, path=field)
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        raise ManifestValidationError(
            f"{obj['kind']} metadata is missing or not a mapping",
            origin=m.origin,
            path="metadata",
        )
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise ManifestValidationError(
            f"{obj['kind']} metadata.name is "
            + ("missing" if name is None else "not a non-empty string"),
            origin=m.origin,
            path="metadata.name",
        )
    namespace = meta.get("namespace")
    if namespace is not None and not isinstance(namespace, str):
        raise ManifestValidationError(
            "metadata.namespace is not a string", origin=m.origin, path="metadata.namespace"
        )


def finalize(
    manifests: Iterable[Manifest], validation: Validation = DEFAULT_VALIDATION
) -> tuple[Manifest, ...]:
    """Validate rendered manifests, default namespaces and reject duplicates.

    Raises:
        ManifestValidationError: a field is missing, or a namespace does not
            match the kind's scope.
        DuplicateObjectError: two manifests have the same identity; the error
            names both origins.

    Example:

        >>> from reconcile.errors import DuplicateObjectError
        >>> from reconcile.objects import Manifest
        >>> cm = {"apiVersion": "v1", "kind": "ConfigMap",
        ...       "metadata": {"name": "c", "namespace": "d"}}
        >>> try:
        ...     finalize([Manifest(cm), Manifest(cm)])
        ... except DuplicateObjectError as err:
        ...     print(type(err).__name__, err.ref)
        DuplicateObjectError ConfigMap d/c
    """
    result = list(manifests)
    for m in result:
        validate_object(m)
    crds = _crd_scopes(result)
    seen: dict[ObjectRef, Manifest] = {}
    for m in result:
        obj = m.obj
        meta = obj["metadata"]
        group = obj["apiVersion"].rpartition("/")[0]
        key = (group, obj["kind"])
        namespaced = crds.get(key)
        if namespaced is None:
            namespaced = validation.scope(*key)
        if namespaced is False and meta.get("namespace"):
            raise ManifestValidationError(
                f"{obj['kind']} is cluster-scoped but has a namespace",
                origin=m.origin,
                ref=m.ref,
                path="metadata.namespace",
            )
        if namespaced and not meta.get("namespace"):
            if validation.default_namespace:
                meta["namespace"] = validation.default_namespace
            elif validation.require_namespace:
                raise ManifestValidationError(
                    f"{obj['kind']} is namespaced but has no namespace",
                    origin=m.origin,
                    ref=m.ref,
                    path="metadata.namespace",
                )
        ref = m.ref
        first = seen.get(ref)
        if first is not None:
            raise DuplicateObjectError(
                "the same object is defined twice", origin=m.origin, ref=ref, other=first.origin
            )
        seen[ref] = m
    return tuple(result)


def render_key(name: str, **options: Any) -> str:
    """A deterministic cache key from a renderer's name and options."""
    parts = [f"{k}={options[k]!r}" for k in sorted(options)]
    return f"{name}({', '.join(parts)})"
