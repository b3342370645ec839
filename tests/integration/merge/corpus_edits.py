"""Scripted, deterministic edits of real manifests for the corpus comparison."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

from .merge_strategies import server_defaults

JSON = Any
Edit = Callable[[JSON], None]


def _walk(value: JSON) -> Iterator[tuple[JSON, Any, JSON]]:
    """(parent, key, value) for every node, depth first, in document order."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield value, k, v
            yield from _walk(v)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield value, i, v
            yield from _walk(v)


def _first(obj: JSON, want: Callable[[Any, JSON], bool]) -> tuple[JSON, Any, JSON] | None:
    for parent, key, value in _walk(obj.get("spec") or obj.get("data") or obj.get("rules") or obj):
        if want(key, value):
            return parent, key, value
    return None


def change_scalar(obj: JSON) -> None:
    hit = _first(
        obj,
        lambda k, v: (
            isinstance(v, (str, int))
            and not isinstance(v, bool)
            and k not in ("name", "kind", "apiVersion")
        ),
    )
    if hit:
        parent, key, value = hit
        parent[key] = value + 1 if isinstance(value, int) else value + "-edited"


def add_labels(obj: JSON) -> None:
    md = obj.setdefault("metadata", {})
    md.setdefault("labels", {})["reconcile.example/edited"] = "true"
    md.setdefault("annotations", {})["note"] = "edited"


def drop_last_list_item(obj: JSON) -> None:
    hit = _first(obj, lambda k, v: isinstance(v, list) and len(v) > 1)
    if hit:
        hit[2].pop()


def reverse_a_list(obj: JSON) -> None:
    hit = _first(obj, lambda k, v: isinstance(v, list) and len(v) > 1)
    if hit:
        hit[2].reverse()


def add_list_item(obj: JSON) -> None:
    hit = _first(obj, lambda k, v: isinstance(v, list) and bool(v) and isinstance(v[0], dict))
    if hit:
        new = copy.deepcopy(hit[2][0])
        for key in ("name", "containerPort", "port", "mountPath"):
            if key in new:
                new[key] = new[key] + 1 if isinstance(new[key], int) else f"{new[key]}-new"
                break
        hit[2].append(new)


def drop_a_field(obj: JSON) -> None:
    hit = _first(obj, lambda k, v: isinstance(v, dict) and len(v) > 1)
    if hit:
        value = hit[2]
        del value[list(value)[-1]]


def null_a_field(obj: JSON) -> None:
    hit = _first(obj, lambda k, v: isinstance(v, dict) and len(v) > 1)
    if hit:
        value = hit[2]
        value[next(iter(value))] = None


EDITS: dict[str, Edit] = {
    "change_scalar": change_scalar,
    "add_labels": add_labels,
    "drop_last_list_item": drop_last_list_item,
    "reverse_a_list": reverse_a_list,
    "add_list_item": add_list_item,
    "drop_a_field": drop_a_field,
    "null_a_field": null_a_field,
}


def scenarios(obj: JSON) -> Iterator[tuple[str, JSON, JSON, JSON]]:
    """(name, original, modified, current) for one manifest."""
    live = server_defaults(obj)
    yield "in-sync", obj, obj, live
    yield "first-apply", {}, obj, live
    for name, edit in EDITS.items():
        modified = copy.deepcopy(obj)
        edit(modified)
        yield name, obj, modified, live
        # Someone else changed the live object the same way: the patch must not undo it.
        drifted = copy.deepcopy(live)
        edit(drifted)
        yield f"{name}/live-drift", obj, obj, drifted
