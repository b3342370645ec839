"""Strategic merge patch: create (two- and three-way) and apply, as Kubernetes does.

The behaviour follows ``k8s.io/apimachinery/pkg/util/strategicpatch`` (v0.37)
step by step, including its ordering rules and quirks, so that the patches are
the ones ``kubectl apply`` sends. The Go implementation is the reference: the
tests compare this module with it (``tests/oracle``).

Known, deliberate differences (all on malformed input):

* Equal subtrees are skipped without being validated: where Go reports a list
  item without its merge key inside a part that did not change, the patch here
  is simply empty for that part.
* Go panics comparing maps as merge-key values and on ``null`` list items;
  here those raise :class:`~reconcile.errors.MergeError`.
* Deep equality treats ``1``, ``1.0`` and ``true`` inside lists as Python does.
"""

from __future__ import annotations

from typing import Any, Final

from reconcile.errors import MergeError
from reconcile.merge._gofmt import (
    go_eq,
    go_slice_stable,
    go_sort,
    go_str,
    hkey,
    same,
    strictly_same,
)
from reconcile.schema import ANY, FieldMeta, Node

__all__ = [
    "create_three_way_merge_patch",
    "create_two_way_merge_patch",
    "strategic_merge_patch",
]

DIRECTIVE: Final = "$patch"
DELETE: Final = "delete"
REPLACE: Final = "replace"
MERGE: Final = "merge"
RETAIN_KEYS: Final = "$retainKeys"
DELETE_PREFIX: Final = "$deleteFromPrimitiveList"
ORDER_PREFIX: Final = "$setElementOrder"
_DELETE_PREFIX_SLASH: Final = DELETE_PREFIX + "/"
_ORDER_PREFIX_SLASH: Final = ORDER_PREFIX + "/"

_SCALARS: Final = frozenset({str, int, float, bool, type(None)})

# diff option bits
_SET_ORDER: Final = 1
_IGNORE_CHANGES: Final = 2
_IGNORE_DELETIONS: Final = 4
_RETAIN: Final = 8


class _FailError(Exception):
    """An error on the way down; the path is collected on the way up."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.segments: list[str] = []

    def at(self, segment: str) -> _FailError:
        self.segments.append(segment)
        return self

    def to_merge_error(self) -> MergeError:
        path = ""
        for seg in reversed(self.segments):
            if seg.startswith("["):
                path += seg
            else:
                path = f"{path}.{seg}" if path else seg
        return MergeError(self.message, path=path or None)


def _no_key(item: Any, merge_key: str) -> _FailError:
    return _FailError(f"map: {go_str(item)} does not contain declared merge key: {merge_key}")


def _item_seg(item: Any, merge_key: str, i: int) -> str:
    if type(item) is dict and merge_key and merge_key in item:
        return f"[{merge_key}={go_str(item[merge_key])}]"
    return f"[{i}]"


_STRATEGY_CACHE: dict[tuple[str, ...], tuple[bool, str]] = {}


def _strategies(meta: FieldMeta) -> tuple[bool, str]:
    """(retainKeys, strategy) from the field's patch strategies, as Go splits them."""
    ps = meta.patch_strategies
    if not ps:
        return False, ""
    got = _STRATEGY_CACHE.get(ps)
    if got is not None:
        return got
    if len(ps) == 1:
        got = (True, "") if ps[0] == "retainKeys" else (False, ps[0])
    elif len(ps) == 2 and "retainKeys" in ps:
        got = (True, ps[1] if ps[0] == "retainKeys" else ps[0])
    else:
        raise _FailError(f"unexpected patch strategy: {list(ps)}")
    _STRATEGY_CACHE[ps] = got
    return got


def _lookup_struct(node: Node, key: str) -> FieldMeta:
    meta = node.field(key)
    if meta is None:
        if node.kind == "struct":
            raise _FailError(
                f"unable to find api field in struct {node.name or 'object'}"
                f" for the json field {key!r}"
            )
        raise _FailError(
            f"merging an object in json but data type is not map or struct, instead is: {node.kind}"
        )
    return meta


def _lookup_slice(node: Node, key: str) -> tuple[Node, FieldMeta]:
    meta = _lookup_struct(node, key)
    sub = meta.node
    if sub.kind == "list":
        items = sub.items if sub.items is not None else ANY
        if items.kind == "list":
            raise _FailError("unexpected slice of slice")
        return items, meta
    if sub.kind == "any":
        return ANY, meta
    raise _FailError(f"expected slice or array type, but got: {sub.kind}")


# ---------------------------------------------------------------------------
# Which schema nodes can yield a patch although both sides are equal?
#
# Go sorts a primitive list in place before comparing it with the modified one,
# so an unsorted "merge" list of scalars gets a $setElementOrder even when
# unchanged; a map field with the "replace" strategy is always sent. Every
# other equal subtree yields nothing and is skipped.


def _equal_needs_walk(node: Node) -> bool:
    memo = node.memo
    got = memo.get("smp.eqwalk")
    if got is not None:
        return bool(got)
    memo["smp.eqwalk"] = False  # cycle guard
    result = False
    if node.kind == "map" and node.values is not None:
        result = _equal_needs_walk(node.values)
    elif node.kind == "struct":
        for meta in node.fields.values():
            if _field_needs_walk(meta):
                result = True
                break
    memo["smp.eqwalk"] = result
    return result


