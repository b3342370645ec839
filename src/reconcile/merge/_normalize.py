"""Normalisation: what is not drift, and the user's ignore rules.

:func:`normalize` turns an object (desired, live or predicted) into the form in
which two objects that the API server treats as the same compare equal:

* ``status`` and server-set metadata (``resourceVersion``, ``uid``,
  ``generation``, ``managedFields``, ``creationTimestamp``, ``selfLink``) and
  annotations controllers and tools write for themselves
  (``deployment.kubernetes.io/revision``,
  ``deprecated.daemonset.template.generation``, kubectl's last-applied
  configuration) are dropped;
* quantities are canonical (``"1000m"`` -> ``"1"``, ``"1024Mi"`` -> ``"1Gi"``);
* int-or-string values that are decimal strings compare as numbers;
* empty values (``null``, ``{}``, ``[]``) are dropped: empty and absent are the same;
* a Secret's ``stringData`` is folded into ``data`` (base64);
* a port without ``protocol`` (containers, services, network policies) gets ``TCP``.

Values the server defaulted in fields the manager does not apply are handled by
the prediction (:func:`~reconcile.merge.predict_apply` keeps live's values
where the configuration is silent), not here.

:class:`IgnoreRule` selects objects by group, kind, namespace and name (``None``
matches all; ``*`` globs allowed) and ignores JSON pointers (RFC 6901, ``*``
matches any list item or key) and fields owned by given managers.
:func:`apply_ignore_rules` makes a desired object that leaves ignored fields as
they are live: ignored values are taken from live (or dropped where live has
none), so applying it neither changes nor releases them.

Example:

    >>> from reconcile.merge import IgnoreRule, normalize
    >>> pod = {"apiVersion": "v1", "kind": "Pod",
    ...        "metadata": {"name": "p", "resourceVersion": "7", "labels": {}},
    ...        "spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": "1000m"}},
    ...                                 "ports": [{"containerPort": 80}]}]},
    ...        "status": {"phase": "Running"}}
    >>> n = normalize(pod)
    >>> n["metadata"], "status" in n
    ({'name': 'p'}, False)
    >>> n["spec"]["containers"][0]["resources"], n["spec"]["containers"][0]["ports"]
    ({'limits': {'cpu': '1'}}, [{'containerPort': 80, 'protocol': 'TCP'}])
    >>> rule = IgnoreRule(kind="Deployment", pointers=("/spec/replicas",))
    >>> rule.matches({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}})
    True
"""

from __future__ import annotations

import base64
import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import attrs

from reconcile.errors import ConfigurationError, MergeError
from reconcile.merge._fieldsets import RawSet, raw_union
from reconcile.merge._quantity import canonical_quantity
from reconcile.merge._ssa import _item_pe, manager_key, schema_for
from reconcile.objects import split_api_version
from reconcile.schema import ANY, Node, SchemaRegistry

__all__ = [
    "SERVER_ANNOTATIONS",
    "SERVER_METADATA",
    "IgnoreRule",
    "apply_ignore_rules",
    "normalize",
]

#: Metadata the API server sets; never drift.
SERVER_METADATA: Final = (
    "resourceVersion",
    "uid",
    "generation",
    "managedFields",
    "creationTimestamp",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)
#: Annotations controllers and tools write for themselves; never drift.
SERVER_ANNOTATIONS: Final = (
    "deployment.kubernetes.io/revision",
    "deprecated.daemonset.template.generation",
    "kubectl.kubernetes.io/last-applied-configuration",
)
_PORT_TYPES: Final = frozenset(
    {"core.v1.ContainerPort", "core.v1.ServicePort", "networking.v1.NetworkPolicyPort"}
)


def _empty(v: Any) -> bool:
    return v is None or v == {} or v == []


