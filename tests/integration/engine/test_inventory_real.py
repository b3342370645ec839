"""The inventory on a real kube-apiserver, checked with kubectl itself.

kubectl is the oracle of the ApplySet format: it must list our members by the
``part-of`` label, accept our parent's id label and group-kinds annotation, and
compute the same id for a parent it creates itself.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from reconcile.engine.annotations import (
    APPLYSET_CONTAINS_GROUP_KINDS,
    APPLYSET_ID,
    APPLYSET_PART_OF,
    APPLYSET_TOOLING,
)
from reconcile.engine.inventory import (
    ApplySetParent,
    Inventory,
    InventoryError,
    InventoryStore,
    applyset_id,
    decode,
    encode,
    group_kinds,
    with_member_label,
)
from reconcile.objects import JSONObject, ObjectRef
from reconcile.testing import skip_or_fail

from ._support import Env

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


def kubectl_path() -> Path:
    path = Path(sys.executable).parent / "kubectl"
    if not path.is_file():
        skip_or_fail(f"kubectl is not installed next to {sys.executable} (the `kubectl` extra)")
    return path


async def kubectl(env: Env, *args: str, check: bool = True, stdin: str | None = None) -> Any:
    cmd = [str(kubectl_path()), f"--kubeconfig={env.plane.kubeconfig}"]
    if env.plane.context:
        cmd.append(f"--context={env.plane.context}")
    return await anyio.run_process(
        [*cmd, *args],
        input=stdin.encode() if stdin is not None else None,
        check=check,
        env={**os.environ, "KUBECTL_APPLYSET": "true"},
    )


def config_map(ns: str, name: str) -> JSONObject:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns},
        "data": {"k": name},
    }


def deployment(ns: str) -> JSONObject:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
        },
    }


async def test_store_round_trip_and_kubectl_sees_the_members(plain: Env) -> None:
    ns = plain.namespace
    parent = ApplySetParent("ConfigMap", "web-inventory", ns)
    store = InventoryStore(plain.objects, parent, reconciler="web")
    assert (await store.load()).members == frozenset()

    desired = [config_map(ns, "a"), config_map(ns, "b"), deployment(ns)]
    new = [ObjectRef.from_object(o) for o in desired]
    stored = await store.begin(new)
    for obj in desired:
        await plain.objects.apply(with_member_label(obj, parent))
    # A bystander with no label is never listed.
    await plain.objects.apply(config_map(ns, "bystander"))

    reloaded = await InventoryStore(plain.objects, parent).load()
    assert reloaded.members == stored.members == frozenset(new)
    assert {r.api_version for r in reloaded.members} == {"v1", "apps/v1"}
    assert reloaded.reconciler == "web"

    listed = await kubectl(
        plain, "get", "configmaps,deployments", "-n", ns,
        "-l", f"{APPLYSET_PART_OF}={parent.id}", "-o", "name",
    )  # fmt: skip
    assert sorted(listed.stdout.decode().split()) == [
        "configmap/a",
        "configmap/b",
        "deployment.apps/web",
    ]
    found = await kubectl(
        plain, "get", "configmaps", "-n", ns, "-l", f"{APPLYSET_ID}={parent.id}", "-o", "json"
    )
    (live_parent,) = json.loads(found.stdout)["items"]
    assert live_parent["metadata"]["name"] == "web-inventory"
    assert live_parent["metadata"]["annotations"][APPLYSET_CONTAINS_GROUP_KINDS] == (
        "ConfigMap,Deployment.apps"
    )

    # Prune `b`: begin(old | new) keeps it recorded until its deletion succeeded.
    keep = [r for r in new if r.name != "b"]
    assert (await store.begin(keep)).members == frozenset(new)
    b = next(r for r in new if r.name == "b")
    await plain.objects.delete(b)
    after = await store.finish([b])
    assert after.members == frozenset(keep)
    assert (await InventoryStore(plain.objects, parent).load()).members == frozenset(keep)
    await store.delete()
    assert await plain.objects.get(parent.ref) is None


async def test_secret_parent(plain: Env) -> None:
    parent = ApplySetParent("Secret", "inv", plain.namespace)
    store = InventoryStore(plain.objects, parent)
    ref = ObjectRef("v1", "ConfigMap", "a", plain.namespace)
    await store.begin([ref])
    live = await plain.objects.get(parent.ref)
    assert live is not None
    assert live["type"] == "Opaque"
    assert decode(live).members == {ref}


async def test_kubectl_accepts_our_parent_and_prunes_our_members(plain: Env) -> None:
    # kubectl refuses a parent of another tool, so relabel ours as kubectl's: then
    # kubectl must accept our id label and group-kinds annotation, and find and
    # prune a member by our part-of label.
    ns = plain.namespace
    parent = ApplySetParent("ConfigMap", "shared", ns)
    members = [config_map(ns, "keep"), config_map(ns, "drop"), deployment(ns)]
    inventory = Inventory(parent, frozenset(ObjectRef.from_object(o) for o in members))
    obj = encode(inventory)
    obj["metadata"]["annotations"][APPLYSET_TOOLING] = "kubectl/v1.37"
    await plain.objects.apply(obj)
    for member in members:
        await plain.objects.apply(with_member_label(member, parent))

    manifest = json.dumps({"apiVersion": "v1", "kind": "List", "items": [members[0], members[2]]})
    result = await kubectl(
        plain, "apply", "-n", ns, "--server-side", "--prune",
        f"--applyset=configmaps/{parent.name}", "-f", "-",
        stdin=manifest, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    assert "configmap/drop pruned" in result.stdout.decode()
    assert await plain.objects.get(ObjectRef("v1", "ConfigMap", "drop", ns)) is None
    assert await plain.objects.get(ObjectRef("v1", "ConfigMap", "keep", ns)) is not None
    # The parent kubectl rewrote still carries the id we computed.
    live = await plain.objects.get(parent.ref)
    assert live is not None
    assert live["metadata"]["labels"][APPLYSET_ID] == parent.id


async def test_kubectl_computes_the_same_id_and_we_refuse_its_parent(plain: Env) -> None:
    ns = plain.namespace
    manifest = json.dumps(
        {"apiVersion": "v1", "kind": "List", "items": [config_map(ns, "k"), deployment(ns)]}
    )
    result = await kubectl(
        plain, "apply", "-n", ns, "--server-side", "--prune",
        "--applyset=configmaps/by-kubectl", "-f", "-",
        stdin=manifest, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    live = await plain.objects.get(ObjectRef("v1", "ConfigMap", "by-kubectl", ns))
    assert live is not None
    expected = applyset_id("by-kubectl", ns, "ConfigMap", "")
    assert live["metadata"]["labels"][APPLYSET_ID] == expected
    refs = [ObjectRef("v1", "ConfigMap", "k", ns), ObjectRef("apps/v1", "Deployment", "web", ns)]
    assert live["metadata"]["annotations"][APPLYSET_CONTAINS_GROUP_KINDS] == group_kinds(refs)
    member = await plain.objects.get(refs[0])
    assert member is not None
    assert member["metadata"]["labels"][APPLYSET_PART_OF] == expected
    # Ours to read, not ours to take over.
    parent = ApplySetParent("ConfigMap", "by-kubectl", ns)
    with pytest.raises(InventoryError, match="managed by 'kubectl/"):
        await InventoryStore(plain.objects, parent).load()