def _field_needs_walk(meta: FieldMeta) -> bool:
    try:
        _, strategy = _strategies(meta)
    except _FailError:
        return True
    sub = meta.node
    if strategy == REPLACE and sub.kind in ("struct", "map"):
        return True
    if sub.kind == "list":
        if strategy != MERGE:
            return False
        items = sub.items
        if items is None or items.kind != "struct":
            return True
        return _equal_needs_walk(items)
    return _equal_needs_walk(sub)


# ---------------------------------------------------------------------------
# diff


def _diff_maps(
    original: dict[str, Any], modified: dict[str, Any], node: Node, opts: int
) -> dict[str, Any]:
    patch: dict[str, Any] = {}
    retain_list: list[str] | None = [] if opts & _RETAIN else None
    ignore_changes = opts & _IGNORE_CHANGES
    field = node.field
    missing = _MISSING
    for key, mv in modified.items():
        if retain_list is not None and mv is not None:
            retain_list.append(key)
        ov = original.get(key, missing)
        if ov is missing:
            if not ignore_changes:
                patch[key] = mv
            continue
        t = type(ov)
        if t is str and type(mv) is str:  # the common case; also "$patch" with strings
            if ov != mv and not ignore_changes:
                patch[key] = mv
            continue
        if key == DIRECTIVE:
            raise _FailError(f"invalid value for special key: {DIRECTIVE}").at(key)
        if t is not type(mv):
            if not ignore_changes:
                patch[key] = mv
            continue
        try:
            if t is dict:
                if ov == mv:
                    meta = field(key)
                    if meta is None:
                        if strictly_same(ov, mv):
                            continue
                    elif (ignore_changes or not _walk_flags(meta)[0]) and strictly_same(ov, mv):
                        continue
                _handle_map_diff(key, ov, mv, patch, node, opts)
            elif t is list:
                if ov == mv:
                    meta = field(key)
                    if meta is None:
                        if strictly_same(ov, mv):
                            continue
                    elif (ignore_changes or not _list_field_needs_walk(meta, ov)) and strictly_same(
                        ov, mv
                    ):
                        continue
                _handle_slice_diff(key, ov, mv, patch, node, opts)
            else:
                if t not in _SCALARS:
                    raise _FailError(f"not a JSON value: {t.__name__}")
                if ov != mv and not ignore_changes:
                    patch[key] = mv
        except _FailError as e:
            raise e.at(key) from None
    if not (opts & _IGNORE_DELETIONS):
        for key in original:
            if key not in modified:
                patch[key] = None
    if retain_list and (patch or _has_additional_new_field(original, modified)):
        patch[RETAIN_KEYS] = go_sort(retain_list, go_str)
    return patch


def _walk_flags(meta: FieldMeta) -> tuple[bool, bool, bool]:
    """(equal maps need a walk, merge strategy, equal lists of maps need a walk), cached."""
    flags = meta.memo
    if flags is None:
        try:
            _, strategy = _strategies(meta)
        except _FailError:
            flags = (True, True, True)
        else:
            sub = meta.node
            items = sub.items if sub.kind == "list" else None
            flags = (
                strategy == REPLACE or _equal_needs_walk(sub),
                strategy == MERGE,
                items is None or _equal_needs_walk(items),
            )
        meta.memo = flags
    return flags  # type: ignore[no-any-return]


def _map_field_needs_walk(meta: FieldMeta) -> bool:
    try:
        _, strategy = _strategies(meta)
    except _FailError:
        return True
    return strategy == REPLACE or _equal_needs_walk(meta.node)


def _list_field_needs_walk(meta: FieldMeta, value: list[Any]) -> bool:
    if not value:
        return False
    _, merge, items_walk = _walk_flags(meta)
    if not merge:
        return False
    if type(value[0]) is dict:
        return items_walk
    return True  # a primitive merge list: Go's sorted-in-place comparison decides


def _has_additional_new_field(original: dict[str, Any], modified: dict[str, Any]) -> bool:
    for k, v in original.items():
        if v is None:
            continue
        if k not in modified:
            return True
    return False


def _handle_map_diff(
    key: str, ov: dict[str, Any], mv: dict[str, Any], patch: dict[str, Any], node: Node, opts: int
) -> None:
    meta = node.field(key)
    if meta is None:
        if same(ov, mv):
            return
        _lookup_struct(node, key)  # raises with Go's message
        return
    retain, strategy = _strategies(meta)
    opts = (opts | _RETAIN) if retain else (opts & ~_RETAIN)
    if strategy == REPLACE:
        if not (opts & _IGNORE_CHANGES):
            patch[key] = mv
        return
    sub = _diff_maps(ov, mv, meta.node, opts)
    if sub:
        patch[key] = sub


def _handle_slice_diff(
    key: str, ov: list[Any], mv: list[Any], patch: dict[str, Any], node: Node, opts: int
) -> None:
    try:
        items, meta = _lookup_slice(node, key)
    except _FailError:
        if same(ov, mv):
            return
        raise
    retain, strategy = _strategies(meta)
    if strategy == MERGE:
        opts = (opts | _RETAIN) if retain else (opts & ~_RETAIN)
        add, dels, order = _diff_lists(ov, mv, items, meta.merge_key or "", opts)
        if add:
            patch[key] = add
        if dels:
            patch[f"{_DELETE_PREFIX_SLASH}{key}"] = dels
        if order:
            patch[f"{_ORDER_PREFIX_SLASH}{key}"] = order
    elif not (opts & _IGNORE_CHANGES) and not _deep_equal(ov, mv):
        patch[key] = mv


