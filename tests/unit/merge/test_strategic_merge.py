"""Strategic and JSON merge patch: behaviour, directives, errors with paths."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from reconcile.errors import MergeError
from reconcile.merge import (
    ApplyPatch,
    create_apply_patch,
    create_merge_patch,
    create_three_way_json_merge_patch,
    create_three_way_merge_patch,
    create_two_way_merge_patch,
    merge_patch,
    strategic_merge_patch,
)
from reconcile.merge._gofmt import go_sort, go_str, same
from reconcile.schema import ANY, Node, SchemaRegistry, for_kind


def _kind(api_version: str, kind: str) -> Node:
    node = for_kind(api_version, kind)
    assert node is not None
    return node


POD = _kind("v1", "Pod")
DEPLOY = _kind("apps/v1", "Deployment")


def pod(*containers: Any, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "spec": {"containers": list(containers), **spec}}


def test_in_sync_objects_give_an_empty_patch() -> None:
    desired = pod({"name": "a", "image": "x", "ports": [{"containerPort": 80}]})
    live = copy.deepcopy(desired)
    live["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"
    live["spec"]["containers"][0]["ports"][0]["protocol"] = "TCP"
    live["status"] = {"phase": "Running"}
    assert create_three_way_merge_patch(desired, desired, live, POD) == {}


def test_three_way_keeps_fields_others_added_and_deletes_what_we_dropped() -> None:
    last = pod({"name": "a", "image": "x", "args": ["--v=1"]}, nodeSelector={"disk": "ssd"})
    desired = pod({"name": "a", "image": "y"})
    live = copy.deepcopy(last)
    live["spec"]["containers"][0]["env"] = [{"name": "INJECTED", "value": "1"}]
    patch = create_three_way_merge_patch(last, desired, live, POD)
    assert patch == {
        "spec": {
            "$setElementOrder/containers": [{"name": "a"}],
            "containers": [{"name": "a", "image": "y", "args": None}],
            "nodeSelector": None,
        }
    }
    result = strategic_merge_patch(live, patch, POD)
    assert result["spec"]["containers"] == [
        {"name": "a", "image": "y", "env": [{"name": "INJECTED", "value": "1"}]}
    ]
    assert "nodeSelector" not in result["spec"]


def test_arguments_are_not_modified() -> None:
    last = pod({"name": "a"}, {"name": "b"})
    desired = pod({"name": "b", "image": "y"})
    live = pod({"name": "a"}, {"name": "b"}, {"name": "c"})
    before = copy.deepcopy((last, desired, live))
    patch = create_three_way_merge_patch(last, desired, live, POD)
    patch_before = copy.deepcopy(patch)
    strategic_merge_patch(live, patch, POD)
    assert (last, desired, live) == before
    assert patch == patch_before


def test_delete_directive_and_set_element_order() -> None:
    live = pod({"name": "a"}, {"name": "b"}, {"name": "c"})
    patch = {
        "spec": {
            "$setElementOrder/containers": [{"name": "c"}, {"name": "a"}],
            "containers": [{"name": "b", "$patch": "delete"}],
        }
    }
    assert strategic_merge_patch(live, patch, POD)["spec"]["containers"] == [
        {"name": "c"},
        {"name": "a"},
    ]


def test_retain_keys_clears_fields_not_listed() -> None:
    live = {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    assert DEPLOY is not None
    assert strategic_merge_patch(live, patch, DEPLOY) == {
        "spec": {"strategy": {"type": "Recreate"}}
    }


def test_delete_from_primitive_list() -> None:
    live = {"metadata": {"finalizers": ["a", "b", "c"]}}
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}
    assert strategic_merge_patch(live, patch, POD) == {"metadata": {"finalizers": ["a", "c"]}}


def test_patch_replace_and_delete_on_maps() -> None:
    live = pod({"name": "a"}, nodeSelector={"a": "1", "b": "2"})
    replaced = strategic_merge_patch(
        live, {"spec": {"nodeSelector": {"$patch": "replace", "c": "3"}}}, POD
    )
    assert replaced["spec"]["nodeSelector"] == {"c": "3"}
    deleted = strategic_merge_patch(live, {"spec": {"nodeSelector": {"$patch": "delete"}}}, POD)
    assert deleted["spec"]["nodeSelector"] == {}


@pytest.mark.parametrize(
    ("original", "modified", "path"),
    [
        (
            pod({"name": "a"}),
            pod({"name": "a"}, {"image": "no-name"}),
            "spec.containers[1]",
        ),
        (
            pod({"name": "a", "ports": [{"containerPort": 80}]}),
            pod({"name": "a", "ports": [{"containerPort": 80}, {"name": "x"}]}),
            "spec.containers[name=a].ports[1]",
        ),
        (
            pod({"name": "a"}),
            pod({"name": "a"}, "not-a-map"),
            "spec.containers",
        ),
        (
            {"spec": {"nope": {"a": 1}}},
            {"spec": {"nope": {"a": 2}}},
            "spec.nope",
        ),
        (
            pod({"name": "a", "image": b"bytes"}),
            pod({"name": "a", "image": b"other"}),
            "spec.containers[name=a].image",
        ),
    ],
)
def test_bad_input_raises_merge_error_with_path(
    original: dict[str, Any], modified: dict[str, Any], path: str
) -> None:
    with pytest.raises(MergeError) as info:
        create_two_way_merge_patch(original, modified, POD)
    assert info.value.path == path


def test_unknown_directive_names_the_field() -> None:
    with pytest.raises(MergeError) as info:
        strategic_merge_patch(
            pod({"name": "a"}),
            {"spec": {"containers": [{"name": "a", "$patch": "frobnicate"}]}},
            POD,
        )
    assert info.value.path == "spec.containers[0]"


def test_non_objects_are_rejected() -> None:
    with pytest.raises(MergeError):
        create_two_way_merge_patch([], {}, POD)  # type: ignore[arg-type]
    with pytest.raises(MergeError):
        merge_patch({}, "x")  # type: ignore[arg-type]


def test_unknown_schema_means_lists_are_replaced() -> None:
    patch = create_two_way_merge_patch({"l": [{"name": "a"}]}, {"l": [{"name": "b"}]}, ANY)
    assert patch == {"l": [{"name": "b"}]}


def test_json_merge_patch_two_and_three_way() -> None:
    assert create_merge_patch({"a": {"b": 1}}, {"a": {"b": 1, "c": [1]}}) == {"a": {"c": [1]}}
    assert create_merge_patch({"a": 1}, {"a": 1.0}) == {}  # numbers are numbers
    assert create_merge_patch({"a": 0}, {"a": False}) == {"a": False}
    last = {"spec": {"a": 1, "b": {"c": 1, "d": 2}}}
    desired = {"spec": {"a": 2, "b": {"c": 1}}}
    live = {"spec": {"a": 1, "b": {"c": 1, "d": 2, "e": 3}}, "status": {}}
    patch = create_three_way_json_merge_patch(last, desired, live)
    assert patch == {"spec": {"a": 2, "b": {"d": None}}}
    assert merge_patch(live, patch) == {"spec": {"a": 2, "b": {"c": 1, "e": 3}}, "status": {}}


def test_create_apply_patch_chooses_like_kubectl() -> None:
    reg = SchemaRegistry()
    cr = {"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"l": [1]}}
    got = create_apply_patch({}, cr, {}, registry=reg)
    assert got == ApplyPatch(
        "merge", {"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"l": [1]}}
    )
    assert got.content_type == "application/merge-patch+json"
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 1}}
    got = create_apply_patch(dep, dep, dep)
    assert got.type == "strategic"
    assert got.in_sync
    assert got.content_type == "application/strategic-merge-patch+json"
    with pytest.raises(MergeError):
        create_apply_patch({}, {"kind": "X"}, {})


def test_go_formatting_and_sorting() -> None:
    assert [go_str(v) for v in [1e21, 123456.0, 1234567.0, -0.5, 1e-5, [1, "a"], {"b": 1}]] == [
        "1e+21",
        "123456",
        "1.234567e+06",
        "-0.5",
        "1e-05",
        "[1 a]",
        "map[b:1]",
    ]
    # Go's insertion sort with a non-strict Less reverses runs of equal keys.
    assert go_sort([("a", 1), ("a", 2), ("b", 0)], lambda x: x[0]) == [("a", 2), ("a", 1), ("b", 0)]
    assert same({"a": [1]}, {"a": [1]})
    assert not same({"a": [1]}, {"a": [True]})
