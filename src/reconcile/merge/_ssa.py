"""Server-side apply prediction: what the API server will make of an apply.

:func:`predict_apply` takes the live object (with its ``managedFields``), the
applied configuration, the field manager and ``force``, and answers what a
``PATCH`` with ``application/apply-patch+yaml`` would produce, following
structured-merge-diff's algorithm:

1. merge the configuration into the live object (list-maps by key, set lists
   by value, atomic lists and maps replaced), with list order interleaved the
   way structured-merge-diff does;
2. prune: fields the manager owned before and no longer applies are removed,
   unless another manager owns them;
3. compare live with the result: a field that another manager owns and whose
   value changes (or that appears) is a conflict; with ``force`` it is taken
   over, without it the server answers 409;
4. ownership: the manager now owns exactly what it applied (shared with others
   that own the same fields with the same values); fields removed leave every
   other manager's set; managers left with nothing disappear.

What the API server does after the merge and this module mirrors: quantities
canonicalised (``"1000m"`` -> ``"1"``), Secret ``stringData`` folded into
``data``, ``status`` kept (an apply to the main resource does not change it),
server-set metadata kept. Defaults the server adds to new fields (an
``imagePullPolicy``) are not predicted: they belong to no manager, and
:mod:`reconcile.merge._normalize` treats them as not drift.

Example:

    >>> from reconcile.merge import predict_apply
    >>> live = {"apiVersion": "v1", "kind": "ConfigMap",
    ...         "metadata": {"name": "c", "namespace": "d", "managedFields": [
    ...             {"manager": "ops", "operation": "Update", "apiVersion": "v1",
    ...              "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:a": {}}}}]},
    ...         "data": {"a": "1"}}
    >>> config = {"apiVersion": "v1", "kind": "ConfigMap",
    ...           "metadata": {"name": "c", "namespace": "d"}, "data": {"a": "2"}}
    >>> refused = predict_apply(live, config, "gitops")
    >>> refused.conflicts
    (FieldConflict(manager='ops', path='.data.a'),)
    >>> refused.object is None
    True
    >>> forced = predict_apply(live, config, "gitops", force=True)
    >>> forced.object["data"], [m["manager"] for m in forced.managed_fields]
    ({'a': '2'}, ['gitops'])
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs

from reconcile.errors import ConflictError, FieldConflict, MergeError
from reconcile.merge._fieldsets import (
    FieldSet,
    RawSet,
    format_path,
    key_element,
    raw_difference,
    raw_intersection,
    raw_union,
    value_element,
)
from reconcile.merge._fieldsets import (
    _member as member,
)
from reconcile.merge._fieldsets import (
    _walk as walk_fields,
)
from reconcile.merge._quantity import canonical_quantity
from reconcile.schema import ANY, Node, SchemaRegistry, builtin

__all__ = [
    "ApplyPrediction",
    "ManagerKey",
    "apply_fieldset",
    "manager_key",
    "predict_apply",
    "schema_for",
    "stored_form",
]

#: How the server tells managers apart: (manager, operation, apiVersion of an Update, subresource).
ManagerKey = tuple[str, str, str, str]

_STRIP_TOP: Final = ("f:apiVersion", "f:kind", "f:status")
_STRIP_META: Final = (
    "f:name",
    "f:namespace",
    "f:creationTimestamp",
    "f:selfLink",
    "f:uid",
    "f:clusterName",
    "f:generation",
    "f:managedFields",
    "f:resourceVersion",
    "f:deletionTimestamp",
    "f:deletionGracePeriodSeconds",
)
_CONFIG_META_DROP: Final = (
    "managedFields",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)


def manager_key(entry: Mapping[str, Any]) -> ManagerKey:
    """The identity of a ``managedFields`` entry; an Apply's ignores its apiVersion.

    >>> manager_key({"manager": "m", "operation": "Update", "apiVersion": "apps/v1"})
    ('m', 'Update', 'apps/v1', '')
    """
    op = str(entry.get("operation", ""))
    return (
        str(entry.get("manager", "")),
        op,
        "" if op == "Apply" else str(entry.get("apiVersion", "")),
        str(entry.get("subresource", "")),
    )


def schema_for(obj: Mapping[str, Any], registry: SchemaRegistry | None = None) -> Node:
    """The schema of an object's kind, or ``ANY`` (JSON semantics) when unknown.

    Example:

        >>> schema_for({"apiVersion": "apps/v1", "kind": "Deployment"})
        <Node struct apps.v1.Deployment>
        >>> schema_for({"apiVersion": "example.com/v1", "kind": "Widget"}).kind
        'any'
    """
    reg = registry if registry is not None else builtin()
    node = reg.for_kind(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
    return node if node is not None else ANY


def _strip(raw: RawSet) -> RawSet:
    if not raw:
        return raw
    out = {k: v for k, v in raw.items() if k not in _STRIP_TOP}
    meta = out.pop("f:metadata", None)
    if meta:
        meta = {k: v for k, v in meta.items() if k not in _STRIP_META and k != "."}
        if meta:
            out["f:metadata"] = meta
    return out


def apply_fieldset(config: Mapping[str, Any], schema: Node) -> FieldSet:
    """The field set the server records for a manager applying ``config``.

    The object's field set without what the server strips: apiVersion, kind,
    status, and the identity and server-set fields of metadata.

    >>> from reconcile.schema import for_kind
    >>> cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
    ...       "data": {"a": "1"}}
    >>> apply_fieldset(cm, for_kind("v1", "ConfigMap")).to_json()
    '{"f:data":{"f:a":{}}}'
    """
    sub, _ = walk_fields(schema, dict(config), ())
    return FieldSet(_strip(sub or {}))


# -- merging ------------------------------------------------------------------


def _granular_dict(node: Node) -> bool:
    return node.kind in ("struct", "map", "any") and node.map_type != "atomic"


def _granular_list(node: Node) -> bool:
    return node.kind == "list" and node.list_type in ("map", "set")


def _child(node: Node, key: str, path: str) -> Node:
    meta = node.field(key)
    if meta is None:
        raise MergeError("field not declared in schema", path=f"{path}.{key}")
    return meta.node


def _item_pe(node: Node, item: Any, path: str) -> str:
    if node.list_type == "map":
        return key_element(item, node.list_map_keys, path)
    return value_element(item)


def _index(node: Node, items: Sequence[Any], path: str) -> tuple[list[str], dict[str, Any]]:
    pes: list[str] = []
    seen: dict[str, Any] = {}
    for i, item in enumerate(items):
        pe = _item_pe(node, item, f"{path}[{i}]")
        pes.append(pe)
        seen.setdefault(pe, item)
    return pes, seen


def merge_values(live: Any, config: Any, node: Node, path: str = "") -> Any:
    """structured-merge-diff's merge of ``config`` into ``live`` (neither is modified)."""
    if isinstance(config, dict) and isinstance(live, dict) and _granular_dict(node):
        out = dict(live)
        for k, cv in config.items():
            if k in live:
                lv = live[k]
                out[k] = (
                    cv if lv == cv else merge_values(lv, cv, _child(node, k, path), f"{path}.{k}")
                )
            else:
                child = _child(node, k, path)
                if cv == [] and _granular_list(child):
                    # sets no field, and the server's encoding omits the empty list
                    continue
                out[k] = cv
        return out
    if isinstance(config, list) and isinstance(live, list) and _granular_list(node):
        return _merge_lists(live, config, node, path)
    return config


