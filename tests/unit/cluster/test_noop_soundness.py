"""The applier's cheap no-op test never says "in sync" when the prediction says otherwise."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile.cluster._fields import applied_fieldset, is_noop_apply
from reconcile.merge import fieldset_of, predict_apply
from reconcile.schema import for_kind

keys = st.sampled_from(["a", "b", "c", "app", "tier"])
values = st.sampled_from(["1", "2", "x", ""])
small_maps = st.dictionaries(keys, values, max_size=3)


@st.composite
def deployments(draw: st.DrawFn) -> dict[str, Any]:
    containers = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "name": st.sampled_from(["web", "side", "init"]),
                    "image": st.sampled_from(["nginx:1", "nginx:2"]),
                },
                optional={
                    "args": st.lists(values, max_size=2),
                    "env": st.lists(
                        st.fixed_dictionaries({"name": keys, "value": values}),
                        max_size=2,
                        unique_by=lambda e: e["name"],
                    ),
                },
            ),
            min_size=1,
            max_size=2,
            unique_by=lambda c: c["name"],
        )
    )
    obj: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "n"},
        "spec": {
            "selector": {"matchLabels": {"app": "d"}},
            "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": containers}},
        },
    }
    if draw(st.booleans()):
        obj["spec"]["replicas"] = draw(st.integers(0, 3))
    labels = draw(small_maps)
    if labels:
        obj["metadata"]["labels"] = labels
    return obj


@settings(max_examples=300, deadline=None)
@given(first=deployments(), second=deployments(), other=st.booleans())
def test_noop_implies_predicted_in_sync(
    first: dict[str, Any], second: dict[str, Any], other: bool
) -> None:
    created = predict_apply(None, first, "me")
    assert created.object is not None
    live = created.object
    if other:
        # Another manager applies something on top.
        changed = predict_apply(live, second, "someone-else", force=True)
        assert changed.object is not None
        live = changed.object
    for desired in (first, second):
        if is_noop_apply(desired, live, "me", for_kind("apps/v1", "Deployment")):
            assert predict_apply(live, desired, "me").in_sync


@settings(max_examples=300, deadline=None)
@given(obj=deployments())
def test_applied_fieldset_agrees_with_the_merge_core(obj: dict[str, Any]) -> None:
    node = for_kind("apps/v1", "Deployment")
    mine = applied_fieldset(obj, node)
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    meta = {k: v for k, v in obj["metadata"].items() if k not in ("name", "namespace")}
    if meta:
        body["metadata"] = meta
    else:
        body.pop("metadata")
    assert mine == fieldset_of(body, node).to_fields_v1()
