"""The inventory: which objects a reconciler owns, kept in the cluster.

The inventory is stored in a kubectl **ApplySet** parent (KEP-3659), a ConfigMap
or Secret, so ``kubectl`` users can see it:

- the parent has the label ``applyset.kubernetes.io/id`` =
  ``applyset-<base64url(sha256(<name>.<namespace>.<kind>.<group>))>-v1``
  (:func:`applyset_id`), the annotations ``applyset.kubernetes.io/tooling``
  (``reconcile/v1``), ``applyset.kubernetes.io/contains-group-kinds`` and
  ``applyset.kubernetes.io/additional-namespaces``;
- every member gets the label ``applyset.kubernetes.io/part-of`` = that id
  (:func:`member_labels`, :func:`with_member_label`), so
  ``kubectl get <kinds> -A -l applyset.kubernetes.io/part-of=<id>`` lists them;
- the parent's data key ``inventory`` records each member with its API version,
  which the ApplySet labels alone do not keep (pruning needs the version, and
  must know members even when their labels were removed by hand).

**The crash-safe protocol** (pure functions; :class:`InventoryStore` runs them):

1. before anything is applied, write ``old | new`` (:func:`to_write_before_apply`);
2. apply; prune ``old - new`` (never a member of ``new``: see the planner);
3. after the prunes, write ``after_prune(current, pruned_ok, failed)``: only the
   objects whose deletion succeeded leave; a failed delete stays.

Killed at any point, the stored inventory still names every object the
reconciler may have created, and the next pass computes prunes from it as
``stored - new``, which never contains an object it should keep.

Example:

    >>> from reconcile.objects import ObjectRef
    >>> from reconcile.engine.inventory import ApplySetParent, Inventory, decode, encode
    >>> parent = ApplySetParent("ConfigMap", "web-inventory", "shop")
    >>> parent.id
    'applyset-...-v1'
    >>> inv = Inventory(parent, frozenset({ObjectRef("apps/v1", "Deployment", "web", "shop"),
    ...                                    ObjectRef("v1", "Namespace", "shop")}))
    >>> obj = encode(inv)
    >>> obj["metadata"]["annotations"]["applyset.kubernetes.io/contains-group-kinds"]
    'Deployment.apps,Namespace'
    >>> print(obj["data"]["inventory"])
    [
    {"apiVersion":"v1","kind":"Namespace","name":"shop"},
    {"apiVersion":"apps/v1","kind":"Deployment","name":"web","namespace":"shop"}
    ]
    >>> decode(obj) == inv
    True
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any, Literal, Protocol

import attrs
import orjson

from reconcile.engine.annotations import (
    APPLYSET_ADDITIONAL_NAMESPACES,
    APPLYSET_CONTAINS_GROUP_KINDS,
    APPLYSET_ID,
    APPLYSET_PART_OF,
    APPLYSET_TOOLING,
    DEPENDS_ON,
    MANAGED_BY,
    MANAGED_BY_VALUE,
    RECONCILER,
)
from reconcile.errors import ConfigurationError, ReconcileError
from reconcile.objects import JSONObject, ObjectRef

__all__ = [
    "DATA_KEY",
    "TOOL",
    "TOOLING",
    "ApplySetParent",
    "Inventory",
    "InventoryError",
    "InventoryStore",
    "ObjectClient",
    "after_prune",
    "applyset_id",
    "decode",
    "decode_members",
    "encode",
    "encode_members",
    "group_kinds",
    "member_labels",
    "other_applyset",
    "to_write_before_apply",
    "with_member_label",
]

#: The tool name in ``applyset.kubernetes.io/tooling``.
TOOL = "reconcile"
#: The value of ``applyset.kubernetes.io/tooling`` this version writes.
TOOLING = f"{TOOL}/v1"
#: The data key of the parent that holds the member list.
DATA_KEY = "inventory"


class InventoryError(ReconcileError):
    """An inventory parent is malformed, or belongs to another tool or ApplySet.

    ``ref`` names the parent; ``path`` the offending label, annotation or data key.

    Example:

        >>> parent = ApplySetParent("ConfigMap", "inv", "d")
        >>> obj = encode(Inventory(parent))
        >>> obj["metadata"]["annotations"]["applyset.kubernetes.io/tooling"] = "helm/v3"
        >>> try:
        ...     decode(obj)
        ... except InventoryError as err:
        ...     print(err.path)
        metadata.annotations.applyset.kubernetes.io/tooling
    """


def applyset_id(name: str, namespace: str, kind: str, group: str) -> str:
    """The ApplySet id of a parent: ``applyset-<base64url(sha256(name.namespace.kind.group))>-v1``.

    The base64 is the URL-safe alphabet without padding; ``namespace`` and
    ``group`` are empty strings for a cluster-scoped parent and the core group.

    >>> applyset_id("web", "shop", "ConfigMap", "")
    'applyset-LfI8Vi9Cj-oN7gdQMc0pVAUtzPHQLFbNnE8ILiyJ7TY-v1'
    """
    digest = hashlib.sha256(".".join((name, namespace, kind, group)).encode()).digest()
    return f"applyset-{base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}-v1"


@attrs.frozen
class ApplySetParent:
    """Where an inventory lives: a namespaced ConfigMap or Secret.

    kubectl accepts ConfigMap and Secret parents without further setup (custom
    resource parents need a labelled CRD); the namespace is required.

    Example:

        >>> parent = ApplySetParent("ConfigMap", "shop-inventory", "shop")
        >>> str(parent.ref), parent.id.startswith("applyset-")
        ('ConfigMap shop/shop-inventory', True)
    """

    kind: Literal["ConfigMap", "Secret"]
    name: str
    namespace: str

    def __attrs_post_init__(self) -> None:
        if self.kind not in ("ConfigMap", "Secret"):
            raise ConfigurationError(
                f"an inventory parent is a ConfigMap or a Secret, not {self.kind!r}"
            )
        if not self.name or not self.namespace:
            raise ConfigurationError("an inventory parent needs a name and a namespace")

    @property
    def ref(self) -> ObjectRef:
        """The parent's object reference."""
        return ObjectRef("v1", self.kind, self.name, self.namespace)

    @property
    def id(self) -> str:
        """The ApplySet id (the parent's ``applyset.kubernetes.io/id`` label)."""
        return applyset_id(self.name, self.namespace, self.kind, "")


