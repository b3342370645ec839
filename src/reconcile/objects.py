"""Object identity and manifests.

An object's identity is its API group, kind, namespace and name: the API
version is carried along but is not part of identity, because the same object
is served under several versions (``apps/v1beta2`` and ``apps/v1``), which is
also how kubectl's ApplySet and Flux's inventory compare objects.

Example:

    >>> from reconcile.objects import Manifest, ObjectRef
    >>> m = Manifest({"apiVersion": "apps/v1", "kind": "Deployment",
    ...               "metadata": {"name": "web", "namespace": "shop"}})
    >>> m.ref
    ObjectRef(api_version='apps/v1', kind='Deployment', name='web', namespace='shop')
    >>> str(m.ref)
    'apps/Deployment shop/web'
    >>> m.ref == ObjectRef("apps/v1beta2", "Deployment", "web", "shop")
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import attrs

__all__ = ["JSON", "JSONObject", "Manifest", "ObjectRef", "Origin", "split_api_version"]

#: A JSON-compatible value: dict, list, str, int, float, bool or None.
JSON = Any
#: A JSON object (a Kubernetes object is one).
JSONObject = dict[str, Any]


def split_api_version(api_version: str) -> tuple[str, str]:
    """Split ``apiVersion`` into (group, version); the core group is ``""``.

    >>> split_api_version("apps/v1")
    ('apps', 'v1')
    >>> split_api_version("v1")
    ('', 'v1')
    """
    group, sep, version = api_version.rpartition("/")
    return (group, version) if sep else ("", api_version)


@attrs.frozen(slots=True)
class Origin:
    """Where a manifest came from: a file, the document in it, and a line.

    ``document`` counts from 0 in a multi-document stream; ``line`` and
    ``column`` count from 1, as editors do.

    >>> str(Origin("base/app.yaml", document=2, line=14))
    'base/app.yaml:14 (document 2)'
    """

    file: str
    document: int = 0
    line: int | None = None
    column: int | None = None
    #: What produced it when not a plain file: ``kustomize``, ``helm``, ``function``.
    renderer: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        where += f" (document {self.document})"
        if self.renderer:
            where += f" via {self.renderer}"
        return where


@attrs.frozen(slots=True, repr=False)
class ObjectRef:
    """A reference to one Kubernetes object.

    Equality and hashing use (group, kind, namespace, name); ``api_version``
    is kept for the requests but ignored by comparison. ``namespace`` is
    ``None`` for cluster-scoped objects (and for namespaced objects whose
    namespace is to be defaulted).

    Example:

        >>> a = ObjectRef("apps/v1", "Deployment", "web", "shop")
        >>> a.group, a.version, str(a)
        ('apps', 'v1', 'apps/Deployment shop/web')
        >>> a == ObjectRef("apps/v1beta1", "Deployment", "web", "shop")  # version: not identity
        True
        >>> ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}
        >>> ObjectRef.from_object(ns)
        ObjectRef(api_version='v1', kind='Namespace', name='x', namespace=None)
    """

    api_version: str = attrs.field(eq=False)
    kind: str
    name: str
    namespace: str | None = None
    group: str = attrs.field(init=False)

    @group.default
    def _group(self) -> str:
        return split_api_version(self.api_version)[0]

    @property
    def version(self) -> str:
        """The version part of ``api_version``."""
        return split_api_version(self.api_version)[1]

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> ObjectRef:
        """The reference of a Kubernetes object given as a mapping.

        Missing fields become empty strings; validation is the renderer's job.
        """
        meta = obj.get("metadata") or {}
        return cls(
            str(obj.get("apiVersion", "")),
            str(obj.get("kind", "")),
            str(meta.get("name", "")),
            meta.get("namespace") or None,
        )

    def __repr__(self) -> str:
        return (
            f"ObjectRef(api_version={self.api_version!r}, kind={self.kind!r}, "
            f"name={self.name!r}, namespace={self.namespace!r})"
        )

    def __str__(self) -> str:
        gk = f"{self.group}/{self.kind}" if self.group else self.kind
        return f"{gk} {self.namespace}/{self.name}" if self.namespace else f"{gk} {self.name}"


@attrs.define(slots=True, eq=False)
class Manifest:
    """One desired object and where it came from.

    ``obj`` is a plain JSON-compatible dict; renderers produce it, the engine
    treats it as read-only.

    Example:

        >>> m = Manifest({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}},
        ...              Origin("app/cm.yaml", document=0, line=1))
        >>> str(m.ref), str(m.origin)
        ('ConfigMap c', 'app/cm.yaml:1 (document 0)')
    """

    obj: JSONObject
    origin: Origin | None = None

    @property
    def ref(self) -> ObjectRef:
        """The identity of the object."""
        return ObjectRef.from_object(self.obj)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Manifest):
            return NotImplemented
        return self.obj == other.obj and self.origin == other.origin

    __hash__: ClassVar[None] = None  # type: ignore[assignment]  # mutable payload