def _merge_lists(lhs: list[Any], rhs: list[Any], node: Node, path: str) -> list[Any]:
    items = node.items or ANY
    rpes, robs = _index(node, rhs, path)
    lpes, lobs = _index(node, lhs, path)
    shared = [pe for pe in rpes if pe in lobs]
    si = 0
    next_shared = shared[0] if shared else None
    done: set[str] = set()
    out: list[Any] = []

    def merged(pe: str) -> Any:
        lv, rv = lobs.get(pe), robs.get(pe)
        if lv is None:
            return rv
        if rv is None:
            return lv
        return merge_values(lv, rv, items, path)

    li = ri = 0
    ln, rn = len(lpes), len(rpes)
    while li < ln or ri < rn:
        if li < ln and ri < rn:
            pe = lpes[li]
            if pe == rpes[ri]:
                done.add(pe)
                out.append(merged(pe))
                li += 1
                ri += 1
                if next_shared == pe:
                    si += 1
                    next_shared = shared[si] if si < len(shared) else None
                continue
            if pe in robs and next_shared is not None and next_shared != pe:
                li += 1
                continue
        if li < ln:
            pe = lpes[li]
            if pe not in robs:
                out.append(lhs[li])
                li += 1
                continue
            if pe in done:
                li += 1
                continue
        if ri < rn:
            pe = rpes[ri]
            done.add(pe)
            out.append(merged(pe))
            ri += 1
            if next_shared == pe:
                si += 1
                next_shared = shared[si] if si < len(shared) else None
    return out


