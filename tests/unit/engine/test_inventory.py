"""The inventory format and the crash-safe protocol (pure parts, and the store on a fake)."""

from __future__ import annotations

import base64
import contextlib
import copy
from collections.abc import Iterable
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile.engine.annotations import (
    APPLYSET_ADDITIONAL_NAMESPACES,
    APPLYSET_CONTAINS_GROUP_KINDS,
    APPLYSET_ID,
    APPLYSET_PART_OF,
    APPLYSET_TOOLING,
    DEPENDS_ON,
    RECONCILER,
)
from reconcile.engine.inventory import (
    DATA_KEY,
    ApplySetParent,
    Inventory,
    InventoryError,
    InventoryStore,
    after_prune,
    applyset_id,
    decode,
    decode_members,
    encode,
    encode_members,
    other_applyset,
    to_write_before_apply,
    with_member_label,
)
from reconcile.errors import ConfigurationError
from reconcile.objects import JSONObject, ObjectRef

PARENT = ApplySetParent("ConfigMap", "inv", "ops")

refs = st.builds(
    ObjectRef,
    st.sampled_from(["v1", "apps/v1", "apps/v1beta2", "example.com/v1alpha1"]),
    st.sampled_from(["ConfigMap", "Deployment", "Widget", "Namespace"]),
    st.text("abcxyz-.", min_size=1, max_size=6),
    st.sampled_from([None, "ops", "shop", "other"]),
)


def test_applyset_id_format() -> None:
    ident = applyset_id("inv", "ops", "ConfigMap", "")
    assert ident.startswith("applyset-")
    assert ident.endswith("-v1")
    body = ident.removeprefix("applyset-").removesuffix("-v1")
    assert len(body) == 43  # 32 bytes, unpadded base64
    assert "=" not in body
    assert base64.urlsafe_b64decode(body + "=")  # URL-safe alphabet
    assert PARENT.id == ident
    assert ApplySetParent("Secret", "inv", "ops").id != ident
    assert len(ident) <= 63  # a valid label value


def test_parent_validation() -> None:
    with pytest.raises(ConfigurationError, match="ConfigMap or a Secret"):
        ApplySetParent("Deployment", "x", "y")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="namespace"):
        ApplySetParent("ConfigMap", "x", "")


@given(st.frozensets(refs, max_size=12), st.sampled_from(["ConfigMap", "Secret"]))
def test_encode_decode_round_trip(members: frozenset[ObjectRef], kind: Any) -> None:
    inv = Inventory(ApplySetParent(kind, "inv", "ops"), members, "web", ("infra/a", "infra/b"))
    obj = encode(inv)
    back = decode(copy.deepcopy(obj))
    assert back == inv
    # API versions survive, not just identities.
    assert {(r, r.api_version) for r in back.members} == {(r, r.api_version) for r in members}
    assert obj["metadata"]["labels"][APPLYSET_ID] == inv.parent.id
    ann = obj["metadata"]["annotations"]
    assert ann[APPLYSET_TOOLING] == "reconcile/v1"
    assert ann[RECONCILER] == "web"
    assert ann[DEPENDS_ON] == "infra/a,infra/b"
    gks = ann[APPLYSET_CONTAINS_GROUP_KINDS].split(",") if members else []
    assert gks == sorted(set(gks))
    namespaces = ann[APPLYSET_ADDITIONAL_NAMESPACES]
    assert "ops" not in namespaces.split(",")
    assert set(filter(None, namespaces.split(","))) == {
        r.namespace for r in members if r.namespace and r.namespace != "ops"
    }


def test_secret_parent_is_base64_and_accepts_string_data() -> None:
    members = frozenset({ObjectRef("v1", "ConfigMap", "a", "ops")})
    inv = Inventory(ApplySetParent("Secret", "inv", "ops"), members)
    obj = encode(inv)
    assert obj["type"] == "Opaque"
    assert base64.b64decode(obj["data"][DATA_KEY]).decode() == encode_members(members)
    as_string = {**obj, "data": None, "stringData": {DATA_KEY: encode_members(members)}}
    assert decode(as_string) == inv


