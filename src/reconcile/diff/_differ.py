"""The Differ protocol and its default implementation."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, Protocol, runtime_checkable

import attrs
import orjson

from reconcile.diff._objectdiff import FieldChange, Mode, ObjectDiff, field_changes
from reconcile.errors import DiffError, MergeError
from reconcile.merge import (
    IgnoreRule,
    apply_fieldset,
    apply_ignore_rules,
    create_apply_patch,
    merge_patch,
    normalize,
    predict_apply,
    strategic_merge_patch,
)
from reconcile.merge._fieldsets import KEY_DEFAULTS, _go_json
from reconcile.merge._ssa import (
    _canonicalise,
    _fold_string_data,
    _granular_dict,
    _granular_list,
    _item_pe,
    _strip_config,
    stored_form,
)
from reconcile.objects import ObjectRef
from reconcile.schema import ANY, Node, SchemaRegistry, builtin

__all__ = [
    "APPLY_CONTENT_TYPE",
    "LAST_APPLIED",
    "DefaultDiffer",
    "Differ",
    "DifferStatistics",
]

#: The annotation client-side apply keeps the last applied configuration in.
LAST_APPLIED: Final = "kubectl.kubernetes.io/last-applied-configuration"
#: The ``Content-Type`` of a server-side apply.
APPLY_CONTENT_TYPE: Final = "application/apply-patch+yaml"

_CACHE_SIZE: Final = 8192
_MEMO_SIZE: Final = 1 << 16


@runtime_checkable
class Differ(Protocol):
    """Decides drift for objects: one of the four plug points of ``reconcile``.

    ``desired`` None is a prune, ``live`` None a create; both None is an error.

    Example:

        >>> from reconcile.diff import DefaultDiffer
        >>> isinstance(DefaultDiffer(), Differ)
        True
    """

    def diff(self, desired: Mapping[str, Any] | None, live: Mapping[str, Any] | None) -> ObjectDiff:
        """The verdict on one object."""
        ...

    def diff_many(
        self, pairs: Iterable[tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]]
    ) -> list[ObjectDiff]:
        """The verdicts on many objects, in order."""
        ...


@attrs.define(slots=True)
class DifferStatistics:
    """Counters of a :class:`DefaultDiffer` (see :meth:`DefaultDiffer.statistics`).

    Attributes:
        objects: objects diffed.
        remembered: in-sync verdicts answered from memory (same desired object,
            same live ``uid`` and ``resourceVersion``).
        fast_in_sync: in-sync verdicts proven on the fast path (no prediction).
        predicted: full server-side apply predictions.
        client_side: client-side (three-way patch) diffs.

    Example:

        >>> from reconcile.diff import DefaultDiffer
        >>> differ = DefaultDiffer()
        >>> cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
        >>> _ = differ.diff(cm, None)
        >>> isinstance(differ.statistics(), DifferStatistics)
        True
    """

    objects: int = 0
    remembered: int = 0
    fast_in_sync: int = 0
    predicted: int = 0
    client_side: int = 0


def _ref(obj: Mapping[str, Any]) -> ObjectRef:
    meta = obj.get("metadata") or {}
    api_version, kind, name = obj.get("apiVersion"), obj.get("kind"), meta.get("name")
    if not isinstance(api_version, str) or not isinstance(kind, str) or not isinstance(name, str):
        raise DiffError("an object needs apiVersion, kind and metadata.name", path="metadata")
    ns = meta.get("namespace")
    return ObjectRef(api_version, kind, name, ns if isinstance(ns, str) and ns else None)


def _as_dict(obj: Mapping[str, Any]) -> dict[str, Any]:
    return obj if type(obj) is dict else dict(obj)


def _zero(v: Any) -> bool:
    return v is None or v is False or v == 0 or v == "" or v == {} or v == []


def _list_keyer(node: Node) -> Callable[[Any], Any]:
    """A cheap identity for list items: the key fields' values (list-maps) or the value (sets)."""
    if node.list_type == "map":
        keys = node.list_map_keys
        if len(keys) == 1:
            (key,) = keys
            default = KEY_DEFAULTS.get(key)
            return lambda item: (
                item.get(key, default) if isinstance(item, dict) else _Unhashable(item)
            )
        return lambda item: (
            tuple(item.get(k, KEY_DEFAULTS.get(k)) for k in keys)
            if isinstance(item, dict)
            else _Unhashable(item)
        )
    return lambda item: item if isinstance(item, str | int | float | bool) else _Unhashable(item)


