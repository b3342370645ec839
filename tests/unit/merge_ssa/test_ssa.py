"""Server-side apply prediction: named regression cases found against the real server."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from reconcile.errors import ConflictError, FieldConflict
from reconcile.merge import canonical_quantity, predict_apply, quantities_equal


def entry(
    manager: str, fields: dict[str, Any], op: str = "Apply", av: str = "v1"
) -> dict[str, Any]:
    return {
        "manager": manager,
        "operation": op,
        "apiVersion": av,
        "time": "2026-01-01T00:00:00Z",
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    }


def pod_deploy(**container: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "n"},
        "spec": {
            "template": {"spec": {"containers": [{"name": "c", "image": "i", **container}]}},
        },
    }


C = 'k:{"name":"c"}'


def owned_container(*fields: str) -> dict[str, Any]:
    return {
        "f:spec": {
            "f:template": {
                "f:spec": {
                    "f:containers": {C: {".": {}, "f:name": {}, **{f"f:{f}": {} for f in fields}}}
                }
            }
        }
    }


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("1000m", "1"),
        ("1024Mi", "1Gi"),
        ("0.5", "500m"),
        ("1536Mi", "1536Mi"),
        ("1.5Gi", "1536Mi"),
        ("100Ki", "100Ki"),
        ("512", "512"),
        ("2048", "2048"),
        ("1e3", "1e3"),
        ("1k", "1k"),
        ("0.1m", "100u"),
        ("0.1n", "1n"),
        ("0", "0"),
        ("12e6", "12e6"),
    ],
)
def test_canonical_quantity(text: str, canonical: str) -> None:
    assert canonical_quantity(text) == canonical
    assert quantities_equal(text, canonical)


def test_quantity_applied_as_written_conflicts_then_is_stored_canonical() -> None:
    # gen-36: the server compares "1000m" with the stored "1" before decoding:
    # a co-owner of the field is a conflict, though the stored value stays "1".
    live = pod_deploy(resources={"limits": {"cpu": "1"}})
    limits: dict[str, Any] = {"f:resources": {"f:limits": {"f:cpu": {}}}}
    fields = owned_container("image")
    fields["f:spec"]["f:template"]["f:spec"]["f:containers"][C].update(limits)
    live["metadata"]["managedFields"] = [
        entry("gitops", copy.deepcopy(fields), av="apps/v1"),
        entry("other", copy.deepcopy(fields), av="apps/v1"),
    ]
    config = pod_deploy(resources={"limits": {"cpu": "1000m"}})
    refused = predict_apply(live, config, "gitops")
    assert refused.refused
    path = '.spec.template.spec.containers[name="c"].resources.limits.cpu'
    assert refused.conflicts == (FieldConflict("other", path),)
    err = refused.error()
    assert isinstance(err, ConflictError)
    assert err.conflicts == refused.conflicts
    forced = predict_apply(live, config, "gitops", force=True)
    assert forced.object is not None
    container = forced.object["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["cpu"] == "1"
    assert not forced.changed
    assert forced.ownership_changed  # "other" loses the field
    # alone, the same apply is in sync
    live["metadata"]["managedFields"] = [entry("gitops", fields, av="apps/v1")]
    assert predict_apply(live, config, "gitops").in_sync


def test_atomic_field_ref_keeps_its_defaulted_api_version() -> None:
    # corpus-45: valueFrom.fieldRef is atomic; the server defaults apiVersion again.
    env = [{"name": "E", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
    live = pod_deploy(
        env=[
            {
                "name": "E",
                "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}},
            }
        ]
    )
    config = pod_deploy(env=env)
    from reconcile.merge import apply_fieldset, schema_for

    live["metadata"]["managedFields"] = [
        entry("gitops", apply_fieldset(config, schema_for(config)).raw, av="apps/v1")
    ]
    assert predict_apply(live, config, "gitops").in_sync


def test_zero_values_the_server_omitted_are_not_drift() -> None:
    # corpus-222: readOnly: false is applied, and omitted by the server.
    mounts = [{"name": "v", "mountPath": "/v", "readOnly": False}]
    config = pod_deploy(volumeMounts=mounts)
    live = pod_deploy(volumeMounts=[{"name": "v", "mountPath": "/v"}])
    from reconcile.merge import apply_fieldset, schema_for

    live["metadata"]["managedFields"] = [
        entry("gitops", apply_fieldset(config, schema_for(config)).raw, av="apps/v1")
    ]
    assert predict_apply(live, config, "gitops").in_sync
    # a new zero value the manager did not set before is a change
    live["metadata"]["managedFields"] = [entry("gitops", owned_container("image"), av="apps/v1")]
    assert not predict_apply(live, config, "gitops").in_sync


def test_service_account_alias_follows_the_name() -> None:
    # corpus-47: spec.serviceAccount is the deprecated alias of serviceAccountName.
    live = pod_deploy()
    live["spec"]["template"]["spec"].update(serviceAccountName="a", serviceAccount="a")
    live["metadata"]["managedFields"] = [entry("gitops", owned_container("image"), av="apps/v1")]
    config = pod_deploy()
    config["spec"]["template"]["spec"]["serviceAccountName"] = "b"
    got = predict_apply(live, config, "gitops").object
    assert got is not None
    assert got["spec"]["template"]["spec"]["serviceAccount"] == "b"


def test_object_without_managed_fields_gets_before_first_apply() -> None:
    # corpus-291: updates to an object nobody applied are not tracked; the first
    # apply attributes what is there to "before-first-apply".
    live = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "s", "namespace": "n", "uid": "u", "labels": {"k": "v"}},
    }
    config = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "s", "namespace": "n"},
    }
    got = predict_apply(live, config, "gitops")
    assert got.managed_fields == [
        {
            "manager": "before-first-apply",
            "operation": "Update",
            "apiVersion": "v1",
            "time": None,
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:k": {}}}},
        }
    ]
    assert not got.in_sync


def test_fields_no_longer_applied_are_removed_unless_another_manager_owns_them() -> None:
    live: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "c",
            "managedFields": [
                entry("gitops", {"f:data": {"f:a": {}, "f:b": {}, "f:c": {}}}),
                entry("ops", {"f:data": {"f:b": {}}}, op="Update"),
            ],
        },
        "data": {"a": "1", "b": "2", "c": "3"},
    }
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c"},
        "data": {"a": "1"},
    }
    got = predict_apply(live, config, "gitops")
    assert got.object is not None
    assert got.object["data"] == {"a": "1", "b": "2"}
    assert [(m["manager"], m["fieldsV1"]) for m in got.managed_fields] == [
        ("gitops", {"f:data": {"f:a": {}}}),
        ("ops", {"f:data": {"f:b": {}}}),
    ]


def test_shared_ownership_on_equal_values() -> None:
    live: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "c",
            "managedFields": [entry("ops", {"f:data": {"f:a": {}}}, op="Update")],
        },
        "data": {"a": "1"},
    }
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c"},
        "data": {"a": "1"},
    }
    got = predict_apply(live, config, "gitops")
    assert not got.conflicts
    assert not got.changed
    assert got.ownership_changed
    assert {m["manager"] for m in got.managed_fields} == {"gitops", "ops"}


def test_create_is_a_prediction_too() -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "stringData": {"a": "b"},
    }
    got = predict_apply(None, config, "gitops")
    assert got.object is not None
    assert got.object["data"] == {"a": "Yg=="}
    assert "stringData" not in got.object
    assert got.managed_fields[0]["fieldsV1"] == {"f:stringData": {"f:a": {}}}


def test_an_empty_granular_list_is_not_drift() -> None:
    # benchmark, kube-prometheus grafana: `env: []` sets no field and the server omits it.
    from reconcile.diff import DefaultDiffer
    from reconcile.merge import apply_fieldset, schema_for

    config = pod_deploy(env=[])
    live = pod_deploy()
    live["metadata"]["managedFields"] = [
        entry("gitops", apply_fieldset(config, schema_for(config)).raw, av="apps/v1")
    ]
    assert predict_apply(live, config, "gitops").in_sync
    differ = DefaultDiffer(manager="gitops")
    assert differ.diff(config, live).in_sync
    assert differ.statistics().fast_in_sync == 1
