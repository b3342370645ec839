"""The Differ: modes, actions, presentations, the fast path."""

from __future__ import annotations

import json
from typing import Any

import pytest

from reconcile import DefaultDiffer, Differ, IgnoreRule
from reconcile.diff import LAST_APPLIED, mask_secret
from reconcile.errors import DiffError


def deployment(image: str = "nginx:1", replicas: int = 2) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": image,
                            "resources": {"limits": {"cpu": "500m"}},
                            "ports": [{"containerPort": 80}],
                        }
                    ]
                },
            },
        },
    }


def live_of(differ: DefaultDiffer, desired: dict[str, Any]) -> dict[str, Any]:
    created = differ.diff(desired, None)
    assert created.action == "create"
    assert created.predicted is not None
    live: dict[str, Any] = json.loads(json.dumps(created.predicted))
    # what the server adds on its own: defaults and identity
    live["metadata"].update(uid="u1", resourceVersion="9", generation=1)
    live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"
    live["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"] = "TCP"
    live["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    live["status"] = {"replicas": 2}
    return live


def test_is_a_differ() -> None:
    assert isinstance(DefaultDiffer(), Differ)


def test_steady_state_is_proven_on_the_fast_path() -> None:
    differ = DefaultDiffer(manager="gitops")
    desired = deployment()
    live = live_of(differ, desired)
    verdict = differ.diff(desired, live)
    assert verdict.in_sync
    assert verdict.body is None
    stats = differ.statistics()
    assert stats.fast_in_sync == 1
    assert stats.objects == 2


def test_drift_names_fields_and_owners() -> None:
    differ = DefaultDiffer(manager="gitops")
    live = live_of(differ, deployment())
    verdict = differ.diff(deployment(image="nginx:2"), live)
    assert verdict.action == "update"
    assert verdict.body == deployment(image="nginx:2")
    assert verdict.content_type == "application/apply-patch+yaml"
    [change] = verdict.changes
    assert change.path == '.spec.template.spec.containers[name="web"].image'
    assert (change.before, change.after, change.manager) == ("nginx:1", "nginx:2", "gitops")
    text = verdict.unified_diff()
    assert "-      - image: nginx:1" in text
    assert "+      - image: nginx:2" in text
    assert verdict.to_json()["changes"][0]["after"] == "nginx:2"
    assert "nginx:2" in verdict._repr_html_()


def test_conflicts_with_another_manager() -> None:
    differ = DefaultDiffer(manager="gitops")
    live = live_of(differ, deployment())
    live["spec"]["replicas"] = 5
    live["metadata"]["managedFields"].append(
        {
            "manager": "hpa",
            "operation": "Update",
            "apiVersion": "apps/v1",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {"f:replicas": {}}},
        }
    )
    verdict = differ.diff(deployment(), live)
    assert verdict.action == "update"
    assert [(c.manager, c.path) for c in verdict.conflicts] == [("hpa", ".spec.replicas")]
    assert verdict.predicted is None
    forced = differ.diff(deployment(), live, force=True)
    assert forced.predicted is not None
    assert forced.predicted["spec"]["replicas"] == 2
    # ignoring the HPA's fields leaves replicas alone: in sync
    ignoring = DefaultDiffer(manager="gitops", ignore=[IgnoreRule(managers=("hpa",))])
    assert ignoring.diff(deployment(), live).in_sync


def test_prune_and_errors() -> None:
    differ = DefaultDiffer(manager="gitops")
    live = live_of(differ, deployment())
    pruned = differ.diff(None, live)
    assert pruned.action == "prune"
    assert pruned.changes[0].after is None
    assert pruned.unified_diff().startswith("--- live/apps/Deployment shop/web\n+++ /dev/null")
    with pytest.raises(DiffError):
        differ.diff(None, None)
    with pytest.raises(DiffError) as caught:
        differ.diff(
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"x": 1}}, None
        )
    assert caught.value.path == ".spec.x"


def test_secret_values_are_masked() -> None:
    differ = DefaultDiffer(manager="gitops")
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "stringData": {"password": "hunter2"},
    }
    created = differ.diff(secret, None)
    assert created.predicted is not None
    live = created.predicted
    changed = differ.diff({**secret, "stringData": {"password": "hunter3"}}, live)
    assert changed.action == "update"
    text = changed.unified_diff()
    assert "hunter" not in text
    assert "aHVudGVy" not in text  # base64 of the secret either
    assert "+" * 8 in text
    assert "hunter" not in json.dumps(changed.to_json())
    assert "hunter" not in changed._repr_html_()
    a, b = mask_secret(
        {"kind": "Secret", "data": {"x": "1"}}, {"kind": "Secret", "data": {"x": "1"}}
    )
    assert a == b


def test_client_side_mode_uses_the_last_applied_annotation() -> None:
    differ = DefaultDiffer(mode="client-side")
    desired = deployment()
    created = differ.diff(desired, None)
    assert created.action == "create"
    assert created.predicted is not None
    live = json.loads(json.dumps(created.predicted))
    assert json.loads(live["metadata"]["annotations"][LAST_APPLIED]) == desired
    live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"
    assert differ.diff(desired, live).in_sync
    drifted = differ.diff(deployment(replicas=3), live)
    assert drifted.action == "update"
    assert drifted.content_type == "application/strategic-merge-patch+json"
    assert drifted.body is not None
    assert drifted.body["spec"] == {"replicas": 3}
    assert [c.path for c in drifted.changes] == [".spec.replicas"]
    # a field removed from the desired object is deleted (it was applied before)
    smaller = deployment()
    del smaller["spec"]["replicas"]
    removed = differ.diff(smaller, live)
    assert removed.body is not None
    assert removed.body["spec"] == {"replicas": None}


def test_batch() -> None:
    differ = DefaultDiffer(manager="gitops")
    live = live_of(differ, deployment())
    out = differ.diff_many([(deployment(), live), (deployment(image="x"), live), (None, live)])
    assert [d.action for d in out] == ["none", "update", "prune"]