def _deep_equal(a: Any, b: Any) -> bool:
    return same(a, b)


def _slice_element_type(*lists: list[Any]) -> type:
    types = {type(v) for lst in lists for v in lst}
    if len(types) == 1:
        t = types.pop()
        if t is list:
            raise _FailError("lists of lists are not supported")
        if t is type(None):
            raise _FailError("a list item is null")
        return t
    if not types:
        raise _FailError("no elements in any of the given slices")
    first = next(v for lst in lists for v in lst)
    if first is None:
        raise _FailError("a list item is null")
    if type(first) is list:
        raise _FailError("lists of lists are not supported")
    raise _FailError(f"list element types are not identical: {go_str(list(lists))}")


def _diff_lists(
    original: list[Any], modified: list[Any], items: Node, merge_key: str, opts: int
) -> tuple[list[Any] | None, list[Any] | None, list[Any] | None]:
    if not original:
        if not modified or opts & _IGNORE_CHANGES:
            return None, None, None
        return modified, None, None
    kind = _slice_element_type(original, modified)
    order: list[Any] | None = None
    if kind is dict:
        aligned = _aligned_pairs(original, modified, merge_key, items, opts)
        if aligned is not None:
            patch_list, order_same = aligned, True
        else:
            patch_list, del_list = _diff_lists_of_maps(original, modified, items, merge_key, opts)
            patch_list = _normalize_slice_order(patch_list, modified, merge_key, True)
            order_same = _is_order_same(original, modified, merge_key)
            patch_list.extend(del_list)
        if opts & _SET_ORDER and (
            (not (opts & _IGNORE_CHANGES) and (patch_list or not order_same))
            or (not (opts & _IGNORE_DELETIONS) and patch_list)
        ):
            order = [{merge_key: v.get(merge_key)} for v in modified]
        return patch_list, None, order
    add, dels, sorted_original = _diff_lists_of_scalars(original, modified, opts)
    add = _normalize_slice_order(add, modified, merge_key, False)
    if opts & _SET_ORDER and (
        (not (opts & _IGNORE_DELETIONS) and dels)
        or (not (opts & _IGNORE_CHANGES) and not _deep_equal(sorted_original, modified))
    ):
        order = modified
    return add, dels, order


def _aligned_pairs(
    original: list[Any], modified: list[Any], merge_key: str, items: Node, opts: int
) -> list[Any] | None:
    """The fast path for two lists with the same unique merge keys in the same order.

    Then Go pairs item i with item i, deletes and adds nothing, and the patch
    list comes out in the modified list's order; anything else returns None
    and takes the general path.
    """
    n = len(original)
    if n != len(modified) or not merge_key:
        return None
    o_keys = []
    m_keys = []
    for o, m in zip(original, modified, strict=True):
        if merge_key not in o or merge_key not in m:
            return None
        ok, mk = o[merge_key], m[merge_key]
        if type(ok) is not type(mk) or type(ok) not in (str, int):
            return None
        o_keys.append(ok)
        m_keys.append(mk)
    if o_keys != m_keys or len(set(m_keys)) != n:
        return None
    patch: list[Any] = []
    walk = not (opts & _IGNORE_CHANGES) and _equal_needs_walk(items)
    for i, (o, m) in enumerate(zip(original, modified, strict=True)):
        if o == m and not walk and strictly_same(o, m):
            continue
        try:
            sub = _diff_maps(o, m, items, opts)
        except _FailError as e:
            raise e.at(_item_seg(m, merge_key, i)) from None
        if sub:
            sub[merge_key] = m_keys[i]
            patch.append(sub)
    return patch


def _is_order_same(original: list[Any], modified: list[Any], merge_key: str) -> bool:
    if len(original) != len(modified):
        return False
    for i, m in enumerate(modified):
        o = original[i]
        if not merge_key:
            raise _FailError("cannot compare list items without a merge key")
        if merge_key not in o:
            raise _no_key(o, merge_key).at(f"[{i}]")
        if merge_key not in m:
            raise _no_key(m, merge_key).at(f"[{i}]")
        if not _key_eq(o[merge_key], m[merge_key]):
            return False
    return True


def _key_eq(a: Any, b: Any) -> bool:
    if type(a) in (dict, list) and type(b) is type(a):
        raise _FailError("merge key values must be scalars")
    return go_eq(a, b)


def _go_dedupe(s: list[Any]) -> list[Any]:
    """Go's deduplicateScalars: in place, moving the last item into each hole."""
    s = list(s)
    length = len(s) - 1
    i = 0
    while i < length:
        j = i + 1
        while j <= length:
            if _key_eq(s[i], s[j]):
                s[j] = s[length]
                del s[length]
                length -= 1
                j -= 1
            j += 1
        i += 1
    return s