# -- sets of values -----------------------------------------------------------


def _named_set(value: Any, node: Node) -> RawSet:
    """ToFieldSet with named struct fields as members (EnsureNamedFieldsAreMembers)."""
    if isinstance(value, dict) and _granular_dict(node):
        out: RawSet = {}
        for k, cv in value.items():
            meta = node.field(k)
            cn = meta.node if meta is not None else ANY
            sub = _named_set(cv, cn)
            out["f:" + k] = {".": {}, **sub} if sub else {}
        return out
    if isinstance(value, list) and _granular_list(node):
        out = {}
        items = node.items or ANY
        for item in value:
            sub = _named_set(item, items)
            out[_item_pe(node, item, "")] = {".": {}, **sub} if sub else {}
        return out
    return {}


def _ensure_named(raw: RawSet, node: Node) -> RawSet:
    """Make every declared struct field in ``raw`` a member."""
    out: RawSet = {}
    struct = node.kind == "struct"
    for k, v in raw.items():
        if k == ".":
            out[k] = v
            continue
        if k.startswith("f:"):
            meta = node.field(k[2:]) if node.kind in ("struct", "map", "any") else None
            cn = meta.node if meta is not None else ANY
            named = struct and meta is not None and k[2:] in node.fields
        else:
            cn = node.items or ANY if node.kind == "list" else ANY
            named = False
        sub = _ensure_named({c: w for c, w in v.items() if c != "."}, cn) if v else {}
        is_member = member(v) or named
        out[k] = ({".": {}, **sub} if sub else {}) if is_member else sub
    return out


def _remove(value: Any, raw: RawSet, node: Node) -> Any:
    """RemoveItems: drop members of ``raw`` (and their subtrees) from ``value``."""
    if not raw:
        return value
    if isinstance(value, dict) and _granular_dict(node):
        out = {}
        for k, v in value.items():
            sub = raw.get("f:" + k)
            if sub is None:
                out[k] = v
            elif member(sub):
                continue
            else:
                meta = node.field(k)
                out[k] = _remove(v, sub, meta.node if meta is not None else ANY)
        return out
    if isinstance(value, list) and _granular_list(node):
        items = node.items or ANY
        kept = []
        for item in value:
            sub = raw.get(_item_pe(node, item, ""))
            if sub is None:
                kept.append(item)
            elif not member(sub):
                kept.append(_remove(item, sub, items))
        return kept
    return value


#: Object fields that exist (as ``{}``) in an empty object of a built-in kind:
#: non-pointer structs, which an update from the empty object does not "add".
_ALWAYS_PRESENT: Final = frozenset(
    {
        ("metadata",),
        ("spec",),
        ("status",),
        ("spec", "template"),
        ("spec", "template", "metadata"),
        ("spec", "template", "spec"),
        ("spec", "strategy"),
        ("spec", "updateStrategy"),
        ("spec", "jobTemplate"),
        ("spec", "jobTemplate", "spec"),
        ("spec", "jobTemplate", "spec", "template"),
        ("spec", "jobTemplate", "spec", "template", "metadata"),
        ("spec", "jobTemplate", "spec", "template", "spec"),
        ("roleRef",),
    }
)

BEFORE_FIRST_APPLY: Final = "before-first-apply"