@attrs.frozen
class Inventory:
    """The members of one ApplySet, with the API version of each.

    Attributes:
        parent: where it is stored.
        members: the member references (identity ignores the API version).
        reconciler: the owning reconciler's name, written as an annotation.
        depends_on: the reconcilers this one depends on, written as an annotation.

    Example:

        >>> inv = Inventory(ApplySetParent("ConfigMap", "inv", "d"),
        ...                 frozenset({ObjectRef("v1", "ConfigMap", "c", "d")}), reconciler="shop")
        >>> decode(encode(inv)) == inv
        True
    """

    parent: ApplySetParent
    members: frozenset[ObjectRef] = frozenset()
    reconciler: str | None = None
    depends_on: tuple[str, ...] = ()


def _member_key(ref: ObjectRef) -> tuple[str, str, str, str]:
    return (ref.group, ref.kind, ref.namespace or "", ref.name)


def _member_dict(ref: ObjectRef) -> dict[str, str]:
    out = {"apiVersion": ref.api_version, "kind": ref.kind, "name": ref.name}
    if ref.namespace:
        out["namespace"] = ref.namespace
    return out


def encode_members(members: Iterable[ObjectRef]) -> str:
    """The member list as text: a JSON array, one object per line, sorted.

    >>> print(encode_members([ObjectRef("v1", "ConfigMap", "b", "x")]))
    [
    {"apiVersion":"v1","kind":"ConfigMap","name":"b","namespace":"x"}
    ]
    >>> encode_members([])
    '[]'
    """
    lines = [
        orjson.dumps(_member_dict(r), option=orjson.OPT_SORT_KEYS).decode()
        for r in sorted(members, key=_member_key)
    ]
    return "[\n" + ",\n".join(lines) + "\n]" if lines else "[]"


