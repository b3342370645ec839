"""Field sets: ``managedFields[].fieldsV1`` as the API server writes it.

A field set is a tree of *path elements*. The API server serialises it as a
JSON object (``fieldsV1``) whose keys are path elements:

* ``f:<name>``: a field of an object (``f:spec``, ``f:replicas``);
* ``k:<json>``: an item of a list-map, by its keys (``k:{"name":"web"}``);
* ``v:<json>``: an item of a set list, by value (``v:"example.com/finalizer"``);
* ``i:<n>``: an item of any other list, by index (rare: old objects);
* ``.``: "this node itself is in the set" when it also has children.

A path element whose value is ``{}`` is a member (a leaf); one whose value has
children and no ``.`` only leads to members below it.

The wire form is also the in-memory form here: a :class:`FieldSet` wraps the
decoded ``fieldsV1`` dict, so parsing is a validation pass and comparing two
sets is a C-level dict comparison. :meth:`FieldSet.to_json` emits the keys in
the order the server emits them (``.`` first, then ``f:`` by name, ``k:``,
``v:``, ``i:``, each sorted as structured-merge-diff sorts path elements).

Example:

    >>> from reconcile.merge import FieldSet, fieldset_of
    >>> from reconcile.schema import for_kind
    >>> cm = {"apiVersion": "v1", "kind": "ConfigMap",
    ...       "metadata": {"name": "c", "labels": {"app": "x"}}, "data": {"b": "1", "a": "2"}}
    >>> fs = fieldset_of(cm, for_kind("v1", "ConfigMap"))
    >>> fs.to_json()
    '{"f:apiVersion":{},"f:data":{"f:a":{},"f:b":{}},"f:kind":{},"f:metadata":{"f:labels":{"f:app":{}},"f:name":{}}}'
    >>> sorted(fs.paths())[:3]
    ['.apiVersion', '.data.a', '.data.b']
    >>> ".data.a" in fs.paths()
    True
    >>> FieldSet.from_json('{"f:data":{"f:a":{}}}') <= fs
    True
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any, Final

import orjson

from reconcile.errors import MergeError
from reconcile.schema import ANY, Node

__all__ = [
    "FieldSet",
    "RawSet",
    "fieldset_of",
    "format_path",
    "key_element",
    "raw_difference",
    "raw_intersection",
    "raw_union",
    "value_element",
]

#: The wire form of a (sub)set: path element -> subtree.
RawSet = dict[str, Any]

#: Defaults of list-map key fields the API server fills in when an item omits them
#: (``ports[].protocol``: ``TCP``), keyed by key-field name.
KEY_DEFAULTS: Final[Mapping[str, Any]] = {"protocol": "TCP"}

_EMPTY: Final[RawSet] = {}


# -- path elements --------------------------------------------------------------


def _go_json(value: Any) -> str:
    """JSON as Go's encoder writes it: compact, sorted keys, HTML characters escaped."""
    try:
        text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:  # not JSON-native (an integer beyond 64 bits): the slow way
        text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    if "<" in text or ">" in text or "&" in text or "\u2028" in text or "\u2029" in text:
        text = (
            text.replace("<", "\\u003c")
            .replace(">", "\\u003e")
            .replace("&", "\\u0026")
            .replace("\u2028", "\\u2028")
            .replace("\u2029", "\\u2029")
        )
    return text


def key_element(item: Any, keys: tuple[str, ...], path: str = "") -> str:
    """The ``k:`` path element of a list-map item.

    >>> key_element({"containerPort": 80, "name": "http"}, ("containerPort", "protocol"))
    'k:{"containerPort":80,"protocol":"TCP"}'
    """
    if not isinstance(item, dict):
        raise MergeError(f"a list-map item must be an object, not {type(item).__name__}", path=path)
    fields: dict[str, Any] = {}
    for k in keys:
        v = item.get(k)
        if v is None:
            if k not in KEY_DEFAULTS:
                raise MergeError(f"list-map item has no key field {k!r}", path=path)
            v = KEY_DEFAULTS[k]
        fields[k] = v
    return "k:" + _go_json(fields)


def value_element(value: Any) -> str:
    """The ``v:`` path element of a set-list item.

    >>> value_element("a<b")
    'v:"a\\\\u003cb"'
    """
    return "v:" + _go_json(value)


def _value_rank(v: Any) -> tuple[Any, ...]:
    # structured-merge-diff value order: numbers, strings, booleans, lists, maps, null.
    if isinstance(v, bool):
        return (2, v)
    if isinstance(v, int | float):
        return (0, v)
    if isinstance(v, str):
        return (1, v.encode())
    if isinstance(v, list):
        return (3, tuple(_value_rank(x) for x in v))
    if isinstance(v, dict):
        return (4, tuple((k.encode(), _value_rank(x)) for k, x in sorted(v.items())))
    return (5,)


