"""Schema nodes: what the merge core needs to know about one JSON value."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

__all__ = ["ANY", "SCALAR", "FieldMeta", "Node", "NodeKind", "TypeTable"]

NodeKind = Literal["struct", "map", "list", "scalar", "any"]


class FieldMeta:
    """The merge metadata of one field, as its parent declares it.

    Attributes:
        name: the field's JSON name (``""`` for map values and untyped fields).
        node: the schema of the field's value.
        patch_strategies: from ``x-kubernetes-patch-strategy`` (the Go struct tag
            ``patchStrategy``), split on commas: ``("merge",)``, ``("merge", "retainKeys")``,
            ``("retainKeys",)``, ``("replace",)`` or ``()``.
        merge_key: ``x-kubernetes-patch-merge-key`` (``patchMergeKey``), or None.

    Example:

        >>> from reconcile.schema import for_kind
        >>> meta = for_kind("v1", "Pod").field("spec").node.field("containers")
        >>> meta.name, meta.patch_strategies, meta.merge_key
        ('containers', ('merge',), 'name')
    """

    __slots__ = ("memo", "merge_key", "name", "node", "patch_strategies")

    def __init__(
        self,
        name: str,
        node: Node,
        patch_strategies: tuple[str, ...] = (),
        merge_key: str | None = None,
    ) -> None:
        self.name: str = name
        self.node: Node = node
        self.patch_strategies: tuple[str, ...] = patch_strategies
        self.merge_key: str | None = merge_key
        #: a cache for algorithms that derive facts from the field's metadata
        self.memo: Any = None

    def __repr__(self) -> str:
        extra = ""
        if self.patch_strategies:
            extra += f", patch_strategies={self.patch_strategies!r}"
        if self.merge_key:
            extra += f", merge_key={self.merge_key!r}"
        return f"FieldMeta({self.name!r}, {self.node!r}{extra})"


class Node:
    """The merge-relevant schema of one JSON value.

    ``kind`` is one of:

    * ``"struct"``: an object with declared fields; :meth:`field` returns a
      :class:`FieldMeta` per known field. A *strict* struct (built-in types)
      answers None for an unknown field, as Go's struct lookup fails; a lenient
      one (CRD schemas) answers an untyped field.
    * ``"map"``: an object whose values all have the schema :attr:`values`.
    * ``"list"``: an array of :attr:`items`, with :attr:`list_type`
      (``atomic``/``set``/``map``) and :attr:`list_map_keys`.
    * ``"scalar"``: a string, number or boolean; :attr:`quantity` and
      :attr:`int_or_string` say whether it is a ``resource.Quantity`` or an
      ``IntOrString``.
    * ``"any"``: nothing is known; JSON merge semantics apply below it.

    Attributes:
        name: the type's name in the table (``"apps.v1.DeploymentSpec"``), or ``""``.
        map_type: ``x-kubernetes-map-type`` (``"atomic"``/``"granular"``) or None.

    Example:

        >>> from reconcile.schema import for_kind
        >>> ports = for_kind("v1", "Service").field("spec").node.field("ports").node
        >>> ports.kind, ports.list_type, ports.list_map_keys
        ('list', 'map', ('port', 'protocol'))
    """

    __slots__ = (
        "_fields",
        "_raw",
        "_table",
        "int_or_string",
        "items",
        "kind",
        "list_map_keys",
        "list_type",
        "map_type",
        "memo",
        "name",
        "quantity",
        "strict",
        "values",
    )

    def __init__(
        self,
        kind: NodeKind,
        *,
        name: str = "",
        items: Node | None = None,
        values: Node | None = None,
        list_type: str | None = None,
        list_map_keys: tuple[str, ...] = (),
        map_type: str | None = None,
        quantity: bool = False,
        int_or_string: bool = False,
        strict: bool = True,
        fields: dict[str, FieldMeta] | None = None,
    ) -> None:
        self.kind: NodeKind = kind
        self.name: str = name
        self.items: Node | None = items
        self.values: Node | None = values
        self.list_type: str | None = list_type
        self.list_map_keys: tuple[str, ...] = list_map_keys
        self.map_type: str | None = map_type
        self.quantity: bool = quantity
        self.int_or_string: bool = int_or_string
        self.strict: bool = strict
        self._fields: dict[str, FieldMeta] | None = fields
        #: a cache for algorithms that derive facts from the schema (keyed by their name)
        self.memo: dict[str, Any] = {}
        self._raw: Mapping[str, Any] | None = None
        self._table: TypeTable | None = None

    def __repr__(self) -> str:
        if self.name:
            return f"<Node {self.kind} {self.name}>"
        if self.kind == "list":
            return f"<Node list of {self.items!r}>"
        if self.kind == "map":
            return f"<Node map of {self.values!r}>"
        return f"<Node {self.kind}>"

    def field(self, name: str) -> FieldMeta | None:
        """The metadata of field ``name`` of this object, or None when it has none.

        None means Go's lookup would fail: an unknown field of a built-in struct,
        or any field of a scalar or list.
        """
        kind = self.kind
        if kind == "struct":
            fields = self._fields
            if fields is None:
                fields = self._load_fields()
            meta = fields.get(name)
            if meta is None and not self.strict:
                return ANY_FIELD
            return meta
        if kind == "map":
            return self._value_field()
        if kind == "any":
            return ANY_FIELD
        return None

    @property
    def fields(self) -> Mapping[str, FieldMeta]:
        """All declared fields of a struct (empty for other kinds)."""
        if self.kind != "struct":
            return {}
        return self._fields if self._fields is not None else self._load_fields()

    def _value_field(self) -> FieldMeta:
        fields = self._fields
        if fields is None:
            assert self.values is not None
            fields = self._fields = {"": FieldMeta("", self.values)}
        return fields[""]

    def _load_fields(self) -> dict[str, FieldMeta]:
        raw, table = self._raw, self._table
        fields: dict[str, FieldMeta] = {}
        if raw is not None and table is not None:
            for fname, spec in raw.items():
                node = table.expr(spec["t"], field_map_type=spec.get("mt"))
                ps = spec.get("ps")
                fields[fname] = FieldMeta(
                    fname, node, tuple(ps.split(",")) if ps else (), spec.get("mk")
                )
        self._fields = fields
        self._raw = None
        return fields


ANY: Final = Node("any")
ANY_FIELD: Final = FieldMeta("", ANY)
SCALAR: Final = Node("scalar")
_QUANTITY: Final = Node("scalar", name="Quantity", quantity=True)
_INT_OR_STRING: Final = Node("scalar", name="IntOrString", int_or_string=True)


class TypeTable:
    """Named types of one table, turned into :class:`Node` objects on first use."""

    __slots__ = ("_nodes", "_types", "strict")

    def __init__(self, types: Mapping[str, Any], *, strict: bool = True) -> None:
        self._types = types
        self._nodes: dict[str, Node] = {}
        self.strict: bool = strict

    def __contains__(self, name: str) -> bool:
        return name in self._types

    def named(self, name: str) -> Node:
        node = self._nodes.get(name)
        if node is None:
            raw = self._types.get(name)
            node = ANY if raw is None else self._typedef(raw, name)
            self._nodes[name] = node
        return node

    def _typedef(self, raw: Mapping[str, Any], name: str, map_type: str | None = None) -> Node:
        k = raw.get("k")
        if k == "struct":
            node = Node("struct", name=name, map_type=map_type or raw.get("mt"), strict=self.strict)
            node._raw = raw.get("f", {})
            node._table = self
            return node
        if k == "scalar":
            x = raw.get("x")
            if x == "quantity":
                return _QUANTITY
            if x == "int-or-string":
                return _INT_OR_STRING
            return SCALAR if not name else Node("scalar", name=name)
        return ANY

    def expr(self, expr: Any, *, field_map_type: str | None = None) -> Node:
        if isinstance(expr, str):
            if expr == "~s":
                return SCALAR
            if expr == "~a":
                return ANY
            if expr == "~i":
                return _INT_OR_STRING
            if field_map_type:
                raw = self._types.get(expr)
                if raw is not None and raw.get("k") == "struct":
                    return self._typedef(raw, expr, field_map_type)
            return self.named(expr)
        if "l" in expr:
            return Node(
                "list",
                items=self.expr(expr["l"]),
                list_type=expr.get("lt"),
                list_map_keys=tuple(expr.get("lk", ())),
            )
        if "m" in expr:
            return Node("map", values=self.expr(expr["m"]), map_type=expr.get("mt"))
        return self._typedef(expr, "")