def decode_members(text: str, *, parent: ObjectRef | None = None) -> frozenset[ObjectRef]:
    """Parse :func:`encode_members` output; any JSON layout of the same array is accepted.

    Raises:
        InventoryError: the text is not such an array (naming the parent and entry).

    Example:

        >>> decode_members('[{"apiVersion": "v1", "kind": "ConfigMap", "name": "c"}]')
        frozenset({ObjectRef(api_version='v1', kind='ConfigMap', name='c', namespace=None)})
    """
    path = f"data.{DATA_KEY}"
    try:
        entries = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InventoryError(f"not JSON: {exc}", ref=parent, path=path) from exc
    if not isinstance(entries, list):
        raise InventoryError("expected a JSON array of objects", ref=parent, path=path)
    members: set[ObjectRef] = set()
    for i, entry in enumerate(entries):
        where = f"{path}[{i}]"
        if not isinstance(entry, dict):
            raise InventoryError("expected an object", ref=parent, path=where)
        fields = {k: entry.get(k) for k in ("apiVersion", "kind", "name")}
        bad = sorted(k for k, v in fields.items() if not isinstance(v, str) or not v)
        namespace = entry.get("namespace")
        if namespace is not None and (not isinstance(namespace, str) or not namespace):
            bad.append("namespace")
        if bad:
            raise InventoryError(f"missing or invalid {', '.join(bad)}", ref=parent, path=where)
        members.add(
            ObjectRef(fields["apiVersion"], fields["kind"], fields["name"], namespace)  # type: ignore[arg-type]
        )
    if len(members) != len(entries):
        raise InventoryError("an object is listed twice", ref=parent, path=path)
    return frozenset(members)


def group_kinds(members: Iterable[ObjectRef]) -> str:
    """The ``contains-group-kinds`` value: sorted, unique ``Kind.group`` (``Kind`` for core).

    >>> group_kinds([ObjectRef("apps/v1", "Deployment", "a"), ObjectRef("v1", "Service", "a")])
    'Deployment.apps,Service'
    """
    return ",".join(sorted({f"{r.kind}.{r.group}" if r.group else r.kind for r in members}))


def member_labels(parent: ApplySetParent) -> dict[str, str]:
    """The labels every member carries.

    >>> member_labels(ApplySetParent("Secret", "inv", "ops"))
    {'applyset.kubernetes.io/part-of': 'applyset-...-v1'}
    """
    return {APPLYSET_PART_OF: parent.id}


def with_member_label(obj: Mapping[str, Any], parent: ApplySetParent) -> JSONObject:
    """A copy of ``obj`` labelled as a member of ``parent``'s ApplySet.

    The input is not changed. A different ``part-of`` label already set by
    the manifest is an error: the object would belong to two ApplySets.

    Raises:
        InventoryError: the object already claims another ApplySet.

    Example:

        >>> parent = ApplySetParent("ConfigMap", "inv", "d")
        >>> obj = with_member_label({"apiVersion": "v1", "kind": "ConfigMap",
        ...                          "metadata": {"name": "c"}}, parent)
        >>> obj["metadata"]["labels"]["applyset.kubernetes.io/part-of"] == parent.id
        True
    """
    meta = dict(obj.get("metadata") or {})
    labels = dict(meta.get("labels") or {})
    current = labels.get(APPLYSET_PART_OF)
    if current is not None and current != parent.id:
        raise InventoryError(
            f"already labelled as a member of ApplySet {current!r}, not {parent.id!r}",
            ref=ObjectRef.from_object(obj),
            path=f"metadata.labels.{APPLYSET_PART_OF}",
        )
    labels[APPLYSET_PART_OF] = parent.id
    meta["labels"] = labels
    return {**obj, "metadata": meta}


