"""Field sets: wire form, order, set algebra."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconcile.errors import MergeError
from reconcile.merge import FieldSet, fieldset_of, format_path
from reconcile.schema import for_kind

# A path universe small enough for collisions: sets are random subsets of it.
_ELEMENTS = ["f:a", "f:b", 'k:{"name":"x"}', 'v:"y"', "i:0"]
_PATHS = (
    [(a,) for a in _ELEMENTS]
    + [(a, b) for a in _ELEMENTS[:2] for b in _ELEMENTS]
    + [("f:a", "f:b", c) for c in _ELEMENTS]
)


def build(paths: set[tuple[str, ...]]) -> FieldSet:
    raw: dict[str, Any] = {}
    for path in paths:
        node = raw
        for pe in path:
            node = node.setdefault(pe, {})
        node["."] = {}
    return FieldSet(_collapse(raw))


def _collapse(node: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in node.items():
        if k == ".":
            continue
        child = _collapse(v)
        if "." in v:
            child = {".": {}, **child} if child else {}
        out[k] = child
    return out


path_sets = st.sets(st.sampled_from(_PATHS))


@given(path_sets, path_sets)
def test_set_algebra_matches_python_sets(a: set[tuple[str, ...]], b: set[tuple[str, ...]]) -> None:
    fa, fb = build(a), build(b)
    assert set(fa.elements()) == a
    assert set((fa | fb).elements()) == a | b
    assert set((fa - fb).elements()) == a - b
    assert set((fa & fb).elements()) == a & b
    assert (fa <= fb) == (a <= b)
    assert (fa | fb) == build(a | b)
    assert FieldSet.from_json(fa.to_json()) == fa


def test_emit_order_is_the_servers() -> None:
    fs = FieldSet.from_fields_v1(
        {
            "i:1": {},
            'v:"b"': {},
            'v:"a"': {},
            "v:10": {},
            'k:{"port":80,"protocol":"UDP"}': {},
            'k:{"port":443,"protocol":"TCP"}': {},
            'k:{"port":80,"protocol":"TCP"}': {},
            "f:z": {"f:b": {}, ".": {}},
            "f:a": {},
        }
    )
    assert list(fs.to_fields_v1()) == [
        "f:a",
        "f:z",
        'k:{"port":80,"protocol":"TCP"}',
        'k:{"port":80,"protocol":"UDP"}',
        'k:{"port":443,"protocol":"TCP"}',
        "v:10",
        'v:"a"',
        'v:"b"',
        "i:1",
    ]
    assert list(fs.to_fields_v1()["f:z"]) == [".", "f:b"]


def test_paths_in_server_notation() -> None:
    assert format_path(["f:spec", 'k:{"port":80,"protocol":"TCP"}', "f:name"]) == (
        '.spec[port=80,protocol="TCP"].name'
    )
    assert format_path(["f:x", "i:3"]) == ".x[3]"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"x:a": {}}, "not a path element"),
        ({"f:a": {".": 1}}, "'.' must map to {}"),
        ({"k:{nope": {}}, "bad JSON"),
    ],
)
def test_malformed_fields_v1_is_a_merge_error(bad: Any, message: str) -> None:
    with pytest.raises(MergeError, match=message):
        FieldSet.from_fields_v1(bad)


def test_fieldset_of_under_schema() -> None:
    schema = for_kind("apps/v1", "Deployment")
    obj = {
        "metadata": {"name": "x", "finalizers": ["a"], "labels": {}},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "spec": {
                    "containers": [{"name": "c", "ports": [{"containerPort": 1}], "args": []}],
                    "volumes": [],
                }
            },
        },
    }
    assert fieldset_of(obj, schema).to_fields_v1() == {
        "f:metadata": {"f:finalizers": {'v:"a"': {}}, "f:labels": {}, "f:name": {}},
        "f:spec": {
            # LabelSelector is an atomic struct: a leaf.
            "f:selector": {},
            "f:template": {
                "f:spec": {
                    "f:containers": {
                        'k:{"name":"c"}': {
                            ".": {},
                            "f:args": {},
                            "f:name": {},
                            "f:ports": {
                                'k:{"containerPort":1,"protocol":"TCP"}': {
                                    ".": {},
                                    "f:containerPort": {},
                                }
                            },
                        }
                    }
                    # an empty granular list sets nothing
                }
            },
        },
    }


def test_fieldset_of_rejects_unknown_fields_and_duplicates() -> None:
    schema = for_kind("v1", "Pod")
    with pytest.raises(MergeError) as caught:
        fieldset_of({"spec": {"nope": 1}}, schema)
    assert caught.value.path == ".spec.nope"
    with pytest.raises(MergeError, match="duplicate"):
        fieldset_of({"spec": {"containers": [{"name": "a"}, {"name": "a"}]}}, schema)
    with pytest.raises(MergeError, match="no key field"):
        fieldset_of({"spec": {"containers": [{"image": "a"}]}}, schema)


def test_untyped_objects_use_json_semantics() -> None:
    fs = fieldset_of({"spec": {"a": {"b": 1}, "l": [1, 2]}}, None)
    assert fs.raw == {"f:spec": {".": {}, "f:a": {".": {}, "f:b": {}}, "f:l": {}}}
