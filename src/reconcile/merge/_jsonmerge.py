"""JSON merge patch (RFC 7386): create and apply, two- and three-way.

Creation follows ``jsonpatch.CreateMergePatch`` (evanphx/json-patch v4) and the
three-way patch ``jsonmergepatch.CreateThreeWayJSONMergePatch`` of
``k8s.io/apimachinery``, which is what ``kubectl apply`` sends for custom
resources. Applying follows ``jsonpatch.MergePatch``: ``null`` deletes, objects
merge recursively, anything else replaces.
"""

from __future__ import annotations

from typing import Any, Final

from reconcile.errors import MergeError
from reconcile.merge._gofmt import same

__all__ = ["create_merge_patch", "create_three_way_json_merge_patch", "merge_patch"]

_NUMBER: Final = (int, float)


def _jtype(v: Any) -> type:
    t = type(v)
    if t is int or t is float:
        return float
    return t


def _matches(a: Any, b: Any) -> bool:
    ta = _jtype(a)
    if ta is not _jtype(b):
        return False
    if ta is dict:
        if len(a) != len(b):
            return False
        return all(not (k not in a or not _matches(a[k], bv)) for k, bv in b.items())
    if ta is list:
        return len(a) == len(b) and all(_matches(x, y) for x, y in zip(a, b, strict=True))
    if ta not in (str, float, bool, type(None)):
        raise _NotJSONError(ta)
    return bool(a == b)


class _NotJSONError(Exception):
    def __init__(self, t: type) -> None:
        super().__init__(t.__name__)
        self.segments: list[str] = []


def _diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    into: dict[str, Any] = {}
    for key, bv in b.items():
        if key not in a:
            into[key] = bv
            continue
        av = a[key]
        if av is bv:
            continue
        ta = _jtype(av)
        if ta is not _jtype(bv):
            into[key] = bv
            continue
        try:
            if ta is dict:
                if not same(av, bv):
                    sub = _diff(av, bv)
                    if sub:
                        into[key] = sub
            elif ta is list:
                if not same(av, bv) and not _matches(av, bv):
                    into[key] = bv
            elif ta in (str, float, bool):
                if av != bv:
                    into[key] = bv
            elif ta is not type(None):
                raise _NotJSONError(ta)
        except _NotJSONError as e:
            e.segments.append(key)
            raise
    for key in a:
        if key not in b:
            into[key] = None
    return into


def _path(segments: list[str]) -> str:
    return ".".join(reversed(segments))


def _object(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if type(value) is not dict:
        raise MergeError(f"the {name} object is not a JSON object but {type(value).__name__}")
    return value


def create_merge_patch(
    original: dict[str, Any] | None, modified: dict[str, Any] | None
) -> dict[str, Any]:
    """The JSON merge patch from ``original`` to ``modified`` (two-way).

    >>> create_merge_patch({"a": 1, "b": {"c": 2, "d": 3}}, {"b": {"c": 2, "d": 4}, "e": [1]})
    {'b': {'d': 4}, 'e': [1], 'a': None}
    """
    try:
        return _diff(_object(original, "original"), _object(modified, "modified"))
    except _NotJSONError as e:
        raise MergeError(f"not a JSON value: {e}", path=_path(e.segments)) from None


def _keep_or_delete_null(m: dict[str, Any], keep_null: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, val in m.items():
        if val is None:
            if keep_null:
                out[key] = None
            continue
        if type(val) is dict:
            if not val:
                if not keep_null:
                    out[key] = val
                continue
            sub = _keep_or_delete_null(val, keep_null)
            if sub:
                out[key] = sub
        elif not keep_null:
            out[key] = val
    return out


def _has_conflicts(left: Any, right: Any) -> bool:
    tl = type(left)
    if tl is dict:
        if type(right) is not dict:
            return True
        return any(k in right and _has_conflicts(lv, right[k]) for k, lv in left.items())
    if tl is list:
        if type(right) is not list or len(left) != len(right):
            return True
        return any(_has_conflicts(x, y) for x, y in zip(left, right, strict=True))
    return not (type(left) is type(right) and left == right)


def create_three_way_json_merge_patch(
    original: dict[str, Any] | None,
    modified: dict[str, Any] | None,
    current: dict[str, Any] | None,
) -> dict[str, Any]:
    """The JSON merge patch ``kubectl apply`` sends for a custom resource.

    Additions and changes come from ``current`` → ``modified``; deletions only
    of what ``original`` (the last applied configuration) had and ``modified``
    dropped.

    Raises:
        MergeError: the two halves conflict, or a value is not JSON.

    >>> create_three_way_json_merge_patch(
    ...     {"spec": {"a": 1, "b": 2}},
    ...     {"spec": {"a": 1, "c": 3}},
    ...     {"spec": {"a": 1, "b": 2, "x": 0}})
    {'spec': {'b': None, 'c': 3}}
    """
    o = _object(original, "original")
    m = _object(modified, "modified")
    c = _object(current, "current")
    try:
        add = _keep_or_delete_null(_diff(c, m), False)
        deletions = {} if same(o, m) else _keep_or_delete_null(_diff(o, m), True)
    except _NotJSONError as e:
        raise MergeError(f"not a JSON value: {e}", path=_path(e.segments)) from None
    if deletions and _has_conflicts(add, deletions):
        raise MergeError("the changes and the deletions of the patch conflict")
    return _merge_docs(deletions, add)


def _prune_nulls(v: Any) -> Any:
    t = type(v)
    if t is dict:
        return {k: _prune_nulls(x) for k, x in v.items() if x is not None}
    if t is list:
        return [x if x is None else _prune_nulls(x) for x in v]
    return v


def _merge_docs(doc: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(doc)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
            continue
        cur = out.get(k)
        if cur is None:
            out[k] = _prune_nulls(v)
        elif type(cur) is dict:
            out[k] = _merge_docs(cur, v) if type(v) is dict else v
        else:
            out[k] = _prune_nulls(v)
    return out


def merge_patch(target: dict[str, Any] | None, patch: dict[str, Any] | None) -> dict[str, Any]:
    """Apply a JSON merge patch to ``target`` (returns a new object).

    >>> merge_patch({"a": {"b": 1, "c": 2}, "l": [1]},
    ...             {"a": {"b": None, "d": {"e": None}}, "l": [2]})
    {'a': {'c': 2, 'd': {}}, 'l': [2]}
    """
    return _merge_docs(_object(target, "target"), _object(patch, "patch"))
