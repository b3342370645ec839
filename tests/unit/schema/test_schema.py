"""The built-in schema table, its generator, and the OpenAPI v3 and CRD loaders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconcile.errors import MergeError
from reconcile.schema import ANY, Node, SchemaRegistry, _generate, builtin, for_kind, is_strategic


def _path(node: Node, *names: str) -> Node:
    for name in names:
        if name == "[]":
            assert node.items is not None, node
            node = node.items
        else:
            meta = node.field(name)
            assert meta is not None, (node, name)
            node = meta.node
    return node


def test_committed_table_is_generated_from_the_definitions() -> None:
    assert _generate.main(["--check"]) == 0


def test_every_builtin_kind_resolves_and_every_field_decodes() -> None:
    seen: set[int] = set()

    def walk(node: Node) -> None:
        if id(node) in seen:
            return
        seen.add(id(node))
        for meta in node.fields.values():
            walk(meta.node)
        for child in (node.items, node.values):
            if child is not None:
                walk(child)

    kinds = list(builtin().kinds())
    assert len(kinds) > 300
    for api_version, kind in kinds:
        node = for_kind(api_version, kind)
        assert node is not None
        walk(node)
    assert len(seen) > 800


@pytest.mark.parametrize(
    ("kind", "path", "strategies", "merge_key"),
    [
        (("apps/v1", "Deployment"), ("spec", "template", "spec", "containers"), ("merge",), "name"),
        (
            ("apps/v1", "Deployment"),
            ("spec", "template", "spec", "volumes"),
            ("merge", "retainKeys"),
            "name",
        ),
        (("apps/v1", "Deployment"), ("spec", "strategy"), ("retainKeys",), None),
        (
            ("apps/v1", "Deployment"),
            ("spec", "template", "spec", "containers", "[]", "env"),
            ("merge",),
            "name",
        ),
        (
            ("apps/v1", "Deployment"),
            ("spec", "template", "spec", "containers", "[]", "ports"),
            ("merge",),
            "containerPort",
        ),
        (("v1", "Service"), ("spec", "ports"), ("merge",), "port"),
        (("v1", "ConfigMap"), ("metadata", "finalizers"), ("merge",), None),
        (("v1", "ConfigMap"), ("metadata", "ownerReferences"), ("merge",), "uid"),
        (("v1", "Pod"), ("spec", "tolerations"), (), None),
        (("rbac.authorization.k8s.io/v1", "Role"), ("rules",), (), None),
    ],
)
def test_patch_metadata_of_well_known_fields(
    kind: tuple[str, str], path: tuple[str, ...], strategies: tuple[str, ...], merge_key: str | None
) -> None:
    node = for_kind(*kind)
    assert node is not None
    parent = _path(node, *path[:-1])
    meta = parent.field(path[-1])
    assert meta is not None
    assert meta.patch_strategies == strategies
    assert meta.merge_key == merge_key


def test_list_and_map_types() -> None:
    svc = for_kind("v1", "Service")
    assert svc is not None
    ports = _path(svc, "spec", "ports")
    assert (ports.kind, ports.list_type, ports.list_map_keys) == (
        "list",
        "map",
        ("port", "protocol"),
    )
    assert _path(svc, "spec", "ports", "[]", "targetPort").int_or_string
    pod = for_kind("v1", "Pod")
    assert pod is not None
    assert _path(pod, "spec", "containers", "[]", "args").list_type == "atomic"
    assert _path(pod, "metadata", "finalizers").list_type == "set"
    limits = _path(pod, "spec", "containers", "[]", "resources", "limits")
    assert limits.kind == "map"
    assert limits.values is not None
    assert limits.values.quantity
    assert _path(pod, "spec", "affinity", "nodeAffinity").kind == "struct"
    ref = _path(pod, "spec", "containers", "[]", "env", "[]", "valueFrom", "configMapKeyRef")
    assert ref.map_type == "atomic"


def test_unknown_fields_and_kinds() -> None:
    assert for_kind("example.com/v1", "Widget") is None
    cm = for_kind("v1", "ConfigMap")
    assert cm is not None
    assert cm.field("nope") is None  # a strict built-in struct, as Go's lookup
    data = _path(cm, "data")
    assert data.kind == "map"
    assert _path(cm, "data", "anything").kind == "scalar"
    scalar = _path(cm, "immutable")
    assert scalar.field("x") is None
    assert ANY.field("x") is not None


def test_kubectl_patch_type_per_kind() -> None:
    assert is_strategic("apps/v1", "Deployment")
    assert is_strategic("rbac.authorization.k8s.io/v1", "ClusterRole")
    assert not is_strategic("apiextensions.k8s.io/v1", "CustomResourceDefinition")
    assert not is_strategic("apiregistration.k8s.io/v1", "APIService")
    assert not is_strategic("example.com/v1", "Widget")


def _as_openapi_v3(defs: dict[str, Any]) -> dict[str, Any]:
    """Rewrite the JSON-schema definitions the way /openapi/v3 serves them."""

    def fix(value: Any) -> Any:
        if isinstance(value, dict):
            out = {k: fix(v) for k, v in value.items()}
            ref = out.get("$ref")
            if isinstance(ref, str):
                out["$ref"] = ref.replace("#/$defs/", "#/components/schemas/")
                if len(out) > 1:  # v3 wraps a $ref with siblings in allOf
                    sib = {k: v for k, v in out.items() if k != "$ref"}
                    return {**sib, "allOf": [{"$ref": out["$ref"]}]}
            return out
        if isinstance(value, list):
            return [fix(v) for v in value]
        return value

    return {"openapi": "3.0.0", "components": {"schemas": fix(defs)}}


def _signature(node: Node, depth: int = 0) -> Any:
    if depth > 6:
        return node.kind
    out: dict[str, Any] = {
        "k": node.kind,
        "lt": node.list_type,
        "lk": node.list_map_keys,
        "mt": node.map_type,
        "q": node.quantity,
        "i": node.int_or_string,
    }
    if node.kind == "struct":
        out["f"] = {
            n: (m.patch_strategies, m.merge_key, _signature(m.node, depth + 1))
            for n, m in sorted(node.fields.items())
        }
    if node.items is not None:
        out["items"] = _signature(node.items, depth + 1)
    if node.values is not None:
        out["values"] = _signature(node.values, depth + 1)
    return out


def test_openapi_v3_documents_agree_with_the_builtin_table() -> None:
    path = _generate._definitions_path()
    defs = json.loads(Path(path).read_text())["$defs"]
    group_prefix = "io.k8s.api.apps.v1."
    doc = _as_openapi_v3(
        {
            k: v
            for k, v in defs.items()
            if k.startswith((group_prefix, "io.k8s.api.core.v1.", "io.k8s.apimachinery."))
        }
    )
    reg = SchemaRegistry()
    learnt = reg.add_openapi_v3(doc)
    assert ("apps/v1", "Deployment") in learnt
    for key in [("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"), ("v1", "Service")]:
        ours = reg.for_kind(*key)
        table = for_kind(*key)
        assert ours is not None
        assert table is not None
        assert ours is not table
        assert _signature(ours) == _signature(table)
        assert reg.is_strategic(*key)


def test_openapi_v3_loader_rejects_other_documents() -> None:
    with pytest.raises(MergeError) as info:
        SchemaRegistry().add_openapi_v3({"swagger": "2.0"})
    assert info.value.path == "components.schemas"


CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "spec": {
        "group": "example.com",
        "names": {"kind": "Widget", "plural": "widgets"},
        "versions": [
            {
                "name": "v1",
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {
                                    "ports": {
                                        "type": "array",
                                        "x-kubernetes-list-type": "map",
                                        "x-kubernetes-list-map-keys": ["port", "protocol"],
                                        "items": {
                                            "type": "object",
                                            "properties": {"port": {"type": "integer"}},
                                        },
                                    },
                                    "selector": {
                                        "type": "object",
                                        "x-kubernetes-map-type": "atomic",
                                        "additionalProperties": {"type": "string"},
                                    },
                                    "size": {"x-kubernetes-int-or-string": True},
                                    "raw": {"x-kubernetes-preserve-unknown-fields": True},
                                },
                            }
                        },
                    }
                },
            },
            {"name": "v2"},
        ],
    },
}


def test_crd_schema_gives_list_map_keys() -> None:
    reg = SchemaRegistry()
    assert reg.add_crd(CRD) == [("example.com/v1", "Widget"), ("example.com/v2", "Widget")]
    node = reg.for_kind("example.com/v1", "Widget")
    assert node is not None
    ports = _path(node, "spec", "ports")
    assert ports.list_type == "map"
    assert ports.list_map_keys == ("port", "protocol")
    assert _path(node, "spec", "selector").map_type == "atomic"
    assert _path(node, "spec", "size").int_or_string
    assert _path(node, "spec", "raw").kind == "any"
    assert _path(node, "spec", "undeclared").kind == "any"  # lenient
    assert _path(node, "metadata", "labels").kind == "map"
    v2 = reg.for_kind("example.com/v2", "Widget")
    assert v2 is not None
    assert _path(v2, "spec").kind == "any"
    assert not reg.is_strategic("example.com/v1", "Widget")


@pytest.mark.parametrize(
    ("crd", "path"),
    [
        ({}, "spec"),
        ({"spec": {"names": {"kind": "W"}, "versions": [{"name": "v1"}]}}, "spec.group"),
        ({"spec": {"group": "g", "versions": [{"name": "v1"}]}}, "spec.names.kind"),
        ({"spec": {"group": "g", "names": {"kind": "W"}}}, "spec.versions"),
        (
            {"spec": {"group": "g", "names": {"kind": "W"}, "versions": [{}]}},
            "spec.versions[0].name",
        ),
    ],
)
def test_bad_crds_name_the_field(crd: dict[str, Any], path: str) -> None:
    with pytest.raises(MergeError) as info:
        SchemaRegistry().add_crd(crd)
    assert info.value.path == path