def test_group_kinds_annotation() -> None:
    members = [
        ObjectRef("apps/v1", "Deployment", "a", "ops"),
        ObjectRef("apps/v1", "Deployment", "b", "ops"),
        ObjectRef("v1", "ConfigMap", "a", "ops"),
        ObjectRef("cert-manager.io/v1", "Certificate", "c", "ops"),
    ]
    ann = encode(Inventory(PARENT, frozenset(members)))["metadata"]["annotations"]
    assert (
        ann[APPLYSET_CONTAINS_GROUP_KINDS]
        == "Certificate.cert-manager.io,ConfigMap,Deployment.apps"
    )
    assert ann[APPLYSET_ADDITIONAL_NAMESPACES] == ""
    empty = encode(Inventory(PARENT))
    assert empty["metadata"]["annotations"][APPLYSET_CONTAINS_GROUP_KINDS] == ""
    assert empty["data"][DATA_KEY] == "[]"


def _parent_obj(**changes: Any) -> JSONObject:
    obj = encode(Inventory(PARENT, frozenset({ObjectRef("v1", "ConfigMap", "a", "ops")})))
    for path, value in changes.items():
        *head, last = path.split("__")
        target = obj
        for part in head:
            target = target[part]
        target[last] = value
    return obj


@pytest.mark.parametrize(
    ("obj", "path", "message"),
    [
        (_parent_obj(kind="Deployment", apiVersion="apps/v1"), None, "ConfigMap or a Secret"),
        (_parent_obj(metadata__labels={}), f"metadata.labels.{APPLYSET_ID}", "expected 'applyset-"),
        (_parent_obj(metadata__name="other"), f"metadata.labels.{APPLYSET_ID}", "id label"),
        (
            _parent_obj(metadata__annotations={APPLYSET_TOOLING: "kubectl/v1.37"}),
            f"metadata.annotations.{APPLYSET_TOOLING}",
            "managed by 'kubectl/v1.37', not by reconcile",
        ),
        (_parent_obj(data={}), f"data.{DATA_KEY}", "missing"),
        (_parent_obj(data={DATA_KEY: "{nope"}), f"data.{DATA_KEY}", "not JSON"),
        (_parent_obj(data={DATA_KEY: "{}"}), f"data.{DATA_KEY}", "array"),
        (_parent_obj(data={DATA_KEY: "[1]"}), f"data.{DATA_KEY}[0]", "expected an object"),
        (
            _parent_obj(data={DATA_KEY: '[{"apiVersion": "v1", "kind": "ConfigMap"}]'}),
            f"data.{DATA_KEY}[0]",
            "missing or invalid name",
        ),
        (
            _parent_obj(
                data={DATA_KEY: '[{"apiVersion":"v1","kind":"A","name":"a","namespace":""}]'}
            ),
            f"data.{DATA_KEY}[0]",
            "namespace",
        ),
        (
            _parent_obj(
                data={
                    DATA_KEY: '[{"apiVersion":"v1","kind":"A","name":"a"},'
                    '{"apiVersion":"v2","kind":"A","name":"a"}]'
                }
            ),
            f"data.{DATA_KEY}",
            "listed twice",
        ),
    ],
)
def test_decode_errors_name_the_parent_and_field(
    obj: JSONObject, path: str | None, message: str
) -> None:
    with pytest.raises(InventoryError, match=message) as caught:
        decode(obj)
    assert caught.value.path == path
    assert caught.value.ref is not None


def test_bad_secret_payload() -> None:
    obj = encode(Inventory(ApplySetParent("Secret", "inv", "ops")))
    obj["data"][DATA_KEY] = "***"
    with pytest.raises(InventoryError, match="base64"):
        decode(obj)