def _norm(value: Any, node: Node) -> Any:
    if isinstance(value, dict):
        fields = node.kind in ("struct", "map", "any")
        if node.name in _PORT_TYPES and "protocol" not in value:
            value = {**value, "protocol": "TCP"}
        out: dict[str, Any] = {}
        for k, v in value.items():
            meta = node.field(k) if fields else None
            nv = _norm(v, meta.node if meta is not None else ANY)
            if not _empty(nv):
                out[k] = nv
        return out
    if isinstance(value, list):
        items = node.items if node.kind == "list" and node.items is not None else ANY
        return [_norm(v, items) for v in value]
    if node.kind == "scalar":
        if node.quantity and isinstance(value, str | int | float) and not isinstance(value, bool):
            try:
                return canonical_quantity(value)
            except MergeError:  # an invalid quantity stays as written
                return value
        if node.int_or_string and isinstance(value, str) and value.isdigit():
            return int(value)
    return value


def normalize(
    obj: Mapping[str, Any],
    *,
    schema: Node | None = None,
    registry: SchemaRegistry | None = None,
) -> dict[str, Any]:
    """A copy of ``obj`` in the form where "no difference" means "not drift".

    Example:

        >>> normalize({"apiVersion": "v1", "kind": "ConfigMap",
        ...            "metadata": {"name": "c", "uid": "1", "annotations": {}}, "data": {}})
        {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': {'name': 'c'}}
    """
    node = schema if schema is not None else schema_for(obj, registry)
    out = {k: v for k, v in obj.items() if k != "status"}
    meta = out.get("metadata")
    if isinstance(meta, dict):
        meta = {k: v for k, v in meta.items() if k not in SERVER_METADATA}
        annotations = meta.get("annotations")
        if isinstance(annotations, dict) and any(a in annotations for a in SERVER_ANNOTATIONS):
            meta["annotations"] = {
                k: v for k, v in annotations.items() if k not in SERVER_ANNOTATIONS
            }
        out["metadata"] = meta
    if out.get("kind") == "Secret" and out.get("apiVersion") == "v1" and "stringData" in out:
        data = dict(out.get("data") or {})
        for k, v in (out.pop("stringData") or {}).items():
            data[k] = base64.b64encode(str(v).encode()).decode()
        out["data"] = data
    result = _norm(out, node)
    assert isinstance(result, dict)
    return result


# -- ignore rules -----------------------------------------------------------------


def _parse_pointer(pointer: str) -> tuple[str, ...]:
    if pointer == "":
        return ()
    if not pointer.startswith("/"):
        raise ConfigurationError(f"not a JSON pointer: {pointer!r}")
    return tuple(p.replace("~1", "/").replace("~0", "~") for p in pointer[1:].split("/"))


def _strings(values: Iterable[str]) -> tuple[str, ...]:
    if isinstance(values, str):
        return (values,)
    return tuple(values)


@attrs.frozen(slots=True)
class IgnoreRule:
    """Differences to ignore on the objects a rule selects.

    Attributes:
        group: API group (``""`` for core, ``None`` for any).
        kind: kind, or None for any.
        namespace: namespace (glob), or None for any.
        name: name (glob), or None for any.
        pointers: JSON pointers (RFC 6901) of fields to ignore; ``*`` matches
            any key or list item.
        managers: field managers whose fields are ignored (an HPA's
            ``spec.replicas``, a mutating webhook's injected sidecar).

    Example:

        >>> rule = IgnoreRule(group="apps", kind="Deployment", pointers=("/spec/replicas",))
        >>> rule.matches({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w"}})
        True
        >>> rule.matches({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "w"}})
        False
    """

    group: str | None = None
    kind: str | None = None
    namespace: str | None = None
    name: str | None = None
    pointers: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    managers: tuple[str, ...] = attrs.field(default=(), converter=_strings)

    def __attrs_post_init__(self) -> None:
        for p in self.pointers:
            _parse_pointer(p)

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Whether this rule applies to ``obj``."""
        meta = obj.get("metadata") or {}
        if self.kind is not None and obj.get("kind") != self.kind:
            return False
        if self.group is not None:
            group, _ = split_api_version(str(obj.get("apiVersion", "")))
            if group != self.group:
                return False
        if self.namespace is not None and not fnmatch.fnmatchcase(
            str(meta.get("namespace", "")), self.namespace
        ):
            return False
        return self.name is None or fnmatch.fnmatchcase(str(meta.get("name", "")), self.name)


def _take(desired: Any, live: Any, parts: Sequence[str]) -> Any:
    """``desired`` with the value at ``parts`` replaced by live's (or removed)."""
    if not parts:
        return live
    head, rest = parts[0], parts[1:]
    if isinstance(desired, dict):
        keys = list(desired) if head == "*" else [head]
        out = dict(desired)
        for k in keys:
            if k not in desired:
                continue
            lv = live.get(k, _MISSING) if isinstance(live, dict) else _MISSING
            if lv is _MISSING and not rest:
                del out[k]
            else:
                out[k] = _take(desired[k], None if lv is _MISSING else lv, rest)
        return out
    if isinstance(desired, list):
        indexes = range(len(desired)) if head == "*" else [int(head)] if head.isdigit() else []
        out_list = list(desired)
        drop: list[int] = []
        for i in indexes:
            if i >= len(desired):
                continue
            lv = live[i] if isinstance(live, list) and i < len(live) else _MISSING
            if lv is _MISSING and not rest:
                drop.append(i)
            else:
                out_list[i] = _take(desired[i], None if lv is _MISSING else lv, rest)
        for i in reversed(drop):
            del out_list[i]
        return out_list
    return desired