def _diff_lists_of_scalars(
    original: list[Any], modified: list[Any], opts: int
) -> tuple[list[Any], list[Any], list[Any]]:
    o_sorted = go_sort(original, go_str)
    m_sorted = go_sort(modified, go_str)
    o_strs = [go_str(v) for v in o_sorted]
    m_strs = [go_str(v) for v in m_sorted]
    add: list[Any] = []
    dels: list[Any] = []
    oi = mi = 0
    no, nm = len(o_sorted), len(m_sorted)
    while oi < no or mi < nm:
        if oi < no and mi < nm:
            os_, ms = o_strs[oi], m_strs[mi]
            if os_ == ms:
                oi += 1
                mi += 1
                continue
            added = os_ > ms
        else:
            added = oi >= no
        if added:
            if not (opts & _IGNORE_CHANGES):
                add.append(m_sorted[mi])
            mi += 1
        else:
            if not (opts & _IGNORE_DELETIONS):
                dels.append(o_sorted[oi])
            oi += 1
    return add, _go_dedupe(dels), o_sorted


def _merge_key_value(item: Any, merge_key: str, i: int) -> Any:
    if type(item) is not dict:
        raise _FailError(f"expected a map as list item, got {go_str(item)}").at(f"[{i}]")
    try:
        return item[merge_key]
    except KeyError:
        raise _no_key(item, merge_key).at(f"[{i}]") from None


def _position(items: list[Any], item: Any) -> int:
    return next((i for i, x in enumerate(items) if x is item), -1)


def _merge_key_value_in(item: Any, merge_key: str, items: list[Any]) -> Any:
    if type(item) is dict and merge_key in item:
        return item[merge_key]
    return _merge_key_value(item, merge_key, _position(items, item))


def _diff_lists_of_maps(
    original: list[Any], modified: list[Any], items: Node, merge_key: str, opts: int
) -> tuple[list[Any], list[Any]]:
    patch: list[Any] = []
    deletions: list[Any] = []

    def key_str(item: Any) -> str:
        return go_str(item.get(merge_key)) if type(item) is dict else "<nil>"

    o_sorted = go_sort(original, key_str)
    m_sorted = go_sort(modified, key_str)
    oi = mi = 0
    no, nm = len(o_sorted), len(m_sorted)
    ignore_changes = opts & _IGNORE_CHANGES
    ignore_deletions = opts & _IGNORE_DELETIONS
    while oi < no or mi < nm:
        o_in, m_in = oi < no, mi < nm
        if o_in:
            o_el = o_sorted[oi]
            o_kv = _merge_key_value_in(o_el, merge_key, original)
            o_s = go_str(o_kv)
        if m_in:
            m_el = m_sorted[mi]
            m_kv = _merge_key_value_in(m_el, merge_key, modified)
            m_s = go_str(m_kv)
        if o_in and m_in and o_s == m_s:
            if not same(o_el, m_el) or (not (opts & _IGNORE_CHANGES) and _equal_needs_walk(items)):
                try:
                    sub = _diff_maps(o_el, m_el, items, opts)
                except _FailError as e:
                    raise e.at(_item_seg(m_el, merge_key, _position(modified, m_el))) from None
                if sub:
                    sub[merge_key] = m_kv
                    patch.append(sub)
            oi += 1
            mi += 1
        elif not o_in or (m_in and o_s > m_s):
            if not ignore_changes:
                patch.append(m_el)
            mi += 1
        else:
            if not ignore_deletions:
                deletions.append({merge_key: o_kv, DIRECTIVE: DELETE})
            oi += 1
    return patch, deletions


class _KeyIndex:
    """First position of each value under Go's ``==`` (maps and lists never match
    a value of another type, and comparing two of them panics in Go)."""

    __slots__ = ("first", "odd")

    def __init__(self, values: list[Any]) -> None:
        self.first: dict[Any, int] = {}
        self.odd: list[tuple[int, Any]] = []
        for i, k in enumerate(values):
            if type(k) in (dict, list):
                self.odd.append((i, k))
            else:
                self.first.setdefault(hkey(k), i)

    def find(self, k: Any) -> int:
        if type(k) in (dict, list):
            for _, x in self.odd:
                if type(x) is type(k):
                    raise _FailError("merge key values must be scalars")
            return -1
        return self.first.get(hkey(k), -1)


def _key_of(item: Any, merge_key: str, is_map: bool) -> Any:
    if not is_map:
        return item
    return item.get(merge_key) if type(item) is dict else None


def _index_fn(order: list[Any], merge_key: str, is_map: bool) -> Any:
    """index(order, value) as Go computes it: the first position whose key is ``==``."""
    index = _KeyIndex([_key_of(v, merge_key, is_map) for v in order])
    return lambda item: index.find(_key_of(item, merge_key, is_map))


def _validate_merge_keys(merge_key: str, *lists: list[Any]) -> None:
    for lst in lists:
        for i, item in enumerate(lst):
            if type(item) is not dict:
                raise _FailError(f"expected a map as list item, got {go_str(item)}").at(f"[{i}]")
            if merge_key not in item:
                raise _no_key(item, merge_key).at(f"[{i}]")


def _normalize_slice_order(
    to_sort: list[Any], order: list[Any], merge_key: str, is_map: bool
) -> list[Any]:
    to_delete: list[Any] = []
    if is_map:
        _validate_merge_keys(merge_key, to_sort, order)
        keep = []
        for v in to_sort:
            if v.get(DIRECTIVE) == DELETE and type(v.get(DIRECTIVE)) is str:
                to_delete.append(v)
            else:
                keep.append(v)
        to_sort = keep
    if len(to_sort) > 1:
        to_sort = go_slice_stable(to_sort, _index_fn(order, merge_key, is_map))
    else:
        to_sort = list(to_sort)
    to_sort.extend(to_delete)
    return to_sort


