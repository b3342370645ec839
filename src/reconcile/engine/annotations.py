"""Every annotation and label the engine reads or writes, in one place.

The project uses one prefix, ``reconcile.dev/``, for its own keys. The inventory
parent also carries the keys of the kubectl ApplySet specification (KEP-3659,
``applyset.kubernetes.io/...``) so that ``kubectl`` users can see what a
reconciler owns. ``docs/annotations.md`` documents each key for users.

Values are parsed by small functions here; a value that does not parse raises
:class:`~reconcile.errors.ManifestValidationError` naming the object, its
origin and the annotation (as the JSON path ``metadata.annotations.<key>``).

Read from desired manifests (set by users):

=====================================  ==========================================
key                                    values
=====================================  ==========================================
``reconcile.dev/sync-wave``            an integer, default ``0``
``reconcile.dev/hook``                 ``pre-sync``, ``post-sync``, ``on-failure``
                                       (comma-separated for several)
``reconcile.dev/hook-delete-policy``   ``before-hook-creation`` (default),
                                       ``hook-succeeded``, ``hook-failed``
``reconcile.dev/policy``               ``override`` (default), ``merge``,
                                       ``create-only``, ``ignore``
``reconcile.dev/substitute``           ``disabled`` turns off ``${VAR}`` substitution
=====================================  ==========================================

Read from live objects: ``reconcile.dev/prune: disabled`` (never prune it).

Written on the inventory parent: the ApplySet labels and annotations,
``app.kubernetes.io/managed-by``, ``reconcile.dev/reconciler`` and
``reconcile.dev/depends-on``. Written on every member: the ApplySet
``applyset.kubernetes.io/part-of`` label.

Example:

    >>> from reconcile.engine.annotations import SYNC_WAVE, sync_wave
    >>> from reconcile.objects import Manifest
    >>> m = Manifest({"apiVersion": "v1", "kind": "ConfigMap",
    ...               "metadata": {"name": "a", "annotations": {SYNC_WAVE: "-2"}}})
    >>> sync_wave(m)
    -2
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from typing import Any, TypeVar

from reconcile.errors import ManifestValidationError
from reconcile.objects import Manifest, ObjectRef, Origin

__all__ = [
    "APPLYSET_ADDITIONAL_NAMESPACES",
    "APPLYSET_CONTAINS_GROUP_KINDS",
    "APPLYSET_ID",
    "APPLYSET_PART_OF",
    "APPLYSET_TOOLING",
    "DEPENDS_ON",
    "HOOK",
    "HOOK_DELETE_POLICY",
    "MANAGED_BY",
    "MANAGED_BY_VALUE",
    "POLICY",
    "PREFIX",
    "PRUNE",
    "RECONCILER",
    "SUBSTITUTE",
    "SYNC_WAVE",
    "DISABLED",
    "HookDeletePolicy",
    "HookPhase",
    "ObjectPolicy",
    "annotation",
    "hook_delete_policies",
    "hook_phases",
    "object_policy",
    "prune_disabled",
    "substitution_disabled",
    "sync_wave",
]

#: The project's own prefix for annotations and labels.
PREFIX = "reconcile.dev/"

#: The value that turns a feature off (``prune``, ``substitute``).
DISABLED = "disabled"

#: Annotation (desired): an integer wave inside a planner stage; lower waves are
#: applied (and become healthy) first. Default ``0``; negative values allowed.
SYNC_WAVE = PREFIX + "sync-wave"

#: Annotation (desired): makes the object a hook instead of a member of the set:
#: ``pre-sync`` (runs before the apply), ``post-sync`` (after every object is
#: Current) or ``on-failure`` (after a failed sync). Comma-separated for several.
#: Hooks are usually Jobs; they are not recorded in the inventory.
HOOK = PREFIX + "hook"

#: Annotation (desired, hooks only): when to delete a hook object —
#: ``before-hook-creation`` (the default: delete the previous run before creating
#: it again), ``hook-succeeded``, ``hook-failed``. Comma-separated for several.
HOOK_DELETE_POLICY = PREFIX + "hook-delete-policy"

#: Annotation (live object): ``disabled`` protects the object from pruning, even
#: when it has left the desired set; the engine then forgets it from the inventory.
PRUNE = PREFIX + "prune"

#: Annotation (desired): how the engine treats the object — see :class:`ObjectPolicy`.
POLICY = PREFIX + "policy"

#: Annotation (desired): ``disabled`` turns off post-render ``${VAR}`` substitution
#: for this object (read by the renderers' substitution step).
SUBSTITUTE = PREFIX + "substitute"

#: Annotation (written on the inventory parent): the reconcilers this one depends
#: on, comma-separated ``namespace/name`` of their inventory parents; the engine
#: orders reconcilers by it (:func:`reconcile.engine.planner.order_reconcilers`).
DEPENDS_ON = PREFIX + "depends-on"

#: Annotation (written on the inventory parent): the name of the reconciler owning it.
RECONCILER = PREFIX + "reconciler"

#: Label (written on the inventory parent): the recommended Kubernetes label.
MANAGED_BY = "app.kubernetes.io/managed-by"
#: The value of :data:`MANAGED_BY` on the inventory parent.
MANAGED_BY_VALUE = "reconcile"

#: Label (ApplySet parent): the ApplySet id, ``applyset-<base64url(sha256)>-v1``.
APPLYSET_ID = "applyset.kubernetes.io/id"
#: Label (ApplySet member): the id of the ApplySet the object belongs to.
APPLYSET_PART_OF = "applyset.kubernetes.io/part-of"
#: Annotation (ApplySet parent): ``<tool>/<version>`` of the tool managing the set.
APPLYSET_TOOLING = "applyset.kubernetes.io/tooling"
#: Annotation (ApplySet parent): sorted, comma-separated ``Kind.group`` of the members.
APPLYSET_CONTAINS_GROUP_KINDS = "applyset.kubernetes.io/contains-group-kinds"
#: Annotation (ApplySet parent): sorted, comma-separated namespaces of members
#: other than the parent's own.
APPLYSET_ADDITIONAL_NAMESPACES = "applyset.kubernetes.io/additional-namespaces"


class HookPhase(enum.Enum):
    """When a hook runs (the values of :data:`HOOK`).

    Example:

        >>> HookPhase("pre-sync")
        <HookPhase.PRE_SYNC: 'pre-sync'>
    """

    PRE_SYNC = "pre-sync"
    POST_SYNC = "post-sync"
    ON_FAILURE = "on-failure"


class HookDeletePolicy(enum.Enum):
    """When a hook object is deleted (the values of :data:`HOOK_DELETE_POLICY`).

    Example:

        >>> HookDeletePolicy("hook-succeeded")
        <HookDeletePolicy.HOOK_SUCCEEDED: 'hook-succeeded'>
    """

    BEFORE_HOOK_CREATION = "before-hook-creation"
    HOOK_SUCCEEDED = "hook-succeeded"
    HOOK_FAILED = "hook-failed"


class ObjectPolicy(enum.Enum):
    """How the engine treats one object (the values of :data:`POLICY`).

    ``OVERRIDE``: apply the desired state and take over conflicting fields (default).
    ``MERGE``: apply without forcing; fields other managers own are left to them.
    ``CREATE_ONLY``: create the object when missing, never update it afterwards.
    ``IGNORE``: neither apply nor prune nor report drift; the object is only listed.

    Example:

        >>> ObjectPolicy("create-only")
        <ObjectPolicy.CREATE_ONLY: 'create-only'>
    """

    OVERRIDE = "override"
    MERGE = "merge"
    CREATE_ONLY = "create-only"
    IGNORE = "ignore"


_E = TypeVar("_E", bound=enum.Enum)

_INT = re.compile(r"[+-]?[0-9]{1,9}")


def _annotations(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    if not (isinstance(meta, (dict, Mapping))):
        return {}
    ann = meta.get("annotations")
    return ann if isinstance(ann, (dict, Mapping)) else {}


def _invalid(
    key: str, message: str, ref: ObjectRef, origin: Origin | None
) -> ManifestValidationError:
    return ManifestValidationError(
        f"annotation {key}: {message}", origin=origin, ref=ref, path=f"metadata.annotations.{key}"
    )


def annotation(manifest: Manifest | Mapping[str, Any], key: str) -> str | None:
    """The value of annotation ``key``, or ``None`` when absent.

    Annotation values are strings in Kubernetes; any other type (an unquoted
    ``1`` in YAML) raises :class:`~reconcile.errors.ManifestValidationError`.

    >>> annotation({"metadata": {"annotations": {"a": "b"}}}, "a")
    'b'
    >>> annotation({"kind": "ConfigMap", "metadata": {"name": "x", "annotations": {"a": 1}}}, "a")
    Traceback (most recent call last):
    ...
    reconcile.errors.ManifestValidationError: ConfigMap x, field metadata.annotations.a: \