def _element_rank(pe: str) -> tuple[Any, ...]:
    kind = pe[:2]
    if pe == ".":
        return (-1,)
    if kind == "f:":
        return (0, pe[2:].encode())
    if kind == "k:":
        fields = json.loads(pe[2:])
        return (1, tuple((k.encode(), _value_rank(v)) for k, v in sorted(fields.items())))
    if kind == "v:":
        return (2, _value_rank(json.loads(pe[2:])))
    if kind == "i:":
        return (3, int(pe[2:]))
    raise MergeError(f"not a fieldsV1 path element: {pe!r}")


def format_path(elements: tuple[str, ...] | list[str]) -> str:
    """A path in the API server's notation (as in a 409's ``causes[].field``).

    >>> format_path(["f:spec", "f:template", "f:spec", "f:containers",
    ...              'k:{"name":"web"}', "f:image"])
    '.spec.template.spec.containers[name="web"].image'
    >>> format_path(["f:metadata", "f:finalizers", 'v:"x"'])
    '.metadata.finalizers[="x"]'
    """
    out: list[str] = []
    for pe in elements:
        kind, rest = pe[:2], pe[2:]
        if kind == "f:":
            out.append("." + rest)
        elif kind == "k:":
            fields = json.loads(rest)
            out.append("[" + ",".join(f"{k}={_go_json(fields[k])}" for k in fields) + "]")
        elif kind == "v:":
            out.append("[=" + rest + "]")
        elif kind == "i:":
            out.append("[" + rest + "]")
        else:
            raise MergeError(f"not a fieldsV1 path element: {pe!r}")
    return "".join(out)


# -- raw set operations ---------------------------------------------------------


def _member(node: RawSet) -> bool:
    return not node or "." in node


def _make(member: bool, children: RawSet) -> RawSet | None:
    if not children:
        return {} if member else None
    if member:
        return {".": {}, **children}
    return children


def _children(node: RawSet) -> RawSet:
    if "." in node:
        return {k: v for k, v in node.items() if k != "."}
    return node


def raw_union(a: RawSet, b: RawSet) -> RawSet:
    """The union of two wire-form sets (neither is modified)."""
    if not b:
        return a
    if not a:
        return b
    out: RawSet = dict(a)
    for k, bv in b.items():
        av = out.get(k)
        if av is None:
            out[k] = bv
        elif av is not bv:
            merged = _make(_member(av) or _member(bv), raw_union(_children(av), _children(bv)))
            assert merged is not None
            out[k] = merged
    return out


def raw_difference(a: RawSet, b: RawSet) -> RawSet:
    """``a`` without the members of ``b`` (neither is modified)."""
    if not b or not a:
        return a
    out: RawSet = {}
    for k, av in a.items():
        bv = b.get(k)
        if bv is None:
            out[k] = av
            continue
        member = _member(av) and not _member(bv)
        node = _make(member, raw_difference(_children(av), _children(bv)))
        if node is not None:
            out[k] = node
    return out


def raw_intersection(a: RawSet, b: RawSet) -> RawSet:
    """The members in both ``a`` and ``b`` (neither is modified)."""
    out: RawSet = {}
    if not a or not b:
        return out
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    for k, sv in small.items():
        lv = large.get(k)
        if lv is None:
            continue
        node = _make(_member(sv) and _member(lv), raw_intersection(_children(sv), _children(lv)))
        if node is not None:
            out[k] = node
    return out


def _validate(node: Any, where: tuple[str, ...]) -> None:
    if not isinstance(node, dict):
        raise MergeError(
            f"fieldsV1: expected an object, got {type(node).__name__}",
            path=format_path(where) or ".",
        )
    for k, v in node.items():
        if k == ".":
            if v != {}:
                raise MergeError("fieldsV1: '.' must map to {}", path=format_path(where) or ".")
            continue
        if not isinstance(k, str) or k[:2] not in ("f:", "k:", "v:", "i:"):
            raise MergeError(f"fieldsV1: not a path element: {k!r}", path=format_path(where) or ".")
        if k[0] in "kv":
            try:
                json.loads(k[2:])
            except ValueError as exc:
                raise MergeError(
                    f"fieldsV1: bad JSON in path element {k!r}", path=format_path(where) or "."
                ) from exc
        _validate(v, (*where, k))


def _sorted(node: RawSet) -> RawSet:
    return {k: _sorted(node[k]) for k in sorted(node, key=_element_rank)}