class _Unhashable:
    """Stands for an item that cannot be a key: equal to nothing, so the slow path decides."""

    __slots__ = ("item",)

    def __init__(self, item: Any) -> None:
        self.item = item

    def __hash__(self) -> int:
        return id(self)


def _contains(
    c: Any,
    l: Any,  # noqa: E741
    node: Node,
    fs: Mapping[str, Any],
    others: list[Mapping[str, Any]],
) -> bool:
    """Whether applying ``c`` onto ``l`` changes nothing (conservative: False when unsure).

    ``fs`` is the applying manager's field set at this node, ``others`` the
    other managers' sets that reach it.
    """
    if isinstance(c, dict) and isinstance(l, dict) and _granular_dict(node):
        for k, cv in c.items():
            lv = l.get(k, _contains)
            if lv is _contains:
                if _zero(cv) and ("f:" + k) in fs:
                    continue  # an omitempty zero the server dropped before
                if cv == []:
                    meta = node.field(k)
                    if meta is not None and _granular_list(meta.node):
                        continue  # sets no field; the server omits it
                return False
            if cv == lv:
                continue
            meta = node.field(k)
            if meta is None:
                return False
            pe = "f:" + k
            sub = [o[pe] for o in others if pe in o] if others else others
            if not _contains(cv, lv, meta.node, fs.get(pe) or {}, sub):
                return False
        return True
    if isinstance(c, list) and isinstance(l, list) and _granular_list(node):
        items = node.items or ANY
        keyof = _list_keyer(node)
        index: dict[Any, int] = {}
        for i, item in enumerate(l):
            index.setdefault(keyof(item), i)
        last = -1
        for item in c:
            i = index.get(keyof(item), -1)
            if i <= last:
                return False  # missing, or the order would change
            last = i
            lv = l[i]
            if item == lv:
                continue
            pe = _item_pe(node, item, "")
            sub = [o[pe] for o in others if pe in o] if others else others
            if not _contains(item, lv, items, fs.get(pe) or {}, sub):
                return False
        return True
    # A leaf (a scalar, an atomic list or map) that differs as written: no change
    # when the server stores it as live has it ("1000m" as "1", defaults inside
    # atomic structs), unless another manager owns it: then the server compares
    # the values as written, and finds a conflict.
    if others:
        return False
    return bool(_canonicalise(c, node) == l)