def _created_set(value: Any, node: Node, path: tuple[str, ...] | None) -> RawSet:
    """The field set of an update from an empty object to ``value``.

    ``path`` is None inside list items, where everything is new.
    """
    if isinstance(value, dict) and _granular_dict(node):
        out: RawSet = {}
        for k, cv in value.items():
            meta = node.field(k)
            cn = meta.node if meta is not None else ANY
            here = None if path is None else (*path, k)
            sub = _created_set(cv, cn, here)
            if isinstance(cv, list) and _granular_list(cn):
                is_member = False
            elif isinstance(cv, dict) and _granular_dict(cn):
                is_member = here is None or here not in _ALWAYS_PRESENT
            else:
                is_member = True
            if is_member:
                out["f:" + k] = {".": {}, **sub} if sub else {}
            elif sub:
                out["f:" + k] = sub
        return out
    if isinstance(value, list) and _granular_list(node):
        out = {}
        items = node.items or ANY
        for item in value:
            sub = _created_set(item, items, None)
            out[_item_pe(node, item, "")] = {".": {}, **sub} if sub else {}
        return out
    return {}


def _all(value: Any, node: Node) -> RawSet:
    """Every path in ``value``, each a member (an added or removed subtree)."""
    return _named_set(value, node)


def _compare(lhs: Any, rhs: Any, node: Node, changed: RawSet, removed: RawSet) -> None:
    """Fill ``changed`` (added or modified) and ``removed`` with the children that differ."""
    if isinstance(lhs, dict) and isinstance(rhs, dict) and _granular_dict(node):
        for k, rv in rhs.items():
            pe = "f:" + k
            meta = node.field(k)
            cn = meta.node if meta is not None else ANY
            if k not in lhs:
                sub = _all(rv, cn)
                changed[pe] = {".": {}, **sub} if sub else {}
                continue
            lv = lhs[k]
            if lv == rv:
                continue
            _descend(lv, rv, cn, pe, changed, removed)
        for k, lv in lhs.items():
            if k not in rhs:
                meta = node.field(k)
                sub = _all(lv, meta.node if meta is not None else ANY)
                removed["f:" + k] = {".": {}, **sub} if sub else {}
        return
    if isinstance(lhs, list) and isinstance(rhs, list) and _granular_list(node):
        items = node.items or ANY
        _, lobs = _index(node, lhs, "")
        _, robs = _index(node, rhs, "")
        for pe, rv in robs.items():
            if pe not in lobs:
                sub = _all(rv, items)
                changed[pe] = {".": {}, **sub} if sub else {}
            elif lobs[pe] != rv:
                _descend(lobs[pe], rv, items, pe, changed, removed)
        for pe, lv in lobs.items():
            if pe not in robs:
                sub = _all(lv, items)
                removed[pe] = {".": {}, **sub} if sub else {}
        return
    raise AssertionError("unreachable: leaves are handled by _descend")  # pragma: no cover


def _descend(lv: Any, rv: Any, node: Node, pe: str, changed: RawSet, removed: RawSet) -> None:
    both_dicts = isinstance(lv, dict) and isinstance(rv, dict) and _granular_dict(node)
    both_lists = isinstance(lv, list) and isinstance(rv, list) and _granular_list(node)
    if not (both_dicts or both_lists):
        changed[pe] = {}
        return
    c: RawSet = {}
    r: RawSet = {}
    _compare(lv, rv, node, c, r)
    if c:
        changed[pe] = c
    if r:
        removed[pe] = r


# -- canonical values the server stores ---------------------------------------


#: Defaults the server fills into atomic structs, which an apply replaces whole.
_ATOMIC_DEFAULTS: Final[Mapping[str, Mapping[str, Any]]] = {
    "core.v1.ObjectFieldSelector": {"apiVersion": "v1"},
    "core.v1.ResourceFieldSelector": {"divisor": "0"},
    "networking.v1.NetworkPolicyPort": {"protocol": "TCP"},
}


def _is_zero(v: Any) -> bool:
    return v is None or v is False or v == 0 or v == "" or v == {} or v == []