# ---------------------------------------------------------------------------
# merge (apply a patch; also combines the two halves of a three-way patch)


def _merge_map(
    original: dict[str, Any] | None,
    patch: dict[str, Any],
    node: Node,
    parallel: bool,
    ignore_nulls: bool,
) -> dict[str, Any]:
    if DIRECTIVE in patch:
        directive = patch[DIRECTIVE]
        if directive == REPLACE and type(directive) is str:
            out = dict(patch)
            del out[DIRECTIVE]
            return out
        if directive == DELETE and type(directive) is str:
            return {}
        raise _FailError(f"invalid patch type {go_str(directive)!r} in {DIRECTIVE}").at(DIRECTIVE)
    result: dict[str, Any] = {} if original is None else dict(original)
    patch = dict(patch)
    if RETAIN_KEYS in patch:
        _apply_retain_keys(result, patch, parallel)
    for key in [k for k in patch if k.startswith(ORDER_PREFIX)]:
        try:
            _merge_with_order(result, patch, key, node, parallel, ignore_nulls)
        except _FailError as e:
            raise e.at(key) from None
    for k, pv in patch.items():
        is_delete_list = False
        if k.startswith(DELETE_PREFIX):
            if not parallel:
                result[k] = pv
                continue
            k = _extract_key(k, DELETE_PREFIX)
            is_delete_list = True
        try:
            _merge_value(result, k, pv, node, parallel, ignore_nulls, is_delete_list)
        except _FailError as e:
            raise e.at(k) from None
    return result


def _merge_value(
    result: dict[str, Any],
    k: str,
    pv: Any,
    node: Node,
    parallel: bool,
    ignore_nulls: bool,
    is_delete_list: bool,
) -> None:
    if pv is None:
        result.pop(k, None)
        if ignore_nulls:
            return
    ov = result.get(k, _MISSING)
    if ov is _MISSING or type(ov) is not type(pv):
        if not is_delete_list:
            if ignore_nulls:
                pv = _discard_nulls(pv)
            value, keep = _remove_directives(pv)
            if keep:
                result[k] = value
            else:
                result.pop(k, None)
        return
    t = type(ov)
    if t is dict:
        meta = _lookup_struct(node, k)
        _, strategy = _strategies(meta)
        if strategy != REPLACE:
            result[k] = _merge_map(ov, pv, meta.node, parallel, ignore_nulls)
        else:
            result[k] = pv
    elif t is list:
        items, meta = _lookup_slice(node, k)
        _, strategy = _strategies(meta)
        if strategy == MERGE or is_delete_list:
            result[k] = _merge_slice(
                ov, pv, items, meta.merge_key or "", parallel, ignore_nulls, is_delete_list
            )
        else:
            result[k] = pv
    else:
        if t not in _SCALARS:
            raise _FailError(f"not a JSON value: {t.__name__}")
        value, keep = _remove_directives(pv)
        if keep:
            result[k] = value
        else:
            result.pop(k, None)


class _Missing:
    pass


_MISSING: Final = _Missing()


def _extract_key(s: str, prefix: str) -> str:
    parts = s.split("/", 1)
    if len(parts) <= 1 or parts[0] != prefix:
        if prefix == DELETE_PREFIX:
            raise _FailError("invalid patch format for a $deleteFromPrimitiveList directive").at(s)
        raise _FailError("invalid patch format for a $setElementOrder directive").at(s)
    return parts[1]


def _apply_retain_keys(original: dict[str, Any], patch: dict[str, Any], parallel: bool) -> None:
    retain = patch.pop(RETAIN_KEYS)
    if not parallel:
        if RETAIN_KEYS in original:
            if not _deep_equal(original[RETAIN_KEYS], retain):
                raise _FailError(
                    f"{go_str(original[RETAIN_KEYS])} and {go_str(retain)} are not deep equal"
                ).at(RETAIN_KEYS)
        else:
            original[RETAIN_KEYS] = retain
        return
    if type(retain) is not list:
        raise _FailError("invalid patch format for $retainKeys: not a list").at(RETAIN_KEYS)
    keep = set()
    for v in retain:
        if type(v) in (dict, list):
            raise _FailError("$retainKeys must list field names").at(RETAIN_KEYS)
        keep.add(hkey(v))
    for k, v in patch.items():
        if v is None or k.startswith((DELETE_PREFIX, ORDER_PREFIX)):
            continue
        if k not in keep:
            raise _FailError(f"field {k!r} is in the patch but not in $retainKeys").at(RETAIN_KEYS)
    for k in [k for k in original if k not in keep]:
        del original[k]


