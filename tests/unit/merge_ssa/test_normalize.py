"""Normalisation and ignore rules."""

from __future__ import annotations

from typing import Any

import pytest

from reconcile.errors import ConfigurationError
from reconcile.merge import IgnoreRule, apply_ignore_rules, normalize


def svc(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": spec}


def test_equivalent_forms_normalize_equal() -> None:
    a = svc(ports=[{"port": 80, "targetPort": "8080"}], selector={})
    b = svc(ports=[{"port": 80, "targetPort": 8080, "protocol": "TCP"}])
    assert normalize(a) == normalize(b)
    assert normalize(svc(ports=[{"port": 80, "protocol": "UDP"}])) != normalize(
        svc(ports=[{"port": 80}])
    )


def test_quantities_and_server_metadata() -> None:
    live = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {
            "name": "q",
            "uid": "u",
            "resourceVersion": "1",
            "generation": 3,
            "creationTimestamp": "t",
            "managedFields": [],
        },
        "spec": {"hard": {"memory": "1Gi", "cpu": "1"}},
        "status": {"used": {}},
    }
    desired = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "q"},
        "spec": {"hard": {"memory": "1024Mi", "cpu": "1000m"}},
    }
    assert normalize(live) == normalize(desired)


def test_secret_string_data_is_data() -> None:
    a = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "v"}}
    b = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "dg=="}}
    assert normalize(a) == normalize(b)


def test_controller_annotations_are_not_drift() -> None:
    a = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "annotations": {"deployment.kubernetes.io/revision": "4"}},
    }
    assert normalize(a)["metadata"] == {"name": "d"}


def test_ignore_pointers_take_the_live_value() -> None:
    rule = IgnoreRule(
        group="apps",
        kind="Deployment",
        namespace="prod-*",
        pointers=("/spec/replicas", "/spec/template/spec/containers/*/image"),
    )
    live: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "prod-eu"},
        "spec": {
            "replicas": 7,
            "template": {"spec": {"containers": [{"name": "c", "image": "live"}]}},
        },
    }
    desired: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "prod-eu"},
        "spec": {
            "replicas": 2,
            "template": {"spec": {"containers": [{"name": "c", "image": "git"}]}},
        },
    }
    got = apply_ignore_rules(desired, live, [rule])
    assert got["spec"]["replicas"] == 7
    assert got["spec"]["template"]["spec"]["containers"][0]["image"] == "live"
    assert desired["spec"]["replicas"] == 2  # not modified
    other_ns = {**desired, "metadata": {"name": "d", "namespace": "dev"}}
    assert apply_ignore_rules(other_ns, live, [rule])["spec"]["replicas"] == 2
    # a field live does not have is dropped, so the apply leaves it alone
    bare = {**live, "spec": {"template": live["spec"]["template"]}}
    assert "replicas" not in apply_ignore_rules(desired, bare, [rule])["spec"]
    # a create keeps everything
    assert apply_ignore_rules(desired, None, [rule]) == desired


def test_ignore_managers() -> None:
    rule = IgnoreRule(managers=("sidecar-injector",))
    live = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "p",
            "managedFields": [
                {
                    "manager": "sidecar-injector",
                    "operation": "Update",
                    "fieldsV1": {"f:metadata": {"f:labels": {"f:injected": {}}}},
                }
            ],
            "labels": {"injected": "yes", "app": "a"},
        },
    }
    desired = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "labels": {"injected": "no", "app": "b"}},
    }
    got = apply_ignore_rules(desired, live, [rule])
    assert got["metadata"]["labels"] == {"injected": "yes", "app": "b"}


def test_bad_pointer_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        IgnoreRule(pointers=("spec/replicas",))