def _drop_omitted_zeros(result: Any, base: Any, last: RawSet, node: Node) -> Any:
    """Drop zero values the server omitted before (``omitempty`` fields).

    A field in the manager's previous field set that is absent from live while
    the configuration sets it to a zero value (``false``, ``0``, ``""``, ``{}``,
    ``[]``) was dropped by the server's serialisation: it will be again.
    """
    if isinstance(result, dict) and isinstance(base, dict) and _granular_dict(node):
        out = None
        for pe, sub in last.items():
            if not pe.startswith("f:"):
                continue
            k = pe[2:]
            if k not in result:
                continue
            rv = result[k]
            if k not in base:
                if _is_zero(rv):
                    out = dict(result) if out is None else out
                    del out[k]
                continue
            if sub and isinstance(rv, dict | list):
                meta = node.field(k)
                nv = _drop_omitted_zeros(rv, base[k], sub, meta.node if meta else ANY)
                if nv is not rv:
                    out = dict(result) if out is None else out
                    out[k] = nv
        return result if out is None else out
    if isinstance(result, list) and isinstance(base, list) and node.list_type == "map":
        items = node.items or ANY
        _, lobs = _index(node, base, "")
        new = []
        touched = False
        for item in result:
            pe = _item_pe(node, item, "")
            sub = last.get(pe)
            if sub and pe in lobs:
                ni = _drop_omitted_zeros(item, lobs[pe], sub, items)
                touched = touched or ni is not item
                new.append(ni)
            else:
                new.append(item)
        return new if touched else result
    return result


def _canonicalise(value: Any, node: Node) -> Any:
    """What the API server stores: canonical quantities, defaults inside atomic structs."""
    if node.kind == "scalar":
        if node.quantity and isinstance(value, str | int | float) and not isinstance(value, bool):
            try:
                return canonical_quantity(value)
            except MergeError:
                return value
        return value
    if isinstance(value, dict):
        if node.kind == "struct":
            out = {}
            defaults = _ATOMIC_DEFAULTS.get(node.name)
            if defaults:
                value = {**defaults, **value}
            if node.name == "core.v1.PodSpec" and value.get("serviceAccountName"):
                # the deprecated alias always follows serviceAccountName
                value = {**value, "serviceAccount": value["serviceAccountName"]}
            for k, v in value.items():
                meta = node.field(k)
                out[k] = _canonicalise(v, meta.node) if meta is not None else v
            return out
        if node.kind == "map" and node.values is not None and node.values.kind != "scalar":
            return {k: _canonicalise(v, node.values) for k, v in value.items()}
        if node.kind == "map" and node.values is not None and node.values.quantity:
            return {k: _canonicalise(v, node.values) for k, v in value.items()}
        return value
    items = node.items
    if isinstance(value, list) and items is not None and items.kind in ("struct", "map"):
        return [_canonicalise(v, items) for v in value]
    return value


def _fold_string_data(obj: dict[str, Any]) -> dict[str, Any]:
    string_data = obj.get("stringData")
    if obj.get("kind") != "Secret" or obj.get("apiVersion") != "v1" or string_data is None:
        return obj
    out = {k: v for k, v in obj.items() if k != "stringData"}
    data = dict(out.get("data") or {})
    for k, v in string_data.items():
        data[k] = base64.b64encode(str(v).encode()).decode()
    out["data"] = data
    return out


def stored_form(obj: Mapping[str, Any], schema: Node) -> dict[str, Any]:
    """What the API server stores for a written object: quantities canonical,
    ``stringData`` folded into ``data``, defaults inside atomic structs.

    >>> from reconcile.schema import for_kind
    >>> stored_form({"apiVersion": "v1", "kind": "Secret", "stringData": {"a": "b"}},
    ...             for_kind("v1", "Secret"))
    {'apiVersion': 'v1', 'kind': 'Secret', 'data': {'a': 'Yg=='}}
    """
    out = _canonicalise(dict(obj), schema)
    return _fold_string_data(out)


# -- the prediction -----------------------------------------------------------


