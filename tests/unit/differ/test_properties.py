"""Properties of the Differ over generated Deployments (Hypothesis)."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile.diff import DefaultDiffer

names = st.text("abcdefgh", min_size=1, max_size=5)
values = st.text("xyz019", max_size=4)


@st.composite
def deployments(draw: st.DrawFn) -> dict[str, Any]:
    containers = []
    for cname in draw(st.lists(names, min_size=1, max_size=3, unique=True)):
        c: dict[str, Any] = {"name": cname, "image": draw(values) or "img"}
        env = draw(st.lists(names, max_size=3, unique=True))
        if env:
            c["env"] = [{"name": e.upper(), "value": draw(values)} for e in env]
        ports = draw(st.lists(st.integers(1, 9000), max_size=2, unique=True))
        if ports:
            c["ports"] = [{"containerPort": p} for p in ports]
        if draw(st.booleans()):
            c["resources"] = {"limits": {"cpu": draw(st.sampled_from(["1", "500m", "1000m"]))}}
        if draw(st.booleans()):
            c["args"] = draw(st.lists(values, max_size=3))
        containers.append(c)
    labels = draw(st.dictionaries(names, values, max_size=3))
    obj: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "n"},
        "spec": {
            "replicas": draw(st.integers(0, 5)),
            "selector": {"matchLabels": {"app": "d"}},
            "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": containers}},
        },
    }
    if labels:
        obj["metadata"]["labels"] = labels
    return obj


@settings(max_examples=150, deadline=None)
@given(deployments(), st.data())
def test_applied_state_is_in_sync_and_one_edit_is_one_change(
    desired: dict[str, Any], data: st.DataObject
) -> None:
    differ = DefaultDiffer(manager="gitops")
    created = differ.diff(desired, None)
    assert created.predicted is not None
    live = created.predicted
    again = differ.diff(desired, live)
    assert again.in_sync, again.changes
    # one edited container image is exactly one change, owned by us
    edited = copy.deepcopy(desired)
    containers = edited["spec"]["template"]["spec"]["containers"]
    i = data.draw(st.integers(0, len(containers) - 1))
    containers[i]["image"] += "-new"
    verdict = differ.diff(edited, live)
    assert verdict.action == "update"
    assert [(c.path, c.manager) for c in verdict.changes] == [
        (f'.spec.template.spec.containers[name="{containers[i]["name"]}"].image', "gitops")
    ]
    assert verdict.predicted is not None
    assert differ.diff(edited, verdict.predicted).in_sync