_MISSING: Final = object()


def _take_owned(desired: Any, live: Any, owned: RawSet, node: Node) -> Any:
    """``desired`` with the members of ``owned`` taken from live."""
    if isinstance(desired, dict) and isinstance(live, dict):
        out = dict(desired)
        for k in desired:
            sub = owned.get("f:" + k)
            if sub is None:
                continue
            if not sub or "." in sub:
                if k in live:
                    out[k] = live[k]
                else:
                    del out[k]
                continue
            if k in live:
                meta = node.field(k)
                out[k] = _take_owned(desired[k], live[k], sub, meta.node if meta else ANY)
        return out
    if isinstance(desired, list) and isinstance(live, list) and node.kind == "list":
        if node.list_type not in ("map", "set"):
            return desired
        items = node.items or ANY
        by_pe = {_item_pe(node, item, ""): item for item in live}
        out_list = []
        for item in desired:
            pe = _item_pe(node, item, "")
            sub = owned.get(pe)
            if sub is None:
                out_list.append(item)
            elif not sub or "." in sub:
                if pe in by_pe:
                    out_list.append(by_pe[pe])
            elif pe in by_pe:
                out_list.append(_take_owned(item, by_pe[pe], sub, items))
            else:
                out_list.append(item)
        return out_list
    return desired


def apply_ignore_rules(
    desired: Mapping[str, Any],
    live: Mapping[str, Any] | None,
    rules: Iterable[IgnoreRule],
    *,
    manager: str | None = None,
    schema: Node | None = None,
) -> dict[str, Any]:
    """``desired`` with every ignored field set to its live value (or removed).

    Applying the result leaves ignored fields as they are. A create (``live``
    is None) keeps the desired values of ignored pointers. Fields owned by an
    ignored manager are ignored (the applier ``manager`` itself never is).

    >>> rule = IgnoreRule(kind="Deployment", managers=("hpa",))
    >>> live = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d",
    ...         "managedFields": [{"manager": "hpa", "operation": "Update",
    ...                            "fieldsV1": {"f:spec": {"f:replicas": {}}}}]},
    ...         "spec": {"replicas": 5}}
    >>> desired = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
    ...            "spec": {"replicas": 2}}
    >>> apply_ignore_rules(desired, live, [rule])["spec"]
    {'replicas': 5}
    """
    out: dict[str, Any] = dict(desired)
    live_obj: Mapping[str, Any] = live or {}
    node: Node | None = schema
    for rule in rules:
        if not rule.matches(desired):
            continue
        for pointer in rule.pointers if live is not None else ():
            taken = _take(out, live_obj, _parse_pointer(pointer))
            assert isinstance(taken, dict)
            out = taken
        if rule.managers and live is not None:
            owned: RawSet = {}
            for entry in (live.get("metadata") or {}).get("managedFields") or ():
                key = manager_key(entry)
                if key[0] in rule.managers and key[0] != manager:
                    owned = raw_union(owned, entry.get("fieldsV1") or {})
            if owned:
                if node is None:
                    node = schema_for(desired)
                taken = _take_owned(out, live_obj, owned, node)
                assert isinstance(taken, dict)
                out = taken
    return out
