"""managedFields written by a real kube-apiserver parse and re-emit byte for byte."""

from __future__ import annotations

import json
from typing import Any

import pytest

from reconcile.merge import FieldSet, fieldset_of
from reconcile.schema import for_kind

from .differ_support import Admin, configmap, deployment, service

pytestmark = pytest.mark.integration

_STRIP = {"f:apiVersion", "f:kind"}
_STRIP_META = {"f:name", "f:namespace"}


def _apply_set(obj: dict[str, Any]) -> dict[str, Any]:
    schema = for_kind(obj["apiVersion"], obj["kind"])
    raw = dict(fieldset_of(obj, schema).raw)
    for k in _STRIP:
        raw.pop(k, None)
    meta = {k: v for k, v in raw.get("f:metadata", {}).items() if k not in _STRIP_META}
    raw.pop("f:metadata", None)
    if meta:
        raw["f:metadata"] = meta
    return raw


@pytest.mark.parametrize("make", [deployment, service, configmap])
def test_managed_fields_round_trip(admin: Admin, make: Any) -> None:
    ns = "fs-roundtrip"
    admin.namespace(ns)
    obj = make(ns)
    status, body = admin.apply(obj, "owner-a", force=True)
    assert status in (200, 201), body
    # A second manager writes with an update (merge patch) and another applies.
    status, body = admin.merge_patch(
        obj, {"metadata": {"labels": {"extra": "x"}, "annotations": {"by": "b"}}}, "editor-b"
    )
    assert status == 200, body
    other = {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "metadata": {"name": obj["metadata"]["name"], "namespace": ns, "labels": {"c": "3"}},
    }
    status, body = admin.apply(other, "owner-c")
    assert status == 200, body
    status, live = admin.get(obj)
    assert status == 200
    entries = live["metadata"]["managedFields"]
    assert {e["manager"] for e in entries} == {"owner-a", "editor-b", "owner-c"}
    for entry in entries:
        wire = json.dumps(entry["fieldsV1"], separators=(",", ":"), ensure_ascii=False)
        fs = FieldSet.from_fields_v1(entry["fieldsV1"])
        assert fs.to_json() == wire
        assert FieldSet.from_json(wire) == fs
        if entry["manager"] == "owner-a":
            assert fs.raw == _apply_set(obj)
        if entry["manager"] == "owner-c":
            assert fs.raw == _apply_set(other)
