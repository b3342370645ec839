"""Field sets (``managedFields[].fieldsV1``) as far as appliers need them.

Pure functions: the field set a server-side apply of an object would own,
the union of field sets (to adopt another manager's fields), and a
conservative test that a server-side apply would change nothing.

>>> from reconcile.schema import for_kind
>>> cm = {"apiVersion": "v1", "kind": "ConfigMap",
...       "metadata": {"name": "c", "namespace": "n", "labels": {"app": "x"}},
...       "data": {"a": "1"}}
>>> applied_fieldset(cm, for_kind("v1", "ConfigMap"))
{'f:metadata': {'f:labels': {'f:app': {}}}, 'f:data': {'f:a': {}}}
>>> union({"f:a": {}}, {"f:b": {".": {}}})
{'f:a': {}, 'f:b': {'.': {}}}
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import orjson

from reconcile.schema import Node, crd_node

__all__ = ["applied_fieldset", "is_noop_apply", "manager_entry", "subset_equal", "union"]

FieldSet = dict[str, Any]

_STRIPPED_TOP = frozenset({"apiVersion", "kind", "status"})
_STRIPPED_META = frozenset(
    {
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
        "selfLink",
        "generateName",
    }
)


_UNTYPED: list[Node] = []


def _untyped_object() -> Node:
    if not _UNTYPED:
        _UNTYPED.append(crd_node({"type": "object", "x-kubernetes-preserve-unknown-fields": True}))
    return _UNTYPED[0]


def _key(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _child(node: Node | None, name: str) -> tuple[Node | None, bool]:
    """The child node of a field and whether it is a declared struct field."""
    if node is None:
        return None, False
    if node.kind == "struct":
        meta = node.field(name)
        declared = name in node.fields
        return (meta.node if meta is not None else None), declared
    if node.kind == "map":
        return node.values, False
    return None, False


def _entry(value: Any, node: Node | None, declared: bool) -> FieldSet | None:
    """The set below one path (SMD's ToFieldSet), or None when the path is not in it.

    A member with children carries ``"."``; a member without children is ``{}``.
    Scalars, atomic lists and maps, nulls, empty maps and the entries of maps
    (keys that are not declared struct fields) are members; so is every item of
    a ``set`` or ``map`` list.
    """
    children: FieldSet = {}
    member = value is None or not declared
    if isinstance(value, dict):
        if node is not None and node.map_type == "atomic":
            member = True
        else:
            for name, child in value.items():
                child_node, child_declared = _child(node, name)
                sub = _entry(child, child_node, child_declared)
                if sub is not None:
                    children[f"f:{name}"] = sub
            member = member or not value
    elif isinstance(value, list):
        if node is not None and node.kind == "list" and node.list_type in ("map", "set"):
            item_node = node.items
            for item in value:
                if node.list_type == "map" and isinstance(item, dict):
                    keys = {k: item[k] for k in node.list_map_keys if k in item}
                    sub = _entry(item, item_node, True) or {}
                    children["k:" + _key(keys)] = {".": {}, **sub} if sub else {}
                else:
                    children["v:" + _key(item)] = {}
        else:
            member = True
    else:
        member = True
    if children:
        return {".": {}, **children} if member else children
    return {} if member else None


def applied_fieldset(obj: Mapping[str, Any], node: Node | None) -> FieldSet:
    """The field set a server-side apply of ``obj`` makes its manager own.

    Lists are atomic unless the schema says ``set`` or ``map``; without a schema
    (``node`` None) objects are treated as maps of unknown values.
    """
    body: dict[str, Any] = {k: v for k, v in obj.items() if k not in _STRIPPED_TOP}
    meta = body.get("metadata")
    if isinstance(meta, Mapping):
        meta = {k: v for k, v in meta.items() if k not in _STRIPPED_META}
        if meta:
            body["metadata"] = meta
        else:
            del body["metadata"]
    if node is None:
        # An unknown kind: metadata is still an ObjectMeta, the rest is untyped.
        node = _untyped_object()
    return _entry(body, node, True) or {}


def union(a: Mapping[str, Any], b: Mapping[str, Any]) -> FieldSet:
    """The union of two field sets."""
    out: FieldSet = {k: (dict(v) if isinstance(v, Mapping) else {}) for k, v in a.items()}
    for key, value in b.items():
        if key in out:
            out[key] = union(out[key], value)
        else:
            out[key] = dict(value) if isinstance(value, Mapping) else {}
    return out


def manager_entry(obj: Mapping[str, Any], manager: str, operation: str = "Apply") -> Any:
    """The ``fieldsV1`` of ``manager``'s entry on the main resource, or None."""
    for entry in (obj.get("metadata") or {}).get("managedFields") or ():
        if (
            entry.get("manager") == manager
            and entry.get("operation") == operation
            and not entry.get("subresource")
        ):
            return entry.get("fieldsV1") or {}
    return None


def subset_equal(desired: Any, live: Any, node: Node | None = None) -> bool:
    """Whether every value in ``desired`` is present and equal in ``live``.

    Lists match element by element, except lists of type ``map`` (matched by
    their keys, in any order) and ``set``.

    >>> subset_equal({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}, "d": 3})
    True
    >>> subset_equal({"a": [1]}, {"a": [1, 2]})
    False
    """
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return False
        for name, value in desired.items():
            if name not in live:
                return False
            child, _ = _child(node, name)
            if not subset_equal(value, live[name], child):
                return False
        return True
    if isinstance(desired, list):
        if not isinstance(live, list):
            return False
        if node is not None and node.kind == "list" and node.list_type == "map":
            keys = node.list_map_keys
            index = {
                _key({k: item.get(k) for k in keys}): item
                for item in live
                if isinstance(item, dict)
            }
            for item in desired:
                if not isinstance(item, dict):
                    return False
                match = index.get(_key({k: item.get(k) for k in keys}))
                if match is None or not subset_equal(item, match, node.items):
                    return False
            return True
        if node is not None and node.kind == "list" and node.list_type == "set":
            return all(item in live for item in desired)
        if len(desired) != len(live):
            return False
        item_node = node.items if node is not None and node.kind == "list" else None
        return all(subset_equal(d, v, item_node) for d, v in zip(desired, live, strict=True))
    if desired is None:
        return False  # an explicit null removes a field: not a no-op
    if type(desired) is not type(live) and not (
        isinstance(desired, int | float) and isinstance(live, int | float)
    ):
        return False
    return bool(desired == live)


def is_noop_apply(
    desired: Mapping[str, Any], live: Mapping[str, Any], manager: str, node: Node | None
) -> bool:
    """Whether a server-side apply of ``desired`` by ``manager`` would leave ``live`` unchanged.

    Conservative: True only when the manager already owns exactly the fields
    ``desired`` sets (so nothing would be removed) and every value is already
    there (so nothing would be set and no conflict is possible). A False may
    still turn out to be a no-op on the server (defaulted or normalized values).
    """
    owned = manager_entry(live, manager)
    if owned is None or owned != applied_fieldset(desired, node):
        return False
    meta = desired.get("metadata") or {}
    body = {k: v for k, v in desired.items() if k not in ("apiVersion", "kind", "metadata")}
    if (
        desired.get("kind") == "Secret"
        and desired.get("apiVersion") == "v1"
        and "stringData" in body
    ):
        # The server writes stringData into data (base64) and never returns it.
        string_data = body.pop("stringData") or {}
        data = dict(body.get("data") or {})
        for key, value in string_data.items():
            if not isinstance(value, str):
                return False
            data[key] = base64.b64encode(value.encode()).decode()
        body["data"] = data
    live_meta = live.get("metadata") or {}
    for key in ("labels", "annotations"):
        if key in meta and not subset_equal(meta[key], live_meta.get(key)):
            return False
    for key in meta:
        if (
            key not in _STRIPPED_META
            and key not in ("labels", "annotations")
            and not subset_equal(meta[key], live_meta.get(key))
        ):
            return False
    return subset_equal(body, live, node)