def test_decode_members_accepts_any_json_layout() -> None:
    text = '[ {"name": "a", "kind": "ConfigMap", "apiVersion": "v1", "namespace": "x"} ]'
    assert decode_members(text) == {ObjectRef("v1", "ConfigMap", "a", "x")}


def test_with_member_label() -> None:
    obj: JSONObject = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}
    labelled = with_member_label(obj, PARENT)
    assert labelled["metadata"]["labels"] == {APPLYSET_PART_OF: PARENT.id}
    assert "labels" not in obj["metadata"]  # the input is untouched
    assert with_member_label(labelled, PARENT) == labelled
    other = ApplySetParent("ConfigMap", "other", "ops")
    with pytest.raises(InventoryError, match="already labelled") as caught:
        with_member_label(labelled, other)
    assert caught.value.path == f"metadata.labels.{APPLYSET_PART_OF}"


@given(st.frozensets(refs), st.frozensets(refs))
def test_write_before_apply_is_the_union_with_new_versions(
    old: frozenset[ObjectRef], new: frozenset[ObjectRef]
) -> None:
    stored = to_write_before_apply(old, new)
    assert stored == old | new
    versions = {r: r.api_version for r in stored}
    for r in new:
        assert versions[r] == r.api_version


@given(st.frozensets(refs), st.data())
def test_after_prune_keeps_failures_and_unreached(current: frozenset[ObjectRef], data: Any) -> None:
    items = sorted(current, key=str)
    ok = set(data.draw(st.sets(st.sampled_from(items)) if items else st.just(set())))
    failed = set(data.draw(st.sets(st.sampled_from(items)) if items else st.just(set()))) - ok
    left = after_prune(current, ok, failed)
    assert left == current - ok
    assert failed <= left
    if ok & failed == set() and ok:
        with pytest.raises(ConfigurationError, match="both pruned and failed"):
            after_prune(current, ok, {next(iter(ok))})


# -- the crash-safe protocol, run by the store on a fake cluster that can die anywhere


class CrashError(Exception):
    pass


class FakeCluster:
    """Objects by ref; crashes after `budget` operations; some deletes fail."""

    def __init__(self) -> None:
        self.objects: dict[ObjectRef, JSONObject] = {}
        self.budget: int | None = None
        self.failing: set[ObjectRef] = set()
        self.deleted: list[ObjectRef] = []

    def _tick(self) -> None:
        if self.budget is not None:
            if self.budget == 0:
                raise CrashError
            self.budget -= 1

    async def get(self, ref: ObjectRef) -> JSONObject | None:
        self._tick()
        found = self.objects.get(ref)
        return copy.deepcopy(found) if found is not None else None

    async def apply(self, obj: JSONObject) -> JSONObject:
        self._tick()
        ref = ObjectRef.from_object(obj)
        self.objects.pop(ref, None)
        self.objects[ref] = copy.deepcopy(obj)
        return copy.deepcopy(obj)

    async def delete(self, ref: ObjectRef) -> None:
        self._tick()
        if ref in self.failing:
            raise RuntimeError(f"cannot delete {ref}")
        self.deleted.append(ref)
        self.objects.pop(ref, None)


def manifest(ref: ObjectRef) -> JSONObject:
    meta: dict[str, Any] = {"name": ref.name}
    if ref.namespace:
        meta["namespace"] = ref.namespace
    return {"apiVersion": ref.api_version, "kind": ref.kind, "metadata": meta}


async def sync(cluster: FakeCluster, desired: Iterable[ObjectRef]) -> None:
    """One pass, as the Reconciler will run it."""
    new = frozenset(desired)
    store = InventoryStore(cluster, PARENT)
    old = (await store.load()).members
    await store.begin(new)
    for ref in sorted(new, key=str):
        await cluster.apply(manifest(ref))
    ok, failed = [], []
    for ref in sorted(old - new, key=str):
        assert ref not in new
        try:
            await cluster.delete(ref)
        except RuntimeError:
            failed.append(ref)
        else:
            ok.append(ref)
    await store.finish(ok, failed)