@attrs.frozen(slots=True)
class ApplyPrediction:
    """What a server-side apply would do.

    Attributes:
        object: the object the server would return (``metadata.managedFields``
            included, times copied from live where the server keeps them), or
            None when it would refuse with 409.
        managed_fields: the predicted ``managedFields`` entries, in the
            server's order (Apply before Update, then by time and manager).
        conflicts: fields other managers own whose values change; the server
            refuses without ``force``, takes them over with it.
        changed: whether the object's content (not counting managedFields) changes.
        ownership_changed: whether any manager's field set changes.
        forced: whether ``force`` was given.

    Example:

        >>> from reconcile.merge import predict_apply
        >>> p = predict_apply(None, {"apiVersion": "v1", "kind": "ConfigMap",
        ...                          "metadata": {"name": "c"}, "data": {"a": "1"}}, "gitops")
        >>> p.object["data"], [m["manager"] for m in p.managed_fields], p.conflicts
        ({'a': '1'}, ['gitops'], ())
    """

    object: dict[str, Any] | None
    managed_fields: list[dict[str, Any]]
    conflicts: tuple[FieldConflict, ...]
    changed: bool
    ownership_changed: bool
    forced: bool = False

    @property
    def refused(self) -> bool:
        """Whether the server would answer 409."""
        return bool(self.conflicts) and not self.forced

    @property
    def in_sync(self) -> bool:
        """Neither the object nor its ownership would change (and no refusal)."""
        return not self.refused and not self.changed and not self.ownership_changed

    def error(self) -> ConflictError | None:
        """The :class:`~reconcile.errors.ConflictError` the server would raise, if any."""
        if not self.refused:
            return None
        listed = "; ".join(f"{c.path} (owned by {c.manager!r})" for c in self.conflicts)
        return ConflictError(f"apply conflicts: {listed}", conflicts=self.conflicts)


def _entry_sort_key(entry: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        entry.get("operation", ""),
        entry.get("time") or "",
        entry.get("manager", ""),
        entry.get("apiVersion", ""),
        entry.get("subresource", ""),
    )


def _strip_config(config: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in config.items() if k != "status"}
    meta = out.get("metadata")
    if isinstance(meta, dict) and any(k in meta for k in _CONFIG_META_DROP):
        out["metadata"] = {k: v for k, v in meta.items() if k not in _CONFIG_META_DROP}
    return out


