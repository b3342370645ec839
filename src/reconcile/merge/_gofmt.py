"""Go's view of JSON values: ``fmt.Sprintf("%v")``, ``==`` on interfaces, sorting.

Kubernetes' strategic merge code compares merge-key values and primitive list
items by their ``%v`` strings and sorts with ``sort.Sort`` and
``sort.SliceStable`` using non-strict comparators; reproducing its output
byte for byte needs the same string forms and, for short lists, the same
insertion sort.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

import orjson

__all__ = ["go_eq", "go_slice_stable", "go_sort", "go_str", "hkey", "same", "strictly_same"]

T = TypeVar("T")

# Go's sort.Sort runs insertion sort for up to 12 elements, sort.SliceStable for up to 20.
_SORT_INSERTION = 12
_STABLE_INSERTION = 20


def _go_float(f: float) -> str:
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "+Inf" if f > 0 else "-Inf"
    sign, digits, exponent = Decimal(repr(f)).normalize().as_tuple()
    assert isinstance(exponent, int)
    ds = "".join(map(str, digits)) or "0"
    nd = len(ds)
    dp = nd + exponent  # digits before the decimal point
    exp10 = dp - 1
    neg = "-" if sign else ""
    if ds == "0":
        return neg + "0"
    if exp10 < -4 or exp10 >= 6:  # strconv 'g' with the shortest precision
        mant = ds[0] + ("." + ds[1:] if nd > 1 else "")
        es = "-" if exp10 < 0 else "+"
        return f"{neg}{mant}e{es}{abs(exp10):02d}"
    if dp <= 0:
        return f"{neg}0.{'0' * -dp}{ds}"
    if dp >= nd:
        return neg + ds + "0" * (dp - nd)
    return f"{neg}{ds[:dp]}.{ds[dp:]}"


def go_str(v: Any) -> str:
    """``fmt.Sprintf("%v", v)`` for a JSON value decoded the way Go decodes it.

    >>> [go_str(x) for x in ["a", 1, 1.5, 1e8, 0.0001, True, None]]
    ['a', '1', '1.5', '1e+08', '0.0001', 'true', '<nil>']
    """
    t = type(v)
    if t is str:
        return v  # type: ignore[no-any-return]
    if t is int:
        return str(v)
    if t is bool:
        return "true" if v else "false"
    if t is float:
        return _go_float(v)
    if v is None:
        return "<nil>"
    if t is dict:
        return "map[" + " ".join(f"{k}:{go_str(v[k])}" for k in sorted(v)) + "]"
    if t is list:
        return "[" + " ".join(go_str(x) for x in v) + "]"
    return str(v)


def hkey(v: Any) -> Any:
    """A hashable key under which Go's ``==`` on interfaces holds (1 != 1.0 != true)."""
    t = type(v)
    if t is str:
        return v
    return (t, v)


def go_eq(a: Any, b: Any) -> bool:
    """Go's ``==`` on two decoded JSON scalars (types must match)."""
    return type(a) is type(b) and a == b


_SORTED = orjson.OPT_SORT_KEYS


def same(a: Any, b: Any) -> bool:
    """Deep equality with JSON types kept apart (``0 != False``, ``1 != 1.0``), fast.

    Python's ``==`` says ``0 == False`` and ``1 == 1.0``; Go's ``reflect.DeepEqual``
    does not. Equal values are confirmed by comparing their canonical JSON
    (serialised in C); anything that cannot be serialised counts as different,
    so the caller takes its slow, exact path.

    >>> same({"a": [0]}, {"a": [0]}), same({"a": [0]}, {"a": [False]}), same(1, 1.0)
    (True, False, False)
    """
    if a is b:
        return True
    if a != b:
        return False
    return strictly_same(a, b)


def strictly_same(a: Any, b: Any) -> bool:
    """Given ``a == b``, whether the JSON types agree too (see :func:`same`)."""
    try:
        if orjson.dumps(a) == orjson.dumps(b):
            return True
        return orjson.dumps(a, option=_SORTED) == orjson.dumps(b, option=_SORTED)
    except (TypeError, orjson.JSONEncodeError):
        return False


def go_sort(items: list[T], key: Callable[[T], str]) -> list[T]:
    """``sort.Sort`` with ``Less(i, j) = key(i) <= key(j)``, as Kubernetes sorts.

    The comparator is not strict, so equal keys move: for up to 12 elements
    Go runs an insertion sort that reverses runs of equal keys, reproduced
    here; longer lists are sorted stably (identical whenever keys are unique).
    """
    n = len(items)
    if n <= 1:
        return list(items)
    keys = [key(x) for x in items]
    if n > _SORT_INSERTION or len(set(keys)) == n:  # unique keys: any sort agrees
        order = sorted(range(n), key=keys.__getitem__)
        return [items[i] for i in order]
    out = list(items)
    for i in range(1, n):
        j = i
        while j > 0 and keys[j] <= keys[j - 1]:
            keys[j], keys[j - 1] = keys[j - 1], keys[j]
            out[j], out[j - 1] = out[j - 1], out[j]
            j -= 1
    return out


def go_slice_stable(items: list[T], index: Callable[[T], int]) -> list[T]:
    """``sort.SliceStable`` by position in a reference list, as Kubernetes orders lists.

    ``Less(a, b)`` is ``index(a) < index(b)`` when both are found, and true
    otherwise (Go's quirk). With every item found this is a plain stable sort;
    otherwise Go's insertion sort (its algorithm for up to 20 items) is replayed.
    """
    n = len(items)
    if n <= 1:
        return list(items)
    idx = [index(x) for x in items]
    if min(idx) >= 0:
        order = sorted(range(n), key=idx.__getitem__)
        return [items[i] for i in order]
    out = list(items)
    for i in range(1, n):
        j = i
        while j > 0 and (idx[j] < 0 or idx[j - 1] < 0 or idx[j] < idx[j - 1]):
            idx[j], idx[j - 1] = idx[j - 1], idx[j]
            out[j], out[j - 1] = out[j - 1], out[j]
            j -= 1
    return out
