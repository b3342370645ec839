"""The planner: stages, waves, hooks, prunes, and the order of reconcilers."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconcile.engine.annotations import HOOK, HOOK_DELETE_POLICY, SYNC_WAVE
from reconcile.engine.planner import (
    DependencyCycleError,
    HookDeletePolicy,
    HookPhase,
    StageName,
    WaitCondition,
    guard_prunes,
    kind_rank,
    order_reconcilers,
    plan,
    stage_of,
)
from reconcile.errors import (
    ConfigurationError,
    DuplicateObjectError,
    ManifestValidationError,
    PruneRefusedError,
)
from reconcile.objects import Manifest, ObjectRef, Origin


def obj(api: str, kind: str, name: str, ns: str | None = None, **ann: str) -> Manifest:
    meta: dict[str, Any] = {"name": name}
    if ns:
        meta["namespace"] = ns
    if ann:
        meta["annotations"] = ann
    return Manifest({"apiVersion": api, "kind": kind, "metadata": meta}, Origin(f"{name}.yaml"))


ALL = [
    obj("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "check"),
    obj("apps/v1", "Deployment", "web", "shop"),
    obj("example.com/v1", "Widget", "w", "shop"),
    obj("v1", "Service", "web", "shop"),
    obj("v1", "ConfigMap", "cfg", "shop"),
    obj("v1", "Secret", "tls", "shop"),
    obj("rbac.authorization.k8s.io/v1", "RoleBinding", "rb", "shop"),
    obj("rbac.authorization.k8s.io/v1", "Role", "r", "shop"),
    obj("v1", "ServiceAccount", "sa", "shop"),
    obj("storage.k8s.io/v1", "StorageClass", "fast"),
    obj("example.com/v1", "WidgetClass", "big"),
    obj("rbac.authorization.k8s.io/v1", "ClusterRole", "reader"),
    obj("v1", "Namespace", "shop"),
    obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "widgets.example.com"),
]


def names(manifests: Any) -> list[str]:
    return [m.ref.kind for m in manifests]


def test_stages_and_fixed_kind_order() -> None:
    p = plan(ALL)
    assert [s.name for s in p.stages] == list(StageName)
    foundation, classes, resources = p.stages
    assert names(foundation.manifests) == ["CustomResourceDefinition", "Namespace", "ClusterRole"]
    assert [(str(w.ref), w.condition) for w in foundation.wait_for] == [
        (
            "apiextensions.k8s.io/CustomResourceDefinition widgets.example.com",
            WaitCondition.ESTABLISHED,
        ),
        ("Namespace shop", WaitCondition.ACTIVE),
    ]
    assert names(classes.manifests) == ["WidgetClass", "StorageClass"]
    assert classes.wait_for == ()
    assert names(resources.manifests) == [
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "Secret",
        "ConfigMap",
        "Service",
        "Deployment",
        "Widget",
        "ValidatingWebhookConfiguration",
    ]
    assert len(p.manifests) == len(ALL)
    assert set(p.refs) == {m.ref for m in ALL}


def test_kind_order_uses_the_group() -> None:
    # A custom resource called `Service` is not a core Service.
    assert kind_rank(ObjectRef("serving.knative.dev/v1", "Service", "x")) > kind_rank(
        ObjectRef("apps/v1", "Deployment", "x")
    )


def test_waves_inside_a_stage() -> None:
    p = plan(
        [
            obj("apps/v1", "Deployment", "late", "a", **{SYNC_WAVE: "5"}),
            obj("v1", "ConfigMap", "zero", "a"),
            obj("apps/v1", "Deployment", "early", "a", **{SYNC_WAVE: "-1"}),
            obj("v1", "ConfigMap", "also-late", "a", **{SYNC_WAVE: "5"}),
            obj("v1", "Namespace", "a", **{SYNC_WAVE: "9"}),
        ]
    )
    foundation, resources = p.stages
    assert [w.number for w in foundation.waves] == [9]
    assert [(w.number, [m.ref.name for m in w.manifests]) for w in resources.waves] == [
        (-1, ["early"]),
        (0, ["zero"]),
        (5, ["also-late", "late"]),
    ]


def test_hooks_are_separated_with_policies() -> None:
    p = plan(
        [
            obj("batch/v1", "Job", "migrate", "a", **{HOOK: "pre-sync", SYNC_WAVE: "1"}),
            obj("batch/v1", "Job", "seed", "a", **{HOOK: "pre-sync"}),
            obj(
                "batch/v1",
                "Job",
                "notify",
                "a",
                **{HOOK: "post-sync,on-failure", HOOK_DELETE_POLICY: "hook-succeeded,hook-failed"},
            ),
            obj("v1", "ConfigMap", "cfg", "a"),
        ]
    )
    assert [m.ref.name for m in p.manifests] == ["cfg"]
    assert [h.manifest.ref.name for h in p.hooks_for(HookPhase.PRE_SYNC)] == ["seed", "migrate"]
    (notify,) = p.hooks_for(HookPhase.POST_SYNC)
    assert p.hooks_for(HookPhase.ON_FAILURE) == (notify,)
    assert notify.delete_policies == {HookDeletePolicy.HOOK_SUCCEEDED, HookDeletePolicy.HOOK_FAILED}
    assert p.hooks_for(HookPhase.PRE_SYNC)[0].delete_policies == {
        HookDeletePolicy.BEFORE_HOOK_CREATION
    }


def test_prunes_in_reverse_order_and_never_a_desired_object() -> None:
    desired = [obj("v1", "ConfigMap", "keep", "a")]
    prune: list[ObjectRef | Manifest] = [
        ObjectRef("v1", "Namespace", "a"),
        ObjectRef("apiextensions.k8s.io/v1", "CustomResourceDefinition", "w.example.com"),
        ObjectRef("v1", "ConfigMap", "keep", "a"),
        ObjectRef("v1", "ConfigMap", "old", "a"),
        ObjectRef("apps/v1", "Deployment", "old", "a"),
        ObjectRef("storage.k8s.io/v1", "StorageClass", "slow"),
        obj("v1", "Secret", "early", "a", **{SYNC_WAVE: "-5"}),
        obj("v1", "Secret", "late", "a", **{SYNC_WAVE: "5"}),
    ]
    p = plan(desired, prune=prune)
    assert [f"{r.kind}/{r.name}" for r in p.prunes] == [
        "Secret/late",
        "Deployment/old",
        "ConfigMap/old",
        "Secret/early",
        "StorageClass/slow",
        "Namespace/a",
        "CustomResourceDefinition/w.example.com",
    ]


def test_duplicates_and_bad_annotations_are_typed_errors() -> None:
    with pytest.raises(DuplicateObjectError, match=r"first defined at a\.yaml"):
        plan([obj("v1", "ConfigMap", "a", "x"), obj("v1", "ConfigMap", "a", "x")])
    with pytest.raises(ManifestValidationError) as caught:
        plan([obj("v1", "ConfigMap", "bad", "x", **{SYNC_WAVE: "soon"})])
    assert caught.value.origin == Origin("bad.yaml")
    assert caught.value.path == f"metadata.annotations.{SYNC_WAVE}"


def test_empty_plan() -> None:
    p = plan([])
    assert p.stages == ()
    assert p.hooks == ()
    assert p.prunes == ()


KINDS = [(m.ref.api_version, m.ref.kind) for m in ALL] + [("batch/v1", "Job")]


@st.composite
def manifests(draw: st.DrawFn) -> list[Manifest]:
    out: dict[ObjectRef, Manifest] = {}
    for _ in range(draw(st.integers(0, 25))):
        api, kind = draw(st.sampled_from(KINDS))
        ann: dict[str, str] = {}
        if draw(st.booleans()):
            ann[SYNC_WAVE] = str(draw(st.integers(-3, 3)))
        if kind == "Job" and draw(st.booleans()):
            ann[HOOK] = draw(st.sampled_from(["pre-sync", "post-sync", "on-failure"]))
        m = obj(
            api, kind, draw(st.sampled_from("abcde")), draw(st.sampled_from([None, "n"])), **ann
        )
        out.setdefault(m.ref, m)
    return list(out.values())


@given(manifests(), st.randoms(use_true_random=False))
def test_plan_is_a_deterministic_ordering_of_its_input(ms: list[Manifest], rnd: Any) -> None:
    p = plan(ms)
    shuffled = list(ms)
    rnd.shuffle(shuffled)
    assert plan(shuffled) == p
    every = [m.ref for m in p.manifests] + [h.manifest.ref for h in p.hooks]
    assert sorted(every, key=str) == sorted((m.ref for m in ms), key=str)
    for stage in p.stages:
        numbers = [w.number for w in stage.waves]
        assert numbers == sorted(set(numbers))
    # Prune everything: the reverse of the apply order, stage by stage.
    pruned = plan([], prune=[m.ref for m in p.manifests]).prunes
    assert sorted(pruned, key=str) == sorted(p.refs, key=str)
    index = {s: i for i, s in enumerate(StageName)}
    stages = [index[stage_of(r)] for r in pruned]
    assert stages == sorted(stages, reverse=True)
    ranks = [(index[stage_of(r)], kind_rank(r)) for r in pruned]
    assert ranks == sorted(ranks, reverse=True)


def test_order_reconcilers() -> None:
    assert order_reconcilers({}) == []
    assert order_reconcilers({"c": ["a", "b"], "b": ["a"], "a": []}) == [["a"], ["b"], ["c"]]
    with pytest.raises(DependencyCycleError) as caught:
        order_reconcilers({"x": [], "a": ["b", "x"], "b": ["a"]})
    assert caught.value.cycle == ("a", "b", "a")
    assert isinstance(caught.value, ConfigurationError)
    with pytest.raises(DependencyCycleError, match="self -> self"):
        order_reconcilers({"self": ["self"]})
    with pytest.raises(ConfigurationError, match="'a' depends on unknown 'ghost'"):
        order_reconcilers({"a": ["ghost"]})


@given(st.dictionaries(st.sampled_from("abcdefg"), st.sets(st.sampled_from("abcdefg")), max_size=7))
def test_order_reconcilers_levels_respect_dependencies_or_name_a_real_cycle(
    graph: dict[str, set[str]],
) -> None:
    graph = {n: {d for d in deps if d in graph} for n, deps in graph.items()}
    try:
        levels = order_reconcilers(graph)
    except DependencyCycleError as err:
        cycle = err.cycle
        assert cycle[0] == cycle[-1]
        for here, there in itertools.pairwise(cycle):
            assert there in graph[here]
        return
    level_of = {n: i for i, level in enumerate(levels) for n in level}
    assert set(level_of) == set(graph)
    for n, deps in graph.items():
        for d in deps:
            assert level_of[d] < level_of[n]


def test_guard_prunes_refuses_an_empty_desired_set() -> None:
    refs = [ObjectRef("v1", "ConfigMap", n, "a") for n in "abcd"]
    empty = plan([], prune=refs)
    with pytest.raises(PruneRefusedError, match=r"refusing to prune 4 objects \(.*, \.\.\.\)"):
        guard_prunes(empty)
    guard_prunes(empty, allow_empty=True)
    guard_prunes(plan([obj("v1", "ConfigMap", "a", "a")], prune=refs))  # something is desired
    guard_prunes(plan([]))  # nothing to prune
    # Hooks alone are not a desired set.
    only_hooks = plan([obj("batch/v1", "Job", "j", "a", **{HOOK: "pre-sync"})], prune=refs)
    with pytest.raises(PruneRefusedError):
        guard_prunes(only_hooks)
