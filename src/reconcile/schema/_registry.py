"""The registry of schemas by kind: the built-in table plus loaded documents."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any

import orjson

from reconcile.errors import MergeError
from reconcile.schema._convert import convert_definitions, convert_schema
from reconcile.schema._node import FieldMeta, Node, TypeTable

__all__ = ["KUBERNETES_VERSION", "SchemaRegistry", "builtin", "for_kind", "is_strategic"]

KUBERNETES_VERSION = "1.37"
_TABLE_FILE = "k8s_1_37.json"


class SchemaRegistry:
    """Schemas by ``(apiVersion, kind)``: built-in types, OpenAPI v3 documents, CRDs.

    A registry starts from the built-in table (or an empty one) and learns
    more kinds with :meth:`add_openapi_v3` and :meth:`add_crd`; what is added
    last wins. Lookups are cheap: a node is built once per kind, and the
    fields of a type are decoded on first use.

    >>> reg = SchemaRegistry()
    >>> reg.for_kind("apps/v1", "Deployment")
    <Node struct apps.v1.Deployment>
    >>> reg.for_kind("example.com/v1", "Widget") is None
    True
    >>> reg.add_crd({"spec": {"group": "example.com", "names": {"kind": "Widget"},
    ...     "versions": [{"name": "v1", "schema": {"openAPIV3Schema": {"type": "object",
    ...         "properties": {"spec": {"type": "object", "properties": {"ports": {
    ...             "type": "array", "x-kubernetes-list-type": "map",
    ...             "x-kubernetes-list-map-keys": ["port"],
    ...             "items": {"type": "object"}}}}}}}}]}})
    [('example.com/v1', 'Widget')]
    >>> ports = reg.for_kind("example.com/v1", "Widget").field("spec").node.field("ports").node
    >>> ports.list_type, ports.list_map_keys
    ('map', ('port',))
    >>> reg.is_strategic("example.com/v1", "Widget"), reg.is_strategic("apps/v1", "Deployment")
    (False, True)
    """

    __slots__ = ("_builtin", "_custom", "_extra", "_lock")

    def __init__(self, *, builtin_types: bool = True) -> None:
        self._builtin = builtin_types
        self._extra: dict[tuple[str, str], Node] = {}
        self._custom: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def for_kind(self, api_version: str, kind: str) -> Node | None:
        """The schema of a whole object of this kind, or None when the kind is unknown."""
        node = self._extra.get((api_version, kind))
        if node is not None:
            return node
        if self._builtin:
            return _builtin_table().kind(api_version, kind)
        return None

    def is_strategic(self, api_version: str, kind: str) -> bool:
        """Whether ``kubectl apply`` uses a strategic merge patch for this kind.

        True for the built-in kinds of client-go's scheme; False for custom
        resources and the built-in kinds kubectl patches with a JSON merge
        patch (CustomResourceDefinition, APIService).
        """
        if (api_version, kind) in self._custom:
            return False
        return self._builtin and _builtin_table().strategic(api_version, kind)

    def add_openapi_v3(self, document: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Learn every kind of an OpenAPI v3 document (``/openapi/v3/apis/<group>/<version>``).

        Built-in kinds keep the built-in table's answer to :meth:`is_strategic`
        but take their schema from the document. Returns the ``(apiVersion, kind)``
        pairs learnt.

        Raises:
            MergeError: the document has no ``components.schemas``.
        """
        schemas = document.get("components", {}).get("schemas")
        if not isinstance(schemas, Mapping):
            raise MergeError(
                "not an OpenAPI v3 document: no components.schemas", path="components.schemas"
            )
        table = convert_definitions(schemas)
        types = TypeTable(table["types"], strict=False)
        strict = TypeTable(table["types"], strict=True)
        learnt: list[tuple[str, str]] = []
        builtin = _builtin_table() if self._builtin else None
        with self._lock:
            for key, name in table["kinds"].items():
                api_version, kind = key.split(" ", 1)
                key = (api_version, kind)
                if builtin is not None and builtin.kind(api_version, kind) is not None:
                    self._extra[key] = strict.named(name)
                    self._custom.discard(key)
                else:
                    self._extra[key] = types.named(name)
                    self._custom.add(key)
                learnt.append(key)
        return learnt

    def add_crd(self, crd: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Learn the kinds of a CustomResourceDefinition (``apiextensions.k8s.io/v1``).

        Each served version's ``openAPIV3Schema`` gives list-map keys, list and
        map types; ``metadata`` gets the built-in ObjectMeta schema. Returns the
        ``(apiVersion, kind)`` pairs learnt.

        Raises:
            MergeError: the CRD lacks ``spec.group``, ``spec.names.kind`` or versions.
        """
        spec = crd.get("spec")
        if not isinstance(spec, Mapping):
            raise MergeError("a CustomResourceDefinition needs a spec", path="spec")
        group = spec.get("group")
        names = spec.get("names")
        kind = names.get("kind") if isinstance(names, Mapping) else None
        versions = spec.get("versions")
        if not isinstance(group, str) or not group:
            raise MergeError("a CustomResourceDefinition needs spec.group", path="spec.group")
        if not isinstance(kind, str) or not kind:
            raise MergeError(
                "a CustomResourceDefinition needs spec.names.kind", path="spec.names.kind"
            )
        if not isinstance(versions, list) or not versions:
            raise MergeError("a CustomResourceDefinition needs spec.versions", path="spec.versions")
        shared = spec.get("validation")
        learnt: list[tuple[str, str]] = []
        for i, version in enumerate(versions):
            if not isinstance(version, Mapping) or not isinstance(version.get("name"), str):
                raise MergeError("a version needs a name", path=f"spec.versions[{i}].name")
            schema = (version.get("schema") or shared or {}).get("openAPIV3Schema")
            node = crd_node(schema if isinstance(schema, Mapping) else {})
            api_version = f"{group}/{version['name']}"
            with self._lock:
                self._extra[(api_version, kind)] = node
                self._custom.add((api_version, kind))
            learnt.append((api_version, kind))
        return learnt

    def kinds(self) -> Iterable[tuple[str, str]]:
        """Every ``(apiVersion, kind)`` this registry knows."""
        seen = set(self._extra)
        yield from self._extra
        if self._builtin:
            for key in _builtin_table().kinds():
                if key not in seen:
                    yield key


def crd_node(schema: Mapping[str, Any]) -> Node:
    """The node of a custom resource from its ``openAPIV3Schema``; lenient about unknown fields.

    >>> node = crd_node({"type": "object", "properties": {"spec": {"type": "object"}}})
    >>> node.field("spec").node, node.field("metadata").node
    (<Node any>, <Node struct meta.v1.ObjectMeta>)
    """
    expr = convert_schema(schema)
    if not (isinstance(expr, dict) and expr.get("k") == "struct"):
        expr = {"k": "struct", "f": {}}
    node = TypeTable({}, strict=False).expr(expr)
    fields = dict(node.fields)
    fields["metadata"] = FieldMeta("metadata", _builtin_table().types.named("meta.v1.ObjectMeta"))
    node._fields = fields
    return node


class _BuiltinTable:
    __slots__ = ("_kinds", "_merge", "_nodes", "types")

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.types = TypeTable(raw["types"], strict=True)
        self._kinds: Mapping[str, str] = raw["kinds"]
        self._merge = frozenset(raw["merge"])
        self._nodes: dict[tuple[str, str], Node | None] = {}

    def kind(self, api_version: str, kind: str) -> Node | None:
        key = (api_version, kind)
        try:
            return self._nodes[key]
        except KeyError:
            name = self._kinds.get(f"{api_version} {kind}")
            node = self.types.named(name) if name is not None else None
            self._nodes[key] = node
            return node

    def strategic(self, api_version: str, kind: str) -> bool:
        key = f"{api_version} {kind}"
        return key in self._kinds and key not in self._merge

    def kinds(self) -> Iterable[tuple[str, str]]:
        for key in self._kinds:
            api_version, kind = key.split(" ", 1)
            yield api_version, kind


_BUILTIN: _BuiltinTable | None = None
_BUILTIN_LOCK = threading.Lock()
_DEFAULT: SchemaRegistry | None = None


def load_table_bytes() -> bytes:
    """The committed built-in table, as JSON bytes."""
    return resources.files("reconcile.schema").joinpath(_TABLE_FILE).read_bytes()


def _builtin_table() -> _BuiltinTable:
    global _BUILTIN
    table = _BUILTIN
    if table is None:
        with _BUILTIN_LOCK:
            table = _BUILTIN
            if table is None:
                table = _BUILTIN = _BuiltinTable(orjson.loads(load_table_bytes()))
    return table


def builtin() -> SchemaRegistry:
    """The process-wide registry of built-in Kubernetes 1.37 kinds (shared, lazily loaded).

    Example:

        >>> builtin().for_kind("apps/v1", "Deployment")
        <Node struct apps.v1.Deployment>
        >>> builtin() is builtin()
        True
    """
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = SchemaRegistry()
    return _DEFAULT


def for_kind(api_version: str, kind: str) -> Node | None:
    """The schema of a built-in kind, or None.

    >>> spec = for_kind("apps/v1", "Deployment").field("spec").node
    >>> containers = spec.field("template").node.field("spec").node.field("containers")
    >>> containers.patch_strategies, containers.merge_key, containers.node.list_map_keys
    (('merge',), 'name', ('name',))
    """
    return builtin().for_kind(api_version, kind)


def is_strategic(api_version: str, kind: str) -> bool:
    """Whether ``kubectl apply`` patches this built-in kind with a strategic merge patch.

    >>> is_strategic("v1", "ConfigMap"), is_strategic("apiextensions.k8s.io/v1",
    ...                                               "CustomResourceDefinition")
    (True, False)
    """
    return builtin().is_strategic(api_version, kind)