def owned(cluster: FakeCluster) -> set[ObjectRef]:
    return {r for r in cluster.objects if r != PARENT.ref and r.name != "foreign"}


def stored(cluster: FakeCluster) -> frozenset[ObjectRef]:
    parent = cluster.objects.get(PARENT.ref)
    return decode(parent).members if parent is not None else frozenset()


small_refs = st.builds(
    ObjectRef,
    st.sampled_from(["v1", "apps/v1"]),
    st.sampled_from(["ConfigMap", "Deployment"]),
    st.sampled_from("abcd"),
    st.just("ops"),
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.frozensets(small_refs, max_size=5), min_size=1, max_size=4),
    st.frozensets(small_refs, max_size=5),
    st.integers(0, 40),
    st.frozensets(small_refs, max_size=2),
)
def test_killed_anywhere_the_next_pass_loses_nothing_and_deletes_nothing_it_keeps(
    history: list[frozenset[ObjectRef]],
    final: frozenset[ObjectRef],
    crash_after: int,
    failing: frozenset[ObjectRef],
) -> None:
    async def scenario() -> None:
        cluster = FakeCluster()
        foreign = ObjectRef("v1", "ConfigMap", "foreign", "ops")
        cluster.objects[foreign] = manifest(foreign)
        for desired in history[:-1]:
            await sync(cluster, desired)
        # The last pass of the history is killed after `crash_after` operations,
        # while some deletes fail.
        cluster.budget, cluster.failing = crash_after, set(failing)
        with contextlib.suppress(CrashError):
            await sync(cluster, history[-1])
        cluster.budget = None
        # Invariant at the crash point: everything the reconciler created is recorded.
        assert owned(cluster) <= stored(cluster)
        # The next pass (deletes still failing for some) must not delete a desired object.
        before = len(cluster.deleted)
        await sync(cluster, final)
        assert not set(cluster.deleted[before:]) & final
        assert foreign in cluster.objects
        assert final <= owned(cluster)
        assert owned(cluster) <= stored(cluster)
        assert stored(cluster) == final | (failing & stored(cluster))
        # Once deletes work again, the cluster converges to exactly the desired set.
        cluster.failing = set()
        await sync(cluster, final)
        assert owned(cluster) == final
        assert stored(cluster) == final

    anyio.run(scenario)


def test_store_load_of_missing_parent_is_empty_and_delete_removes_it() -> None:
    async def scenario() -> None:
        cluster = FakeCluster()
        store = InventoryStore(cluster, PARENT, reconciler="web", depends_on=["ops/infra"])
        assert (await store.load()).members == frozenset()
        a = ObjectRef("v1", "ConfigMap", "a", "ops")
        saved = await store.begin([a])
        assert saved.members == {a}
        parent = cluster.objects[PARENT.ref]
        assert parent["metadata"]["annotations"][RECONCILER] == "web"
        assert decode(parent).depends_on == ("ops/infra",)
        await store.delete()
        assert PARENT.ref not in cluster.objects

    anyio.run(scenario)


def test_store_refuses_a_foreign_parent() -> None:
    async def scenario() -> None:
        cluster = FakeCluster()
        obj = encode(Inventory(PARENT))
        obj["metadata"]["annotations"][APPLYSET_TOOLING] = "kubectl/v1.37"
        cluster.objects[PARENT.ref] = obj
        with pytest.raises(InventoryError, match="refusing to take it over"):
            await InventoryStore(cluster, PARENT).begin([])
        assert cluster.objects[PARENT.ref] == obj  # untouched

    anyio.run(scenario)


def test_other_applyset_names_a_competing_owner() -> None:
    live: JSONObject = with_member_label({"metadata": {"name": "a"}}, PARENT)
    assert other_applyset(live, PARENT) is None
    other = ApplySetParent("ConfigMap", "other", "ops")
    assert other_applyset(live, other) == PARENT.id
    assert other_applyset({"metadata": {}}, other) is None