def _merge_with_order(
    original: dict[str, Any],
    patch: dict[str, Any],
    key: str,
    node: Node,
    parallel: bool,
    ignore_nulls: bool,
) -> None:
    order = patch.pop(key)
    if not parallel:
        if key in original:
            if not _deep_equal(original[key], order):
                raise _FailError("invalid patch format for a $setElementOrder directive")
        else:
            original[key] = order
    if type(order) is not list:
        raise _FailError("$setElementOrder must be a list")
    okey = _extract_key(key, ORDER_PREFIX)
    found_o = okey in original
    found_p = okey in patch
    o_list: list[Any] = []
    p_list: list[Any] = []
    if found_o:
        o_list = original[okey]
        if type(o_list) is not list:
            raise _FailError(f"expected a list, got {go_str(o_list)}").at(okey)
    if found_p:
        p_list = patch[okey]
        if type(p_list) is not list:
            raise _FailError(f"expected a list, got {go_str(p_list)}").at(okey)
    items, meta = _lookup_slice(node, okey)
    _, strategy = _strategies(meta)
    merge_key = meta.merge_key or ""
    _validate_patch_with_order(p_list, order, merge_key)
    if found_o and not found_p:
        merged = o_list
    elif found_p and not found_o:
        value, keep = _remove_directives(p_list)
        if not keep:
            return
        merged = value
    elif found_o and found_p:
        if strategy == MERGE:
            merged = _merge_slice(o_list, p_list, items, merge_key, parallel, ignore_nulls, False)
        else:
            merged = p_list
    else:
        return
    if not merge_key:
        patch_items, server_only = _partition_primitives(merged, order)
    else:
        patch_items, server_only = _partition_maps(merged, order, merge_key)
    server_order = o_list
    if parallel and found_o and found_p and strategy == MERGE and o_list:
        server_order = _go_aliased_original(o_list, p_list, merge_key)
    kind = _slice_element_type(server_order, p_list)
    original[okey] = _normalize_element_order(
        patch_items, server_only, order, server_order, merge_key, kind is dict
    )
    patch.pop(okey, None)


def _go_cap(n: int) -> int:
    """The capacity Go's JSON decoder leaves on a decoded array of ``n`` items."""
    cap = 0
    for needed in range(1, n + 1):
        if needed > cap:
            if needed > 2 * cap:
                cap = needed
            elif cap < 256:
                cap *= 2
            else:
                while cap < needed:
                    cap += (cap + 768) // 4
    return cap


def _go_aliased_original(o_list: list[Any], p_list: list[Any], merge_key: str) -> list[Any]:
    """The live list as Go sees it after merging the patch into it.

    Go's ``mergeSlice`` deletes items by shifting the decoded array in place and
    appends new items into its spare capacity, so the caller's view of the
    original list (used to order server-only items) changes. This replays the
    effect of those operations on the first ``len(o_list)`` slots.
    """
    n = len(o_list)
    backing: list[Any] = [*o_list, *([None] * (_go_cap(n) - n))]
    cap = len(backing)
    if not p_list or type(p_list[0]) is not dict:
        # Scalars: append(original, patch...) then deduplicate in place.
        m = len(p_list)
        if n + m > cap or not all(type(v) is type(o_list[0]) for v in p_list):
            return o_list
        backing[n : n + m] = p_list
        length = n + m - 1
        i = 0
        while i < length:
            j = i + 1
            while j <= length:
                if _key_eq(backing[i], backing[j]):
                    backing[j] = backing[length]
                    length -= 1
                    j -= 1
                j += 1
            i += 1
        return backing[:n]
    live = n
    replace = False
    for v in p_list:
        directive = v.get(DIRECTIVE)
        if directive is None:
            continue
        if directive == DELETE and type(directive) is str and merge_key in v:
            value = v[merge_key]
            while True:
                k = next(
                    (
                        i
                        for i in range(live)
                        if type(backing[i]) is dict
                        and merge_key in backing[i]
                        and _key_eq(backing[i][merge_key], value)
                    ),
                    -1,
                )
                if k < 0:
                    break
                backing[k : live - 1] = backing[k + 1 : live]
                live -= 1
        elif directive == REPLACE and type(directive) is str:
            replace = True
    if not replace:
        for v in p_list:
            if DIRECTIVE in v:
                continue
            value = v.get(merge_key)
            found = any(
                type(backing[i]) is dict
                and merge_key in backing[i]
                and _key_eq(backing[i][merge_key], value)
                for i in range(live)
            )
            if found:
                continue
            if live >= cap:
                break  # reallocated: the original array no longer changes
            backing[live] = v
            live += 1
    return backing[:n]


def _validate_patch_with_order(patch_list: list[Any], order: list[Any], merge_key: str) -> None:
    if not order or not patch_list:
        return
    if merge_key:
        non_delete = []
        for v in patch_list:
            if type(v) is not dict:
                raise _FailError(f"expected a map as list item, got {go_str(v)}")
            if not (v.get(DIRECTIVE) == DELETE and type(v.get(DIRECTIVE)) is str):
                non_delete.append(v)
    else:
        non_delete = patch_list
    pi = oi = 0
    while pi < len(non_delete) and oi < len(order):
        item = non_delete[pi]
        if type(item) is dict and DIRECTIVE in item:
            pi += 1
            continue
        if merge_key:
            o = order[oi]
            if type(item) is not dict or type(o) is not dict:
                raise _FailError("expected maps in the list and its $setElementOrder")
            if merge_key not in item or merge_key not in o:
                raise _FailError(f"a list item does not contain declared merge key: {merge_key}")
            equal = _key_eq(item[merge_key], o[merge_key])
        else:
            equal = _key_eq(item, order[oi])
        if equal:
            pi += 1
        oi += 1
    if pi < len(non_delete) and oi >= len(order):
        raise _FailError("the order in the patch list does not match its $setElementOrder list")