class DefaultDiffer:
    """The default :class:`Differ`: predicts the API server locally.

    Server-side mode (the default) predicts a server-side apply by ``manager``
    (:func:`~reconcile.merge.predict_apply`); client-side mode computes the
    patch ``kubectl apply`` would send from the last-applied annotation
    (:func:`~reconcile.merge.create_apply_patch`). Ignore rules
    (:class:`~reconcile.merge.IgnoreRule`) make ignored fields keep their live
    values in what is sent.

    Proving "in sync" is the hot path: when the manager's recorded field set
    equals the field set of the desired object and every desired value is
    already live, the verdict costs one walk over the desired object.

    Args:
        manager: the field manager (server-side) the applies are made as.
        mode: ``"server-side"`` or ``"client-side"``.
        force: predict ``force=true`` applies (take over conflicting fields).
        ignore: ignore rules.
        registry: schemas (built-in kinds when omitted; add CRDs to it).
        remember: remember in-sync verdicts by (desired object, live ``uid`` and
            ``resourceVersion``): the next pass over an unchanged pair costs a
            hash, and returns the remembered :class:`ObjectDiff` (whose
            ``desired`` and ``live`` are the equal objects of the first pass).
            Live objects must not be modified in place while remembered.

    Example:

        >>> from reconcile.diff import DefaultDiffer
        >>> differ = DefaultDiffer(manager="gitops")
        >>> desired = {"apiVersion": "v1", "kind": "ConfigMap",
        ...            "metadata": {"name": "c", "namespace": "d"}, "data": {"a": "1"}}
        >>> created = differ.diff(desired, None)
        >>> created.action, created.body == desired
        ('create', True)
        >>> live = created.predicted
        >>> differ.diff(desired, live).in_sync
        True
        >>> drifted = differ.diff({**desired, "data": {"a": "2"}}, live)
        >>> drifted.action, drifted.changes
        ('update', (FieldChange(path='.data.a', before='1', after='2', manager='gitops'),))
        >>> differ.diff(None, live).action
        'prune'
    """

    def __init__(
        self,
        *,
        manager: str = "reconcile",
        mode: Mode = "server-side",
        force: bool = False,
        ignore: Sequence[IgnoreRule] = (),
        registry: SchemaRegistry | None = None,
        remember: bool = True,
    ) -> None:
        if mode not in ("server-side", "client-side"):
            raise DiffError(f"unknown diff mode {mode!r}")
        self.manager = manager
        self.mode: Mode = mode
        self.force = force
        self.ignore: tuple[IgnoreRule, ...] = tuple(ignore)
        self.registry: SchemaRegistry = registry if registry is not None else builtin()
        self._sets: dict[bytes, Any] = {}
        self._memo: dict[tuple[bytes, str, str, str, bool], ObjectDiff] | None = (
            {} if remember else None
        )
        self._stats = DifferStatistics()

    def statistics(self) -> DifferStatistics:
        """Counters since construction."""
        return attrs.evolve(self._stats)

    def _schema(self, obj: Mapping[str, Any]) -> Node:
        node = self.registry.for_kind(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
        return node if node is not None else ANY

    # -- the hot path -----------------------------------------------------------

    def _applied_set(self, desired: Mapping[str, Any], node: Node) -> Any:
        try:
            key = orjson.dumps(desired)
        except TypeError:
            return apply_fieldset(desired, node).raw
        raw = self._sets.get(key)
        if raw is None:
            if len(self._sets) >= _CACHE_SIZE:
                self._sets.clear()
            raw = self._sets[key] = apply_fieldset(desired, node).raw
        return raw

    def _fast_in_sync(
        self, desired: Mapping[str, Any], live: Mapping[str, Any], node: Node
    ) -> bool:
        entries = (live.get("metadata") or {}).get("managedFields")
        if not entries:
            return False
        mine = None
        for e in entries:
            if (
                e.get("manager") == self.manager
                and e.get("operation") == "Apply"
                and not e.get("subresource")
            ):
                mine = e
                break
        if mine is None:
            return False
        fs = mine.get("fieldsV1")
        if self._applied_set(desired, node) != fs:
            return False
        cfg = _strip_config(desired)
        others = [e.get("fieldsV1") or {} for e in entries if e is not mine]
        if "stringData" in cfg:
            # The server merges stringData as applied (live never has it): any
            # other owner of it would see it added, and conflict.
            if any("f:stringData" in o for o in others):
                return False
            cfg = _fold_string_data(cfg)
        cfg.pop("apiVersion", None)
        cfg.pop("kind", None)
        return _contains(cfg, live, node, fs, others)

    # -- diffs --------------------------------------------------------------------

    def diff(
        self,
        desired: Mapping[str, Any] | None,
        live: Mapping[str, Any] | None,
        *,
        mode: Mode | None = None,
        force: bool | None = None,
    ) -> ObjectDiff:
        """The verdict on one object (``mode`` and ``force`` override the differ's).

        Raises:
            DiffError: both objects are None, or an object has no identity; or
                the object does not fit its schema (the cause is chained).
        """
        self._stats.objects += 1
        mode = mode or self.mode
        force = self.force if force is None else force
        if desired is None:
            if live is None:
                raise DiffError("nothing to diff: no desired and no live object")
            ref = _ref(live)
            return ObjectDiff(
                ref,
                "prune",
                mode,
                None,
                dict(live),
                changes=field_changes(normalize(live, registry=self.registry), None, live=live),
            )
        memo = self._memo
        memo_key = self._memo_key(desired, live, mode, force) if memo is not None else None
        if memo_key is not None:
            assert memo is not None
            hit = memo.get(memo_key)
            if hit is not None:
                self._stats.remembered += 1
                return hit
        ref = _ref(desired)
        node = self._schema(desired)
        try:
            if self.ignore:
                desired = apply_ignore_rules(
                    desired, live, self.ignore, manager=self.manager, schema=node
                )
            if mode == "client-side":
                verdict = self._client_side(ref, desired, live, node)
            else:
                verdict = self._server_side(ref, desired, live, node, force)
        except MergeError as exc:
            raise DiffError(exc.message, ref=ref, path=exc.path) from exc
        if memo_key is not None and verdict.in_sync:
            assert memo is not None
            if len(memo) >= _MEMO_SIZE:
                memo.clear()
            memo[memo_key] = verdict
        return verdict

    def _memo_key(
        self, desired: Mapping[str, Any], live: Mapping[str, Any] | None, mode: str, force: bool
    ) -> tuple[bytes, str, str, str, bool] | None:
        """(digest of desired, live uid, live resourceVersion, mode, force), when all known.

        The API server guarantees one object state per (uid, resourceVersion):
        an in-sync verdict for the same desired object holds as long as they stay.
        """
        if live is None:
            return None
        meta = live.get("metadata") or {}
        uid, rv = meta.get("uid"), meta.get("resourceVersion")
        if not uid or not rv:
            return None
        try:
            blob = orjson.dumps(desired)
        except TypeError:
            return None
        digest = hashlib.blake2b(blob, digest_size=16).digest()
        return digest, str(uid), str(rv), mode, force

    def _server_side(
        self,
        ref: ObjectRef,
        desired: Mapping[str, Any],
        live: Mapping[str, Any] | None,
        node: Node,
        force: bool,
    ) -> ObjectDiff:
        if live is not None and self._fast_in_sync(desired, live, node):
            self._stats.fast_in_sync += 1
            return ObjectDiff(ref, "none", "server-side", _as_dict(desired), _as_dict(live))
        self._stats.predicted += 1
        pred = predict_apply(live, desired, self.manager, force=force, schema=node)
        body = dict(desired)
        if live is None:
            assert pred.object is not None
            return ObjectDiff(
                ref,
                "create",
                "server-side",
                body,
                None,
                pred.object,
                body,
                APPLY_CONTENT_TYPE,
                field_changes(None, normalize(pred.object, schema=node)),
                ownership_changed=True,
            )
        if pred.in_sync:
            return ObjectDiff(ref, "none", "server-side", body, dict(live), pred.object)
        changes: tuple[FieldChange, ...] = ()
        if pred.object is not None:
            changes = field_changes(
                normalize(live, schema=node), normalize(pred.object, schema=node), live=live
            )
        return ObjectDiff(
            ref,
            "update",
            "server-side",
            body,
            dict(live),
            pred.object,
            body,
            APPLY_CONTENT_TYPE,
            changes,
            pred.conflicts,
            pred.ownership_changed,
        )

    def _client_side(
        self,
        ref: ObjectRef,
        desired: Mapping[str, Any],
        live: Mapping[str, Any] | None,
        node: Node,
    ) -> ObjectDiff:
        self._stats.client_side += 1
        modified = _with_last_applied(desired)
        if live is None:
            return ObjectDiff(
                ref,
                "create",
                "client-side",
                dict(desired),
                None,
                stored_form(modified, node),
                modified,
                "application/json",
                field_changes(None, normalize(modified, schema=node)),
            )
        original = None
        text = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
        if text:
            try:
                original = json.loads(text)
            except ValueError as exc:
                raise DiffError(
                    f"the {LAST_APPLIED} annotation is not JSON",
                    ref=ref,
                    path=f".metadata.annotations.{LAST_APPLIED}",
                ) from exc
        patch = create_apply_patch(original, modified, dict(live), registry=self.registry)
        if patch.in_sync:
            return ObjectDiff(ref, "none", "client-side", dict(desired), dict(live), dict(live))
        if patch.type == "strategic":
            predicted = strategic_merge_patch(dict(live), patch.patch, node)
        else:
            predicted = merge_patch(dict(live), patch.patch)
        predicted = stored_form(predicted, node)
        return ObjectDiff(
            ref,
            "update",
            "client-side",
            dict(desired),
            dict(live),
            predicted,
            patch.patch,
            patch.content_type,
            field_changes(
                normalize(live, schema=node), normalize(predicted, schema=node), live=live
            ),
        )

    def diff_many(
        self,
        pairs: Iterable[tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]],
    ) -> list[ObjectDiff]:
        """The verdicts on many (desired, live) pairs, in order."""
        return [self.diff(d, lv) for d, lv in pairs]


def _with_last_applied(desired: Mapping[str, Any]) -> dict[str, Any]:
    """``desired`` carrying itself in the last-applied annotation, as kubectl writes it."""
    meta = dict(desired.get("metadata") or {})
    annotations = dict(meta.get("annotations") or {})
    annotations.pop(LAST_APPLIED, None)
    bare = dict(desired)
    bare_meta = dict(meta)
    if annotations:
        bare_meta["annotations"] = annotations
    else:
        bare_meta.pop("annotations", None)
    bare["metadata"] = bare_meta
    annotations[LAST_APPLIED] = _go_json(bare) + "\n"
    meta["annotations"] = annotations
    out = dict(desired)
    out["metadata"] = meta
    return out