def other_applyset(live: Mapping[str, Any], parent: ApplySetParent) -> str | None:
    """The id of another ApplySet that the live object belongs to, or ``None``.

    Two reconcilers claiming one object is a conflict to report, not a tug of
    war: the engine checks the live object before applying or pruning it.

    >>> p = ApplySetParent("ConfigMap", "a", "ops")
    >>> other_applyset({"metadata": {"labels": {APPLYSET_PART_OF: p.id}}}, p) is None
    True
    >>> other_applyset({"metadata": {"labels": {APPLYSET_PART_OF: "applyset-x-v1"}}}, p)
    'applyset-x-v1'
    """
    labels = (live.get("metadata") or {}).get("labels") or {}
    current = labels.get(APPLYSET_PART_OF)
    return current if isinstance(current, str) and current != parent.id else None


def encode(inventory: Inventory) -> JSONObject:
    """The parent object (a ConfigMap or Secret) that stores ``inventory``.

    The result is a complete object for a server-side apply: ApplySet labels
    and annotations, and the member list under ``data.inventory`` (base64 for
    a Secret, as the API stores it).

    Example:

        >>> inv = Inventory(ApplySetParent("ConfigMap", "inv", "d"),
        ...                 frozenset({ObjectRef("apps/v1", "Deployment", "web", "d")}))
        >>> obj = encode(inv)
        >>> annotations = obj["metadata"]["annotations"]
        >>> obj["kind"], annotations["applyset.kubernetes.io/contains-group-kinds"]
        ('ConfigMap', 'Deployment.apps')
    """
    parent = inventory.parent
    members = inventory.members
    annotations = {
        APPLYSET_TOOLING: TOOLING,
        APPLYSET_CONTAINS_GROUP_KINDS: group_kinds(members),
        APPLYSET_ADDITIONAL_NAMESPACES: ",".join(
            sorted(
                {r.namespace for r in members if r.namespace and r.namespace != parent.namespace}
            )
        ),
    }
    if inventory.reconciler is not None:
        annotations[RECONCILER] = inventory.reconciler
    if inventory.depends_on:
        annotations[DEPENDS_ON] = ",".join(inventory.depends_on)
    text = encode_members(members)
    data = base64.b64encode(text.encode()).decode() if parent.kind == "Secret" else text
    obj: JSONObject = {
        "apiVersion": "v1",
        "kind": parent.kind,
        "metadata": {
            "name": parent.name,
            "namespace": parent.namespace,
            "labels": {APPLYSET_ID: parent.id, MANAGED_BY: MANAGED_BY_VALUE},
            "annotations": annotations,
        },
        "data": {DATA_KEY: data},
    }
    if parent.kind == "Secret":
        obj["type"] = "Opaque"
    return obj