def _partition_primitives(
    merged: list[Any], partition_by: list[Any]
) -> tuple[list[Any], list[Any]]:
    index = _KeyIndex(partition_by)
    patch_items: list[Any] = []
    server_only: list[Any] = []
    for v in merged:
        (patch_items if index.find(v) >= 0 else server_only).append(v)
    return patch_items, server_only


def _partition_maps(
    merged: list[Any], partition_by: list[Any], merge_key: str
) -> tuple[list[Any], list[Any]]:
    keys = []
    for i, v in enumerate(partition_by):
        if type(v) is not dict:
            raise _FailError(f"value for key {i} is not a map")
        keys.append(v.get(merge_key, _MISSING))
    index = _KeyIndex(keys)
    patch_items: list[Any] = []
    server_only: list[Any] = []
    for i, v in enumerate(merged):
        k = _merge_key_value(v, merge_key, i)
        (patch_items if index.find(k) >= 0 else server_only).append(v)
    return patch_items, server_only


def _normalize_element_order(
    patch: list[Any],
    server_only: list[Any],
    patch_order: list[Any],
    server_order: list[Any],
    merge_key: str,
    is_map: bool,
) -> list[Any]:
    patch = _normalize_slice_order(patch, patch_order, merge_key, is_map)
    server_only = _normalize_slice_order(server_only, server_order, merge_key, is_map)
    if not server_only:
        return patch
    if not patch:
        return server_only
    index = _index_fn(server_order, merge_key, is_map)
    out: list[Any] = []
    i = j = 0
    nl, nr = len(server_only), len(patch)
    while i < nl or j < nr:
        if i >= nl:
            out.append(patch[j])
            j += 1
        elif j >= nr:
            out.append(server_only[i])
            i += 1
        else:
            li = index(server_only[i])
            ri = index(patch[j])
            if li >= 0 and ri >= 0 and li < ri:
                out.append(server_only[i])
                i += 1
            else:
                out.append(patch[j])
                j += 1
    return out


def _merge_slice(
    original: list[Any],
    patch: list[Any],
    items: Node,
    merge_key: str,
    parallel: bool,
    ignore_nulls: bool,
    is_delete_list: bool,
) -> list[Any]:
    if not original and not patch:
        return original
    kind = _slice_element_type(original, patch)
    if kind is not dict:
        if parallel and is_delete_list:
            return _delete_from_slice(original, patch)
        merged = _go_dedupe(original + patch)
    else:
        if not merge_key:
            raise _FailError(f"cannot merge lists without merge key for {items.name or 'list'}")
        original, patch = _merge_slice_with_special_elements(original, patch, merge_key)
        merged = _merge_slice_without_special_elements(
            original, patch, merge_key, items, parallel, ignore_nulls
        )
    if not merge_key:
        patch_items, server_only = _partition_primitives(merged, patch)
    else:
        patch_items, server_only = _partition_maps(merged, patch, merge_key)
    return _normalize_element_order(
        patch_items, server_only, patch, original, merge_key, kind is dict
    )


def _merge_slice_with_special_elements(
    original: list[Any], patch: list[Any], merge_key: str
) -> tuple[list[Any], list[Any]]:
    without: list[Any] = []
    replace = False
    for i, v in enumerate(patch):
        if DIRECTIVE not in v:
            without.append(v)
            continue
        directive = v[DIRECTIVE]
        if directive == DELETE and type(directive) is str:
            if merge_key not in v:
                raise _no_key(v, merge_key).at(f"[{i}]")
            value = v[merge_key]
            original = [o for o in original if not _matches_key(o, merge_key, value)]
        elif directive == REPLACE and type(directive) is str:
            replace = True
        elif directive == MERGE and type(directive) is str:
            raise _FailError("merging lists cannot yet be specified in the patch").at(f"[{i}]")
        else:
            raise _FailError(f"invalid patch type {go_str(directive)!r} in {DIRECTIVE}").at(
                f"[{i}]"
            )
    if replace:
        return without, []
    return original, without


def _matches_key(item: Any, merge_key: str, value: Any) -> bool:
    if type(item) is not dict:
        raise _FailError("a list item is not a map")
    return merge_key in item and _key_eq(item[merge_key], value)


def _merge_slice_without_special_elements(
    original: list[Any],
    patch: list[Any],
    merge_key: str,
    items: Node,
    parallel: bool,
    ignore_nulls: bool,
) -> list[Any]:
    out = list(original)
    for i, v in enumerate(patch):
        if merge_key not in v:
            raise _no_key(v, merge_key).at(f"[{i}]")
        value = v[merge_key]
        found = -1
        for j in range(len(out)):
            if _matches_key(out[j], merge_key, value):
                found = j
                break
        if found >= 0:
            try:
                out[found] = _merge_map(out[found], v, items, parallel, ignore_nulls)
            except _FailError as e:
                raise e.at(_item_seg(v, merge_key, i)) from None
        else:
            out.append(v)
    return out


def _delete_from_slice(current: list[Any], to_delete: list[Any]) -> list[Any]:
    gone = set()
    for v in to_delete:
        if type(v) in (dict, list):
            raise _FailError("$deleteFromPrimitiveList must list scalars")
        gone.add(hkey(v))
    out = []
    for v in current:
        if type(v) in (dict, list):
            raise _FailError("a list of scalars holds a non-scalar")
        if hkey(v) not in gone:
            out.append(v)
    return out