def _paths(node: RawSet, prefix: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    for k, v in node.items():
        if k == ".":
            continue
        here = (*prefix, k)
        if _member(v):
            yield here
        yield from _paths(v, here)


class FieldSet:
    """An immutable set of field paths, in the wire form of ``fieldsV1``.

    Build one with :meth:`from_json`/:meth:`from_fields_v1` (what the server
    wrote) or :func:`fieldset_of` (an object under its schema). Supports ``|``,
    ``-``, ``&``, ``==``, ``<=`` and :meth:`paths`.

    Example:

        >>> a = FieldSet.from_fields_v1({"f:spec": {"f:replicas": {}}})
        >>> b = FieldSet.from_fields_v1({"f:spec": {"f:replicas": {}, "f:paused": {}}})
        >>> a <= b, (b - a) == a
        (True, False)
    """

    __slots__ = ("_hash", "raw")

    def __init__(self, raw: RawSet | None = None) -> None:
        self.raw: RawSet = raw if raw is not None else {}
        self._hash: int | None = None

    @classmethod
    def from_fields_v1(cls, value: Any) -> FieldSet:
        """Wrap a decoded ``fieldsV1`` object, checking its shape.

        >>> FieldSet.from_fields_v1({"f:a": 1})
        Traceback (most recent call last):
        ...
        reconcile.errors.MergeError: field .a: fieldsV1: expected an object, got int
        """
        _validate(value, ())
        return cls(value)

    @classmethod
    def from_json(cls, text: str | bytes) -> FieldSet:
        """Parse ``fieldsV1`` JSON text."""
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise MergeError(f"fieldsV1 is not JSON: {exc}") from exc
        return cls.from_fields_v1(value)

    def to_fields_v1(self) -> RawSet:
        """The decoded ``fieldsV1`` object, keys in the server's order."""
        return _sorted(self.raw)

    def to_json(self) -> str:
        """``fieldsV1`` JSON text exactly as the API server writes it."""
        return json.dumps(self.to_fields_v1(), separators=(",", ":"), ensure_ascii=False)

    def paths(self) -> set[str]:
        """Every member, in the server's path notation."""
        return {format_path(p) for p in _paths(self.raw, ())}

    def elements(self) -> Iterator[tuple[str, ...]]:
        """Every member as a tuple of path elements."""
        return _paths(self.raw, ())

    def __bool__(self) -> bool:
        return bool(self.raw)

    def __or__(self, other: FieldSet) -> FieldSet:
        return FieldSet(raw_union(self.raw, other.raw))

    def __sub__(self, other: FieldSet) -> FieldSet:
        return FieldSet(raw_difference(self.raw, other.raw))

    def __and__(self, other: FieldSet) -> FieldSet:
        return FieldSet(raw_intersection(self.raw, other.raw))

    def __le__(self, other: FieldSet) -> bool:
        return not raw_difference(self.raw, other.raw)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FieldSet):
            return NotImplemented
        return self.raw == other.raw

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(self.to_json())
        return self._hash

    def __repr__(self) -> str:
        return f"FieldSet({self.to_json()})"


# -- the field set of an object -------------------------------------------------


def _walk(node: Node, value: Any, where: tuple[str, ...]) -> tuple[RawSet | None, bool]:
    """(children, is_leaf) of one value under its schema."""
    if isinstance(value, dict):
        kind = node.kind
        if kind in ("scalar", "list") or node.map_type == "atomic":
            return None, True
        out: RawSet = {}
        struct = kind == "struct"
        lenient = struct and not node.strict
        declared = node.fields if lenient else None
        for k, cv in value.items():
            meta = node.field(k)
            here = (*where, "f:" + k)
            if meta is None:
                raise MergeError("field not declared in schema", path=format_path(here))
            sub, leaf = _walk(meta.node, cv, here)
            member = (
                leaf
                or cv is None
                or not struct
                or (isinstance(cv, dict) and not cv)
                or (declared is not None and k not in declared)
            )
            if sub:
                out["f:" + k] = {".": _EMPTY, **sub} if member else sub
            elif member:
                out["f:" + k] = {}
        return out, False
    if isinstance(value, list):
        if node.kind != "list" or node.list_type not in ("map", "set"):
            return None, True
        items = node.items or ANY
        out = {}
        if node.list_type == "map":
            keys = node.list_map_keys
            for i, item in enumerate(value):
                pe = key_element(item, keys, format_path((*where, f"i:{i}")))
                sub, _ = _walk(items, item, (*where, pe))
                if pe in out:
                    raise MergeError(
                        f"duplicate list-map item {pe[2:]}", path=format_path((*where, pe))
                    )
                out[pe] = {".": _EMPTY, **sub} if sub else {}
        else:
            for item in value:
                out[value_element(item)] = {}
        return out, False
    return None, True


def fieldset_of(obj: Mapping[str, Any], schema: Node | None) -> FieldSet:
    """The set of fields an object sets, as server-side apply computes it.

    Under ``schema`` (``None`` or an ``any`` node: JSON semantics, lists
    atomic): list-maps contribute ``k:`` items, set lists ``v:`` items, atomic
    lists and maps are leaves. Scalars, nulls, empty objects, map entries and
    undeclared fields are members; a non-empty object under a declared field
    only leads to its members.

    >>> from reconcile.schema import for_kind
    >>> pod = {"spec": {"containers": [{"name": "a", "image": "x", "args": ["1"]}]}}
    >>> fieldset_of(pod, for_kind("v1", "Pod")).to_json()
    '{"f:spec":{"f:containers":{"k:{\\\\"name\\\\":\\\\"a\\\\"}":{".":{},"f:args":{},"f:image":{},"f:name":{}}}}}'
    """
    sub, _ = _walk(schema or ANY, dict(obj), ())
    return FieldSet(sub or {})