annotation a: must be a string (quote it in YAML), got int 1
    """
    obj, origin = (
        (manifest.obj, manifest.origin) if isinstance(manifest, Manifest) else (manifest, None)
    )
    value = _annotations(obj).get(key)
    if value is None or isinstance(value, str):
        return value
    raise _invalid(
        key,
        f"must be a string (quote it in YAML), got {type(value).__name__} {value!r}",
        ObjectRef.from_object(obj),
        origin,
    )


def _context(manifest: Manifest | Mapping[str, Any]) -> tuple[ObjectRef, Origin | None]:
    if isinstance(manifest, Manifest):
        return manifest.ref, manifest.origin
    return ObjectRef.from_object(manifest), None


def sync_wave(manifest: Manifest | Mapping[str, Any]) -> int:
    """The object's wave (:data:`SYNC_WAVE`), ``0`` when absent.

    >>> sync_wave({"metadata": {}})
    0
    """
    value = annotation(manifest, SYNC_WAVE)
    if value is None:
        return 0
    text = value.strip()
    if not _INT.fullmatch(text):
        raise _invalid(SYNC_WAVE, f"must be an integer, got {value!r}", *_context(manifest))
    return int(text)


def _enum_list(manifest: Manifest | Mapping[str, Any], key: str, kind: type[_E]) -> tuple[_E, ...]:
    value = annotation(manifest, key)
    if value is None:
        return ()
    allowed = {member.value: member for member in kind}
    out: list[_E] = []
    for part in value.split(","):
        word = part.strip()
        if word not in allowed:
            raise _invalid(
                key,
                f"unknown value {word!r}; expected one of {', '.join(sorted(allowed))}",
                *_context(manifest),
            )
        if allowed[word] not in out:
            out.append(allowed[word])
    return tuple(out)


def hook_phases(manifest: Manifest | Mapping[str, Any]) -> tuple[HookPhase, ...]:
    """The hook phases of :data:`HOOK`; empty when the object is not a hook.

    >>> hook_phases({"metadata": {"annotations": {HOOK: "pre-sync, post-sync"}}})
    (<HookPhase.PRE_SYNC: 'pre-sync'>, <HookPhase.POST_SYNC: 'post-sync'>)
    """
    return _enum_list(manifest, HOOK, HookPhase)


def hook_delete_policies(manifest: Manifest | Mapping[str, Any]) -> frozenset[HookDeletePolicy]:
    """The delete policies of :data:`HOOK_DELETE_POLICY`; ``before-hook-creation`` by default.

    >>> sorted(p.value for p in hook_delete_policies({"metadata": {}}))
    ['before-hook-creation']
    """
    policies = _enum_list(manifest, HOOK_DELETE_POLICY, HookDeletePolicy)
    return frozenset(policies) if policies else frozenset({HookDeletePolicy.BEFORE_HOOK_CREATION})


def object_policy(manifest: Manifest | Mapping[str, Any]) -> ObjectPolicy:
    """The object's :class:`ObjectPolicy` (:data:`POLICY`), ``OVERRIDE`` by default.

    >>> object_policy({"metadata": {"annotations": {POLICY: "create-only"}}})
    <ObjectPolicy.CREATE_ONLY: 'create-only'>
    """
    policies = _enum_list(manifest, POLICY, ObjectPolicy)
    if len(policies) > 1:
        raise _invalid(POLICY, "takes exactly one value", *_context(manifest))
    return policies[0] if policies else ObjectPolicy.OVERRIDE


def _disabled(manifest: Manifest | Mapping[str, Any], key: str) -> bool:
    value = annotation(manifest, key)
    if value is None:
        return False
    if value.strip() == DISABLED:
        return True
    raise _invalid(key, f"the only value is {DISABLED!r}, got {value!r}", *_context(manifest))


def prune_disabled(live: Manifest | Mapping[str, Any]) -> bool:
    """Whether the live object opts out of pruning (``reconcile.dev/prune: disabled``).

    >>> prune_disabled({"metadata": {"annotations": {PRUNE: "disabled"}}})
    True
    """
    return _disabled(live, PRUNE)


def substitution_disabled(manifest: Manifest | Mapping[str, Any]) -> bool:
    """Whether ``${VAR}`` substitution is off for this object (``reconcile.dev/substitute``).

    >>> substitution_disabled({"metadata": {}})
    False
    """
    return _disabled(manifest, SUBSTITUTE)