def _remove_directives(obj: Any) -> tuple[Any, bool]:
    t = type(obj)
    if t is dict:
        if DIRECTIVE in obj:
            return None, False
        out = {}
        for k, v in obj.items():
            nv, keep = _remove_directives(v)
            if keep:
                out[k] = nv
        return out, True
    if t is list:
        res = []
        for v in obj:
            nv, keep = _remove_directives(v)
            if keep:
                res.append(nv)
        return res, True
    return obj, True


def _discard_nulls(value: Any) -> Any:
    t = type(value)
    if t is dict:
        return {k: _discard_nulls(v) for k, v in value.items() if v is not None}
    if t is list:
        return [_discard_nulls(v) for v in value]
    return value


# ---------------------------------------------------------------------------
# public functions


def _object(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if type(value) is not dict:
        raise MergeError(f"the {name} object is not a JSON object but {type(value).__name__}")
    return value


def create_two_way_merge_patch(
    original: dict[str, Any] | None, modified: dict[str, Any] | None, schema: Node
) -> dict[str, Any]:
    """The strategic merge patch that turns ``original`` into ``modified``.

    Like Go's ``strategicpatch.CreateTwoWayMergePatch``: deletions become
    ``null`` (or ``$patch: delete`` items and ``$deleteFromPrimitiveList``),
    list order is kept with ``$setElementOrder``.

    Raises:
        MergeError: with ``path``, on input Kubernetes cannot patch (a list
            item without its merge key, mixed list item types, a field the
            schema does not know whose value differs, ...).

    >>> from reconcile.schema import for_kind
    >>> pod = for_kind("v1", "Pod")
    >>> create_two_way_merge_patch(
    ...     {"spec": {"containers": [{"name": "a", "image": "a:1"}, {"name": "b"}]}},
    ...     {"spec": {"containers": [{"name": "a", "image": "a:2"}]}}, pod)
    ... # doctest: +NORMALIZE_WHITESPACE
    {'spec': {'containers': [{'image': 'a:2', 'name': 'a'}, {'name': 'b', '$patch': 'delete'}],
              '$setElementOrder/containers': [{'name': 'a'}]}}
    """
    o = _object(original, "original")
    m = _object(modified, "modified")
    if same(o, m) and not _equal_needs_walk(schema):
        return {}
    try:
        return _diff_maps(o, m, schema, _SET_ORDER)
    except _FailError as e:
        raise e.to_merge_error() from None


def create_three_way_merge_patch(
    original: dict[str, Any] | None,
    modified: dict[str, Any] | None,
    current: dict[str, Any] | None,
    schema: Node,
) -> dict[str, Any]:
    """The patch ``kubectl apply`` sends (original = last applied, current = live).

    Like Go's ``strategicpatch.CreateThreeWayMergePatch`` with ``overwrite``
    on: changes and additions come from ``current`` → ``modified``, deletions
    only of fields that ``original`` had and ``modified`` dropped; fields others
    added to ``current`` are left alone. An empty dict means in sync.

    Raises:
        MergeError: as :func:`create_two_way_merge_patch`.

    >>> from reconcile.schema import for_kind
    >>> cm = for_kind("v1", "ConfigMap")
    >>> last = {"data": {"a": "1", "b": "2"}}
    >>> desired = {"data": {"a": "1", "c": "3"}}
    >>> live = {"data": {"a": "1", "b": "2", "added-by-someone": "x"}}
    >>> create_three_way_merge_patch(last, desired, live, cm)
    {'data': {'b': None, 'c': '3'}}
    >>> create_three_way_merge_patch(desired, desired, {**live, "data": desired["data"]}, cm)
    {}
    """
    o = _object(original, "original")
    m = _object(modified, "modified")
    c = _object(current, "current")
    try:
        delta = _diff_maps(c, m, schema, _SET_ORDER | _IGNORE_DELETIONS)
        # With changes ignored, equal values never yield anything: last applied == desired
        # (the steady state) has no deletions.
        deletions = {} if same(o, m) else _diff_maps(o, m, schema, _SET_ORDER | _IGNORE_CHANGES)
        if not deletions:
            return _merge_map({}, delta, schema, False, False) if delta else {}
        return _merge_map(deletions, delta, schema, False, False)
    except _FailError as e:
        raise e.to_merge_error() from None


def strategic_merge_patch(
    current: dict[str, Any] | None, patch: dict[str, Any] | None, schema: Node
) -> dict[str, Any]:
    """Apply a strategic merge patch to ``current``, as the API server does.

    Like Go's ``strategicpatch.StrategicMergePatch``: every directive is
    honoured (``$patch: replace|delete|merge``, ``$retainKeys``,
    ``$setElementOrder/<list>``, ``$deleteFromPrimitiveList/<list>``).
    Returns a new object; the arguments are not changed.

    Raises:
        MergeError: with ``path``, on an invalid patch.

    >>> from reconcile.schema import for_kind
    >>> strategic_merge_patch(
    ...     {"spec": {"containers": [{"name": "a", "image": "a:1"}, {"name": "b"}]}},
    ...     {"spec": {"containers": [{"name": "b", "$patch": "delete"}]}}, for_kind("v1", "Pod"))
    {'spec': {'containers': [{'name': 'a', 'image': 'a:1'}]}}
    """
    c = _object(current, "current")
    p = _object(patch, "patch")
    try:
        return _merge_map(c, p, schema, True, True)
    except _FailError as e:
        raise e.to_merge_error() from None