def predict_apply(
    live: Mapping[str, Any] | None,
    config: Mapping[str, Any],
    manager: str,
    *,
    force: bool = False,
    schema: Node | None = None,
    registry: SchemaRegistry | None = None,
) -> ApplyPrediction:
    """Predict a server-side apply of ``config`` by ``manager`` onto ``live``.

    Args:
        live: the object as the server returns it (with ``managedFields``), or
            None when it does not exist (the apply creates it).
        config: the applied configuration (``apiVersion``, ``kind``, ``metadata.name``, ...).
        manager: the field manager (``fieldManager``).
        force: take over conflicting fields (``force=true``).
        schema: the kind's schema; looked up in ``registry`` (or the built-in
            table) when omitted. Unknown kinds use JSON semantics.

    Raises:
        MergeError: the configuration or live object does not fit the schema
            (an undeclared field, a list-map item without its key, a malformed
            ``fieldsV1``); ``path`` names the field.

    Example:

        >>> cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
        ...       "data": {"a": "1"}}
        >>> live = predict_apply(None, cm, "gitops").object
        >>> edited = predict_apply(live, {**cm, "data": {"a": "2"}}, "kubectl", force=True).object
        >>> predict_apply(edited, cm, "gitops").conflicts
        (FieldConflict(manager='kubectl', path='.data.a'),)
        >>> predict_apply(edited, cm, "gitops", force=True).object["data"]
        {'a': '1'}
    """
    node = schema if schema is not None else schema_for(config, registry)
    cfg = _strip_config(config)
    applied = apply_fieldset(cfg, node).raw
    api_version = str(config.get("apiVersion", ""))
    me: ManagerKey = (manager, "Apply", "", "")

    if live is None:
        entry = {
            "manager": manager,
            "operation": "Apply",
            "apiVersion": api_version,
            "time": None,
            "fieldsType": "FieldsV1",
            "fieldsV1": FieldSet(applied).to_fields_v1(),
        }
        obj = _fold_string_data(_canonicalise(cfg, node))
        obj["metadata"] = {**(cfg.get("metadata") or {}), "managedFields": [entry]}
        return ApplyPrediction(obj, [entry], (), True, True, force)

    entries: dict[ManagerKey, tuple[dict[str, Any], RawSet]] = {}
    for e in (live.get("metadata") or {}).get("managedFields") or ():
        raw = e.get("fieldsV1") or {}
        FieldSet.from_fields_v1(raw)
        entries[manager_key(e)] = (e, raw)
    synthesized = False
    if not entries:
        # An object nobody applied yet: the server first records an update from
        # an empty object to live, by "before-first-apply".
        first = _strip(_created_set(live, node, ()))
        if first:
            entry = {
                "manager": BEFORE_FIRST_APPLY,
                "operation": "Update",
                "apiVersion": api_version,
                "time": None,
                "fieldsType": "FieldsV1",
                "fieldsV1": FieldSet(first).to_fields_v1(),
            }
            entries[manager_key(entry)] = (entry, first)
            synthesized = True
    last = entries[me][1] if me in entries else {}

    base = dict(live)
    meta = dict(base.get("metadata") or {})
    meta.pop("managedFields", None)
    base["metadata"] = meta
    merged = merge_values(base, cfg, node)
    if "status" in base:
        merged["status"] = base["status"]
    else:
        merged.pop("status", None)
    # server-set metadata stays as it is
    mm = dict(merged.get("metadata") or {})
    for k in _CONFIG_META_DROP:
        if k in meta:
            mm[k] = meta[k]
    mm.pop("managedFields", None)
    merged["metadata"] = mm

    if last and raw_difference(last, applied):
        # the manager stops applying some fields: prune them unless others own them
        managed_all: RawSet = applied
        for key, (_, raw) in entries.items():
            if key != me:
                managed_all = raw_union(managed_all, raw)
        last_e = _ensure_named(last, node)
        managed_e = _ensure_named(managed_all, node)
        merged_set = _named_set(merged, node)
        pruned1 = _remove(merged, last_e, node)
        pruned2 = _remove(
            merged,
            raw_difference(merged_set, raw_union(_named_set(pruned1, node), managed_e)),
            node,
        )
        unfolded = _remove(
            merged,
            raw_intersection(raw_difference(merged_set, _named_set(pruned2, node)), last_e),
            node,
        )
    else:
        unfolded = merged
    # The server compares (and finds conflicts in) the values as applied, then
    # stores them decoded: quantities canonical, stringData folded into data.
    result = _fold_string_data(_canonicalise(unfolded, node))
    if last and result != base:
        result = _drop_omitted_zeros(result, base, last, node)

    changed_set: RawSet = {}
    removed_set: RawSet = {}
    changed = result != base
    if unfolded != base:
        _compare(base, unfolded, node, changed_set, removed_set)

    conflicts: list[FieldConflict] = []
    new_sets: dict[ManagerKey, RawSet] = {}
    for key, (_, raw) in entries.items():
        if key == me:
            continue
        clash = raw_intersection(raw, changed_set) if changed_set else {}
        if clash:
            conflicts.extend(
                FieldConflict(key[0], format_path(p)) for p in FieldSet(clash).elements()
            )
            raw = raw_difference(raw, clash)
        if removed_set:
            raw = raw_difference(raw, removed_set)
        new_sets[key] = raw
    conflicts.sort(key=lambda c: (c.manager, c.path))
    if conflicts and not force:
        return ApplyPrediction(None, [], tuple(conflicts), changed, True, force)

    out_entries: list[dict[str, Any]] = []
    ownership_changed = synthesized
    for key, raw in new_sets.items():
        entry, before = entries[key]
        if raw is not before and raw != before:
            ownership_changed = True
        if not raw:
            continue
        if raw is before:
            out_entries.append(entry)
        else:
            out_entries.append({**entry, "fieldsV1": FieldSet(raw).to_fields_v1()})
    if me in entries:
        entry, before = entries[me]
        if applied != before:
            ownership_changed = True
            entry = {**entry, "fieldsV1": FieldSet(applied).to_fields_v1()}
        if entry.get("apiVersion") != api_version:
            entry = {**entry, "apiVersion": api_version}
        if applied:
            out_entries.append(entry)
    elif applied:
        ownership_changed = True
        out_entries.append(
            {
                "manager": manager,
                "operation": "Apply",
                "apiVersion": api_version,
                "time": None,
                "fieldsType": "FieldsV1",
                "fieldsV1": FieldSet(applied).to_fields_v1(),
            }
        )
    out_entries.sort(key=_entry_sort_key)
    obj = dict(result)
    obj["metadata"] = {**obj.get("metadata", {}), "managedFields": out_entries}
    return ApplyPrediction(obj, out_entries, tuple(conflicts), changed, ownership_changed, force)