def decode(obj: Mapping[str, Any]) -> Inventory:
    """Read an inventory from its live parent object.

    Checks what kubectl checks before it touches an ApplySet: the id label
    matches the parent's name, namespace and kind, and the tooling is ours.

    Raises:
        InventoryError: not a ConfigMap/Secret parent, a wrong id, another
            tool's ApplySet, or a malformed member list; the error names the
            parent and the label, annotation or key.

    Example:

        >>> inv = Inventory(ApplySetParent("Secret", "inv", "d"))
        >>> decode(encode(inv)).members
        frozenset()
    """
    ref = ObjectRef.from_object(obj)
    if ref.group != "" or ref.kind not in ("ConfigMap", "Secret"):
        raise InventoryError("an inventory parent is a ConfigMap or a Secret", ref=ref)
    if ref.namespace is None:
        raise InventoryError("the inventory parent has no namespace", ref=ref)
    parent = ApplySetParent(ref.kind, ref.name, ref.namespace)  # type: ignore[arg-type]
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    if labels.get(APPLYSET_ID) != parent.id:
        raise InventoryError(
            f"the ApplySet id label is {labels.get(APPLYSET_ID)!r}, expected {parent.id!r}",
            ref=ref,
            path=f"metadata.labels.{APPLYSET_ID}",
        )
    tooling = annotations.get(APPLYSET_TOOLING)
    if not isinstance(tooling, str) or tooling.rpartition("/")[0] != TOOL:
        raise InventoryError(
            f"the ApplySet is managed by {tooling!r}, not by {TOOL}; refusing to take it over",
            ref=ref,
            path=f"metadata.annotations.{APPLYSET_TOOLING}",
        )
    raw = (obj.get("data") or {}).get(DATA_KEY)
    if raw is None and ref.kind == "Secret":
        raw_text = (obj.get("stringData") or {}).get(DATA_KEY)
    elif raw is not None and ref.kind == "Secret":
        try:
            raw_text = base64.b64decode(raw, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise InventoryError("not base64 text", ref=ref, path=f"data.{DATA_KEY}") from exc
    else:
        raw_text = raw
    if raw_text is None:
        raise InventoryError("the member list is missing", ref=ref, path=f"data.{DATA_KEY}")
    members = decode_members(raw_text, parent=ref)
    depends = annotations.get(DEPENDS_ON)
    return Inventory(
        parent,
        members,
        reconciler=annotations.get(RECONCILER),
        depends_on=tuple(d for d in depends.split(",") if d) if depends else (),
    )


def to_write_before_apply(
    old: Iterable[ObjectRef], new: Iterable[ObjectRef]
) -> frozenset[ObjectRef]:
    """What to store before applying begins: ``old | new``.

    Where an object is in both, the API version of ``new`` wins (it is the one
    the next apply uses).

    >>> old = [ObjectRef("apps/v1beta2", "Deployment", "web", "a"),
    ...        ObjectRef("v1", "Service", "x", "a")]
    >>> new = [ObjectRef("apps/v1", "Deployment", "web", "a")]
    >>> sorted(r.api_version for r in to_write_before_apply(old, new))
    ['apps/v1', 'v1']
    """
    merged = {r: r for r in old}
    merged.update({r: r for r in new})
    return frozenset(merged.values())


def after_prune(
    current: Iterable[ObjectRef],
    pruned_ok: Iterable[ObjectRef],
    failed: Iterable[ObjectRef] = (),
) -> frozenset[ObjectRef]:
    """What to store after pruning: ``current`` less the objects whose deletion succeeded.

    ``pruned_ok`` counts an object already gone (404) as deleted. Objects in
    ``failed`` stay, so the next pass tries again; so does every object the
    prune never reached. An object protected by ``reconcile.dev/prune: disabled``
    is released, not deleted: pass it in ``pruned_ok`` too. An object in both
    ``pruned_ok`` and ``failed`` is a caller's bug.

    Raises:
        ConfigurationError: an object is both pruned and failed.

    >>> a, b, c = (ObjectRef("v1", "ConfigMap", n, "x") for n in "abc")
    >>> sorted(r.name for r in after_prune([a, b, c], pruned_ok=[a], failed=[b]))
    ['b', 'c']
    """
    ok = set(pruned_ok)
    bad = set(failed)
    both = ok & bad
    if both:
        raise ConfigurationError(
            "reported both pruned and failed: " + ", ".join(sorted(str(r) for r in both))
        )
    return frozenset(r for r in current if r not in ok)


class ObjectClient(Protocol):
    """The smallest client the inventory store needs: one object at a time.

    The Applier (or a thin adapter over kubernetes-asyncio) implements it.

    Example:

        >>> import anyio
        >>> class Objects:  # an ObjectClient over a dict
        ...     def __init__(self):
        ...         self.objects = {}
        ...     async def get(self, ref):
        ...         return self.objects.get(ref)
        ...     async def apply(self, obj):
        ...         self.objects[ObjectRef.from_object(obj)] = obj
        ...         return obj
        ...     async def delete(self, ref):
        ...         self.objects.pop(ref, None)
        >>> client: ObjectClient = Objects()
        >>> anyio.run(client.get, ObjectRef("v1", "ConfigMap", "missing", "d")) is None
        True
    """

    async def get(self, ref: ObjectRef) -> JSONObject | None:
        """The live object, or ``None`` when it does not exist."""
        ...

    async def apply(self, obj: JSONObject) -> JSONObject:
        """Create or update ``obj`` (server-side apply); return the live result."""
        ...

    async def delete(self, ref: ObjectRef) -> None:
        """Delete the object; a missing object is not an error."""
        ...


class InventoryStore:
    """Keeps one reconciler's inventory in its ApplySet parent.

    Use it around a sync, following the crash-safe protocol::

        store = InventoryStore(client, ApplySetParent("ConfigMap", "web-inventory", "shop"))
        old = await store.load()                      # empty when there is no parent yet
        await store.begin(new_refs)                   # stores old | new
        ...                                           # apply, then prune old - new
        await store.finish(pruned_ok, failed)         # stores what is left

    Each write is a complete object applied at once, so a crash leaves either
    the previous or the next inventory, never a mix.

    Example:

        >>> import anyio
        >>> class Objects:  # an ObjectClient over a dict
        ...     def __init__(self):
        ...         self.objects = {}
        ...     async def get(self, ref):
        ...         return self.objects.get(ref)
        ...     async def apply(self, obj):
        ...         self.objects[ObjectRef.from_object(obj)] = obj
        ...         return obj
        ...     async def delete(self, ref):
        ...         self.objects.pop(ref, None)
        >>> a, b = ObjectRef("v1", "ConfigMap", "a", "d"), ObjectRef("v1", "ConfigMap", "b", "d")
        >>> store = InventoryStore(Objects(), ApplySetParent("ConfigMap", "inv", "d"))
        >>> async def two_passes():
        ...     await store.begin({a, b})      # first pass: a and b
        ...     await store.finish(pruned_ok=())
        ...     during = await store.begin({a})  # second pass: b left Git
        ...     after = await store.finish(pruned_ok={b})
        ...     return sorted(r.name for r in during.members), sorted(r.name for r in after.members)
        >>> anyio.run(two_passes)
        (['a', 'b'], ['a'])
    """

    def __init__(
        self,
        client: ObjectClient,
        parent: ApplySetParent,
        *,
        reconciler: str | None = None,
        depends_on: Iterable[str] = (),
    ) -> None:
        self.client = client
        self.parent = parent
        self.reconciler = reconciler
        self.depends_on: tuple[str, ...] = tuple(depends_on)
        self._current: frozenset[ObjectRef] | None = None

    async def load(self) -> Inventory:
        """Read the stored inventory; an absent parent is an empty inventory.

        Raises:
            InventoryError: the parent exists but is not a valid inventory of ours.
        """
        live = await self.client.get(self.parent.ref)
        if live is None:
            inventory = Inventory(self.parent, reconciler=self.reconciler)
        else:
            inventory = decode(live)
            if inventory.parent != self.parent:
                raise InventoryError(
                    f"the server returned {inventory.parent}, not {self.parent}",
                    ref=self.parent.ref,
                )
        self._current = inventory.members
        return inventory

    async def save(self, members: Iterable[ObjectRef]) -> Inventory:
        """Store exactly ``members``; return what was stored."""
        inventory = Inventory(
            self.parent, frozenset(members), reconciler=self.reconciler, depends_on=self.depends_on
        )
        await self.client.apply(encode(inventory))
        self._current = inventory.members
        return inventory

    async def _members(self) -> frozenset[ObjectRef]:
        if self._current is None:
            await self.load()
        assert self._current is not None
        return self._current

    async def begin(self, new: Iterable[ObjectRef]) -> Inventory:
        """Before applying: store ``old | new`` (:func:`to_write_before_apply`)."""
        return await self.save(to_write_before_apply(await self._members(), new))

    async def finish(
        self, pruned_ok: Iterable[ObjectRef], failed: Iterable[ObjectRef] = ()
    ) -> Inventory:
        """After pruning: store :func:`after_prune` of the current inventory."""
        return await self.save(after_prune(await self._members(), pruned_ok, failed))

    async def delete(self) -> None:
        """Delete the parent (when the reconciler itself is removed)."""
        await self.client.delete(self.parent.ref)
        self._current = frozenset()
