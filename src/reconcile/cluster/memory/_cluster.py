"""InMemoryCluster: an embedded cluster behind the Applier protocol, no network.

It keeps objects in a dict and behaves like the API server where appliers can
tell: namespaces must exist; ``uid``, ``resourceVersion`` (one counter for the
whole cluster), ``generation`` and ``creationTimestamp`` are set by it;
server-side apply goes through :func:`reconcile.merge.predict_apply` (the
same merge, pruning, conflict and ownership rules as structured-merge-diff);
client-side apply through the merge core's three-way patch; deletion with
propagation through ``ownerReferences``; watch events; discovery from the
built-in schema table plus the CRDs applied to it.

Known limits (what the real API server does and this does not) are listed in
``docs/cluster.md``: no defaulting of unset fields, no admission, validation
limited to names, namespaces and a table of immutable fields, CRDs Established
at once, ``managedFields`` of update operations approximated.

Example:

    >>> import anyio
    >>> from reconcile.cluster import Action, InMemoryCluster
    >>> async def demo():
    ...     cluster = InMemoryCluster(field_manager="demo")
    ...     cm = {"apiVersion": "v1", "kind": "ConfigMap",
    ...           "metadata": {"name": "settings"}, "data": {"a": "1"}}
    ...     first = await cluster.apply(cm)
    ...     again = await cluster.apply(cm)
    ...     return first.action, again.action, first.object["metadata"]["namespace"]
    >>> anyio.run(demo)
    (<Action.CREATED: 'created'>, <Action.UNCHANGED: 'unchanged'>, 'default')
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import re
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import anyio
import anyio.abc

from reconcile.cluster._api import (
    Action,
    ApplyMode,
    ApplyResult,
    Propagation,
    ResourceInfo,
    WatchEvent,
)
from reconcile.cluster._clientside import client_side_patch, with_last_applied
from reconcile.cluster._fields import union
from reconcile.errors import (
    ApplyError,
    ConfigurationError,
    ConflictError,
    ImmutableFieldError,
    InvalidError,
    MergeError,
    NotFoundError,
)
from reconcile.merge import merge_patch, predict_apply, strategic_merge_patch
from reconcile.objects import JSONObject, ObjectRef, split_api_version
from reconcile.schema import SchemaRegistry, builtin, namespaced

__all__ = ["InMemoryCluster"]

_NOT_RESOURCES = frozenset(
    {
        "DeleteOptions",
        "WatchEvent",
        "Status",
        "APIGroup",
        "APIVersions",
        "APIResourceList",
        "APIGroupList",
        "Scale",
        "Eviction",
        "Binding",
        "TokenRequest",
    }
)
_IRREGULAR_PLURALS = {"Endpoints": "endpoints"}

# (group, kind) -> field paths that may not change once set (JSON path, dotted).
_IMMUTABLE: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "Service"): ("spec.clusterIP", "spec.clusterIPs"),
    ("batch", "Job"): ("spec.selector", "spec.template", "spec.completionMode"),
    ("apps", "Deployment"): ("spec.selector",),
    ("apps", "ReplicaSet"): ("spec.selector",),
    ("apps", "DaemonSet"): ("spec.selector",),
    ("apps", "StatefulSet"): ("spec.selector", "spec.serviceName", "spec.volumeClaimTemplates"),
    ("", "PersistentVolumeClaim"): ("spec.storageClassName", "spec.volumeName"),
    ("rbac.authorization.k8s.io", "RoleBinding"): ("roleRef",),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): ("roleRef",),
    ("", "ConfigMap"): (),
}

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def plural_of(kind: str) -> str:
    """The resource name the API server uses for a built-in kind.

    >>> plural_of("NetworkPolicy"), plural_of("Ingress"), plural_of("Endpoints")
    ('networkpolicies', 'ingresses', 'endpoints')
    """
    if kind in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[kind]
    low = kind.lower()
    if low.endswith("y") and low[-2:-1] not in "aeiou":
        return low[:-1] + "ies"
    if low.endswith(("s", "x", "z", "ch", "sh")):
        return low + "es"
    return low + "s"


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _get_path(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


_UPDATE_STRIPPED_META = frozenset(
    {
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "managedFields",
        "selfLink",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    }
)


def _added_fieldset(value: Any) -> dict[str, Any]:
    if isinstance(value, dict) and value:
        return {".": {}, **{f"f:{k}": _added_fieldset(v) for k, v in value.items()}}
    return {}


def _changed_fieldset(old: Any, new: Any, top: bool = True) -> dict[str, Any]:
    """What an update changed, as a field set (approximates structured-merge-diff).

    Added maps are members with their children; changed scalars and lists are
    leaves; unchanged fields are left out.
    """
    out: dict[str, Any] = {}
    if not isinstance(old, dict) or not isinstance(new, dict):
        return out
    for key, value in new.items():
        if top and key in ("status", "apiVersion", "kind"):
            continue
        if key in old and old[key] == value:
            continue
        if top and key == "metadata":
            meta_old = {
                k: v for k, v in (old.get(key) or {}).items() if k not in _UPDATE_STRIPPED_META
            }
            meta_new = {k: v for k, v in value.items() if k not in _UPDATE_STRIPPED_META}
            sub = _changed_fieldset(meta_old, meta_new, top=False)
            if sub:
                out["f:metadata"] = sub
            continue
        if key not in old:
            out[f"f:{key}"] = _added_fieldset(value)
        elif isinstance(value, dict) and isinstance(old[key], dict):
            sub = _changed_fieldset(old[key], value, top=False)
            if sub:
                out[f"f:{key}"] = sub
        else:
            out[f"f:{key}"] = {}
    return out


class _Store:
    """The state shared by every manager's view of one cluster."""

    def __init__(self, schemas: SchemaRegistry, namespaces: Iterable[str]) -> None:
        self.schemas = schemas
        self.objects: dict[tuple[str, str, str, str], JSONObject] = {}
        self.rv: int = 0
        self.crd_resources: dict[tuple[str, str, str], ResourceInfo] = {}
        self.watchers: list[tuple[ResourceInfo, str | None, Any]] = []
        self.builtin_resources: dict[tuple[str, str, str], ResourceInfo] = self._builtin()
        self.clusterip = 10
        for ns in namespaces:
            self.put(
                self.builtin_resources[("", "v1", "Namespace")],
                {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {"name": ns},
                    "spec": {"finalizers": ["kubernetes"]},
                    "status": {"phase": "Active"},
                },
            )

    def _builtin(self) -> dict[tuple[str, str, str], ResourceInfo]:
        out: dict[tuple[str, str, str], ResourceInfo] = {}
        for api_version, kind in builtin().kinds():
            if kind.endswith("List") or kind in _NOT_RESOURCES:
                continue
            group, version = split_api_version(api_version)
            out[(group, version, kind)] = ResourceInfo(
                group,
                version,
                plural_of(kind),
                kind,
                namespaced(group, kind) is not False,
                frozenset({"create", "delete", "get", "list", "patch", "update", "watch"}),
            )
        return out

    def resource(self, api_version: str, kind: str) -> ResourceInfo | None:
        group, version = split_api_version(api_version)
        key = (group, version, kind)
        return self.crd_resources.get(key) or self.builtin_resources.get(key)

    def next_rv(self) -> str:
        self.rv += 1
        return str(self.rv)

    @staticmethod
    def key(info: ResourceInfo, namespace: str | None, name: str) -> tuple[str, str, str, str]:
        return (info.group, info.resource, namespace or "", name)

    def put(self, info: ResourceInfo, obj: JSONObject, event: str | None = None) -> JSONObject:
        meta = obj["metadata"]
        key = self.key(info, meta.get("namespace"), meta["name"])
        existed = key in self.objects
        meta["resourceVersion"] = self.next_rv()
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", _now())
        self.objects[key] = obj
        self.notify(info, event or ("MODIFIED" if existed else "ADDED"), obj)
        if info.kind == "CustomResourceDefinition" and info.group == "apiextensions.k8s.io":
            self.install_crd(obj)
        return obj

    def remove(self, info: ResourceInfo, key: tuple[str, str, str, str]) -> JSONObject | None:
        obj = self.objects.pop(key, None)
        if obj is not None:
            obj["metadata"]["resourceVersion"] = self.next_rv()
            self.notify(info, "DELETED", obj)
            if info.kind == "CustomResourceDefinition":
                spec = obj.get("spec") or {}
                for version in spec.get("versions") or ():
                    kind = (spec.get("names") or {}).get("kind", "")
                    self.crd_resources.pop((spec.get("group", ""), version["name"], kind), None)
        return obj

    def install_crd(self, crd: JSONObject) -> None:
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        for version in spec.get("versions") or ():
            if not version.get("served"):
                continue
            info = ResourceInfo(
                spec.get("group", ""),
                version["name"],
                names.get("plural", ""),
                names.get("kind", ""),
                spec.get("scope") == "Namespaced",
                frozenset({"create", "delete", "get", "list", "patch", "update", "watch"}),
            )
            self.crd_resources[(info.group, info.version, info.kind)] = info
        self.schemas.add_crd(crd)
        crd["status"] = {
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted"},
            ],
            "acceptedNames": names,
            "storedVersions": [v["name"] for v in spec.get("versions") or () if v.get("storage")],
        }

    def notify(self, info: ResourceInfo, kind: str, obj: JSONObject) -> None:
        for winfo, namespace, send in list(self.watchers):
            if (winfo.group, winfo.kind) != (info.group, info.kind):
                continue
            if namespace and obj["metadata"].get("namespace") != namespace:
                continue
            with contextlib.suppress(
                anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError
            ):
                send.send_nowait(WatchEvent(kind, copy.deepcopy(obj)))


class InMemoryCluster:
    """An embedded cluster: the :class:`~reconcile.cluster.Applier` protocol without a server.

    Args:
        field_manager: the field manager of this view's writes.
        namespace: the namespace of namespaced objects that have none.
        namespaces: namespaces that exist from the start.
        recreate_immutable: delete and create again on an immutable-field change.
        schemas: merge metadata (built-in kinds by default; CRDs applied are added).

    :meth:`as_manager` gives another view of the same cluster with another
    field manager (a second tool, a controller).

    Example:

        >>> import anyio
        >>> from reconcile.objects import ObjectRef
        >>> cm = {"apiVersion": "v1", "kind": "ConfigMap",
        ...       "metadata": {"name": "c", "namespace": "default"}, "data": {"a": "1"}}
        >>> async def demo():
        ...     cluster = InMemoryCluster(field_manager="gitops")
        ...     first = await cluster.apply(cm)
        ...     again = await cluster.apply(cm)
        ...     edit = {**cm, "data": {"a": "2"}}
        ...     await cluster.as_manager("kubectl-edit").apply(edit, force=True)
        ...     live = await cluster.get(ObjectRef("v1", "ConfigMap", "c", "default"))
        ...     return first.action.value, again.action.value, live["data"]
        >>> anyio.run(demo)
        ('created', 'unchanged', {'a': '2'})
    """

    def __init__(
        self,
        *,
        field_manager: str = "reconcile",
        namespace: str = "default",
        namespaces: Iterable[str] = ("default", "kube-system", "kube-public", "kube-node-lease"),
        recreate_immutable: bool = False,
        schemas: SchemaRegistry | None = None,
        _store: _Store | None = None,
    ) -> None:
        if not field_manager:
            raise ConfigurationError("a field manager is required")
        self.field_manager = field_manager
        self.namespace = namespace
        self.recreate_immutable = recreate_immutable
        self._store = _store or _Store(schemas or SchemaRegistry(), namespaces)

    @property
    def schemas(self) -> SchemaRegistry:
        """The merge metadata of this cluster: built-in kinds and the CRDs applied to it.

        >>> import anyio
        >>> cluster = InMemoryCluster()
        >>> crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        ...        "metadata": {"name": "widgets.example.com"},
        ...        "spec": {"group": "example.com", "scope": "Namespaced",
        ...                 "names": {"kind": "Widget", "plural": "widgets"},
        ...                 "versions": [{"name": "v1", "served": True, "storage": True,
        ...                               "schema": {"openAPIV3Schema": {"type": "object"}}}]}}
        >>> cluster.schemas.for_kind("example.com/v1", "Widget") is None
        True
        >>> _ = anyio.run(cluster.apply, crd)
        >>> cluster.schemas.for_kind("example.com/v1", "Widget") is not None
        True
        """
        return self._store.schemas

    def as_manager(self, field_manager: str, **options: Any) -> InMemoryCluster:
        """Another view of this cluster writing as ``field_manager``."""
        return InMemoryCluster(
            field_manager=field_manager,
            namespace=options.get("namespace", self.namespace),
            recreate_immutable=options.get("recreate_immutable", self.recreate_immutable),
            _store=self._store,
        )

    async def __aenter__(self) -> InMemoryCluster:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        return None

    # -- discovery and reading -------------------------------------------------

    async def resource_for(self, api_version: str, kind: str) -> ResourceInfo:
        """The REST mapping of a kind (built-in or from an applied CRD)."""
        info = self._store.resource(api_version, kind)
        if info is None:
            raise NotFoundError(
                f"the cluster does not serve kind {kind} at {api_version}",
                status=404,
                reason="NotFound",
            )
        return info

    def _locate(self, ref: ObjectRef, info: ResourceInfo) -> tuple[str, str, str, str]:
        namespace = (ref.namespace or self.namespace) if info.namespaced else None
        return self._store.key(info, namespace, ref.name)

    async def get(self, ref: ObjectRef) -> JSONObject | None:
        """The stored object (a copy), or None."""
        info = await self.resource_for(ref.api_version, ref.kind)
        obj = self._store.objects.get(self._locate(ref, info))
        return copy.deepcopy(obj) if obj is not None else None

    async def list_objects(
        self, api_version: str, kind: str, namespace: str | None = None
    ) -> list[JSONObject]:
        """Every object of a kind, in one namespace or all."""
        info = await self.resource_for(api_version, kind)
        return [
            copy.deepcopy(obj)
            for (group, resource, ns, _), obj in sorted(self._store.objects.items())
            if (group, resource) == (info.group, info.resource)
            and (namespace is None or ns == namespace)
        ]

    def watch(
        self, api_version: str, kind: str, namespace: str | None = None
    ) -> AsyncIterator[WatchEvent]:
        """Every change to objects of a kind from this call on (registered at once)."""
        info = self._store.resource(api_version, kind)
        if info is None:
            raise NotFoundError(
                f"the cluster does not serve kind {kind} at {api_version}",
                status=404,
                reason="NotFound",
            )
        send, receive = anyio.create_memory_object_stream[WatchEvent](max_buffer_size=1000)
        entry = (info, namespace, send)
        self._store.watchers.append(entry)
        return self._drain(receive, entry)

    async def _drain(
        self, receive: Any, entry: tuple[ResourceInfo, str | None, Any]
    ) -> AsyncIterator[WatchEvent]:
        try:
            async with receive:
                async for event in receive:
                    yield event
        finally:
            self._store.watchers.remove(entry)
            entry[2].close()

    # -- writing -----------------------------------------------------------------

    async def apply_all(
        self,
        objs: Iterable[Mapping[str, Any]],
        *,
        mode: ApplyMode = ApplyMode.SERVER_SIDE,
        force: bool = False,
        dry_run: bool = False,
    ) -> list[ApplyResult]:
        """Apply objects in order; failures are reported, not raised."""
        results = []
        for obj in objs:
            try:
                results.append(await self.apply(obj, mode=mode, force=force, dry_run=dry_run))
            except ApplyError as exc:
                results.append(
                    ApplyResult(
                        exc.ref or ObjectRef.from_object(obj),
                        Action.FAILED,
                        status=exc.status,
                        message=exc.message,
                        error=exc,
                        dry_run=dry_run,
                    )
                )
        return results

    def _prepare(self, obj: Mapping[str, Any], info: ResourceInfo) -> tuple[JSONObject, ObjectRef]:
        body = copy.deepcopy(dict(obj))
        meta = body.setdefault("metadata", {})
        ref = ObjectRef.from_object(body)
        name = meta.get("name")
        if not name:
            raise InvalidError(
                "metadata.name: Required value",
                status=422,
                reason="Invalid",
                path="metadata.name",
                ref=ref,
            )
        if info.namespaced:
            meta["namespace"] = meta.get("namespace") or self.namespace
        else:
            meta.pop("namespace", None)
        ref = ObjectRef.from_object(body)
        pattern = _DNS_LABEL if info.kind in ("Namespace", "Service") else _DNS_SUBDOMAIN
        if info.kind != "CustomResourceDefinition" and (len(name) > 253 or not pattern.match(name)):
            raise InvalidError(
                f"{info.kind} {name!r} is invalid: metadata.name: Invalid value: {name!r}: "
                "a lowercase RFC 1123 name must consist of lower case alphanumeric "
                "characters, '-' or '.'",
                status=422,
                reason="Invalid",
                path="metadata.name",
                ref=ref,
            )
        if info.namespaced:
            ns_info = self._store.builtin_resources[("", "v1", "Namespace")]
            if self._store.key(ns_info, None, meta["namespace"]) not in self._store.objects:
                raise NotFoundError(
                    f'namespaces "{meta["namespace"]}" not found',
                    status=404,
                    reason="NotFound",
                    ref=ref,
                )
        return body, ref

    def _check_immutable(
        self, info: ResourceInfo, live: JSONObject, new: JSONObject, ref: ObjectRef
    ) -> None:
        for path in _IMMUTABLE.get((info.group, info.kind), ()):
            before, after = _get_path(live, path), _get_path(new, path)
            if before is not None and before != after:
                raise ImmutableFieldError(
                    f"{info.kind} {ref.name!r} is invalid: {path}: field is immutable",
                    status=422,
                    reason="Invalid",
                    path=path,
                    ref=ref,
                    details={
                        "kind": "Status",
                        "code": 422,
                        "reason": "Invalid",
                        "details": {
                            "causes": [
                                {
                                    "reason": "FieldValueInvalid",
                                    "message": "field is immutable",
                                    "field": path,
                                }
                            ]
                        },
                    },
                )

    def _server_defaults(self, info: ResourceInfo, obj: JSONObject) -> None:
        if (info.group, info.kind) == ("", "Service"):
            spec = obj.setdefault("spec", {})
            if "clusterIP" not in spec:
                self._store.clusterip += 1
                spec["clusterIP"] = f"10.0.0.{self._store.clusterip % 250 + 2}"
            if spec["clusterIP"] != "None":
                spec.setdefault("clusterIPs", [spec["clusterIP"]])

    async def apply(
        self,
        obj: Mapping[str, Any],
        *,
        mode: ApplyMode = ApplyMode.SERVER_SIDE,
        force: bool = False,
        dry_run: bool = False,
    ) -> ApplyResult:
        """Apply one object; raises the typed error of a failure."""
        api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
        try:
            info = await self.resource_for(api_version, kind)
        except NotFoundError as exc:
            raise NotFoundError(
                exc.message, status=404, reason="NotFound", ref=ObjectRef.from_object(obj)
            ) from exc
        body, ref = self._prepare(obj, info)
        key = self._store.key(info, body["metadata"].get("namespace"), body["metadata"]["name"])
        try:
            if mode is ApplyMode.CREATE:
                return self._create(info, key, body, ref, dry_run)
            if mode is ApplyMode.REPLACE:
                return self._replace(info, key, body, ref, dry_run)
            if mode is ApplyMode.CLIENT_SIDE:
                return self._client_side(info, key, body, ref, dry_run)
            return self._server_side(info, key, body, ref, force, dry_run)
        except ImmutableFieldError as exc:
            if not self.recreate_immutable:
                raise
            if dry_run:
                return ApplyResult(
                    ref, Action.RECREATED, None, 422, f"would recreate: {exc.message}", dry_run=True
                )
            self._store.remove(info, key)
            again = await self.apply(obj, mode=mode, force=force)
            return ApplyResult(
                ref, Action.RECREATED, again.object, again.status, f"recreated: {exc.message}"
            )

    def _finish(
        self,
        info: ResourceInfo,
        live: JSONObject | None,
        new: JSONObject,
        ref: ObjectRef,
        dry_run: bool,
    ) -> ApplyResult:
        if live is None:
            self._server_defaults(info, new)
            new["metadata"]["generation"] = 1
            if not dry_run:
                self._store.put(info, new)
            return ApplyResult(
                ref, Action.CREATED, copy.deepcopy(new), 201, "created", dry_run=dry_run
            )
        self._check_immutable(info, live, new, ref)
        for field in ("uid", "creationTimestamp", "resourceVersion", "generation"):
            if field in live["metadata"]:
                new["metadata"][field] = live["metadata"][field]
        if new == live:
            return ApplyResult(
                ref, Action.UNCHANGED, copy.deepcopy(live), 200, "unchanged", dry_run=dry_run
            )
        spec_changed = {k: v for k, v in new.items() if k not in ("metadata", "status")} != {
            k: v for k, v in live.items() if k not in ("metadata", "status")
        }
        if spec_changed:
            new["metadata"]["generation"] = int(live["metadata"].get("generation", 1)) + 1
        if not dry_run:
            self._store.put(info, new)
        return ApplyResult(
            ref, Action.CONFIGURED, copy.deepcopy(new), 200, "configured", dry_run=dry_run
        )

    def _server_side(
        self,
        info: ResourceInfo,
        key: tuple[str, str, str, str],
        body: JSONObject,
        ref: ObjectRef,
        force: bool,
        dry_run: bool,
    ) -> ApplyResult:
        live = self._store.objects.get(key)
        try:
            prediction = predict_apply(
                live, body, self.field_manager, force=force, registry=self._store.schemas
            )
        except MergeError as exc:
            raise InvalidError(
                exc.message, status=422, reason="Invalid", path=exc.path, ref=ref
            ) from exc
        if prediction.refused:
            owners = ", ".join(f"{c.path} (owned by {c.manager!r})" for c in prediction.conflicts)
            raise ConflictError(
                f"apply conflicts with other field managers: {owners}",
                conflicts=prediction.conflicts,
                ref=ref,
            )
        assert prediction.object is not None
        new = copy.deepcopy(prediction.object)
        now = _now()
        fields = []
        old_entries = {
            (e.get("manager"), e.get("operation"), e.get("subresource", "")): e
            for e in ((live or {}).get("metadata") or {}).get("managedFields") or ()
        }
        for predicted in prediction.managed_fields:
            entry = dict(predicted)
            old = old_entries.get(
                (entry.get("manager"), entry.get("operation"), entry.get("subresource", ""))
            )
            same = old is not None and old.get("fieldsV1") == entry.get("fieldsV1")
            entry["time"] = old.get("time", now) if same and old is not None else now
            fields.append(entry)
        new["metadata"]["managedFields"] = fields
        if live is not None and prediction.in_sync:
            return ApplyResult(
                ref, Action.UNCHANGED, copy.deepcopy(live), 200, "unchanged", dry_run=dry_run
            )
        return self._finish(info, live, new, ref, dry_run)

    def _update_entry(self, live: JSONObject | None, new: JSONObject, api_version: str) -> None:
        """Record an Update-operation managedFields entry for this manager (approximate)."""
        entries = list(((live or {}).get("metadata") or {}).get("managedFields") or ())
        changed = _changed_fieldset(live or {}, new)
        mine = next(
            (
                e
                for e in entries
                if e.get("manager") == self.field_manager and e.get("operation") == "Update"
            ),
            None,
        )
        if mine is None and changed:
            entries.append(
                {
                    "manager": self.field_manager,
                    "operation": "Update",
                    "apiVersion": api_version,
                    "time": _now(),
                    "fieldsType": "FieldsV1",
                    "fieldsV1": changed,
                }
            )
        elif mine is not None and changed:
            mine["fieldsV1"] = union(mine.get("fieldsV1") or {}, changed)
            mine["time"] = _now()
        new["metadata"]["managedFields"] = entries

    def _create(
        self,
        info: ResourceInfo,
        key: tuple[str, str, str, str],
        body: JSONObject,
        ref: ObjectRef,
        dry_run: bool,
    ) -> ApplyResult:
        if key in self._store.objects:
            raise ConflictError(
                f'{info.resource} "{ref.name}" already exists',
                status=409,
                reason="AlreadyExists",
                ref=ref,
            )
        body["metadata"].pop("resourceVersion", None)
        self._update_entry(None, body, info.api_version)
        return self._finish(info, None, body, ref, dry_run)

    def _replace(
        self,
        info: ResourceInfo,
        key: tuple[str, str, str, str],
        body: JSONObject,
        ref: ObjectRef,
        dry_run: bool,
    ) -> ApplyResult:
        live = self._store.objects.get(key)
        if live is None:
            return self._create(info, key, body, ref, dry_run)
        wanted = body["metadata"].get("resourceVersion")
        if wanted is not None and wanted != live["metadata"]["resourceVersion"]:
            raise ConflictError(
                f'Operation cannot be fulfilled on {info.resource} "{ref.name}": the object '
                "has been modified; please apply your changes to the latest version and try again",
                status=409,
                reason="Conflict",
                ref=ref,
            )
        new = copy.deepcopy(body)
        if "status" in live:
            new["status"] = copy.deepcopy(live["status"])
        new["metadata"]["managedFields"] = copy.deepcopy(live["metadata"].get("managedFields"))
        self._update_entry(live, new, info.api_version)
        return self._finish(info, copy.deepcopy(live), new, ref, dry_run)

    def _client_side(
        self,
        info: ResourceInfo,
        key: tuple[str, str, str, str],
        body: JSONObject,
        ref: ObjectRef,
        dry_run: bool,
    ) -> ApplyResult:
        desired = with_last_applied(body)
        live = self._store.objects.get(key)
        if live is None:
            return self._create(info, key, desired, ref, dry_run)
        patch, content_type = client_side_patch(desired, live, self._store.schemas)
        if patch is None:
            return ApplyResult(
                ref,
                Action.UNCHANGED,
                copy.deepcopy(live),
                None,
                "in sync: nothing sent",
                dry_run=dry_run,
            )
        try:
            if content_type.startswith("application/strategic"):
                node = self._store.schemas.for_kind(info.api_version, info.kind)
                assert node is not None
                new = strategic_merge_patch(copy.deepcopy(live), patch, node)
            else:
                new = merge_patch(copy.deepcopy(live), patch)
        except MergeError as exc:
            raise InvalidError(
                exc.message, status=422, reason="Invalid", path=exc.path, ref=ref
            ) from exc
        self._update_entry(live, new, info.api_version)
        return self._finish(info, copy.deepcopy(live), new, ref, dry_run)

    async def delete(
        self,
        ref: ObjectRef,
        *,
        propagation: Propagation = Propagation.BACKGROUND,
        dry_run: bool = False,
    ) -> ApplyResult:
        """Delete an object (and, unless orphaning, its dependents and namespace contents)."""
        info = await self.resource_for(ref.api_version, ref.kind)
        key = self._locate(ref, info)
        ref = ObjectRef(ref.api_version, ref.kind, ref.name, key[2] or None)
        obj = self._store.objects.get(key)
        if obj is None:
            return ApplyResult(
                ref,
                Action.UNCHANGED,
                None,
                404,
                f'{info.resource} "{ref.name}" not found',
                dry_run=dry_run,
            )
        if dry_run:
            return ApplyResult(
                ref, Action.DELETED, copy.deepcopy(obj), 200, "deleted", dry_run=True
            )
        self._delete_tree(info, key, propagation)
        return ApplyResult(ref, Action.DELETED, copy.deepcopy(obj), 200, "deleted")

    def _delete_tree(
        self, info: ResourceInfo, key: tuple[str, str, str, str], propagation: Propagation
    ) -> None:
        obj = self._store.remove(info, key)
        if obj is None:
            return
        uid = obj["metadata"].get("uid")
        doomed: list[tuple[tuple[str, str, str, str], JSONObject]] = []
        is_namespace = info.kind == "Namespace" and info.group == ""
        for other_key, other in list(self._store.objects.items()):
            owners = other["metadata"].get("ownerReferences") or ()
            owned = any(o.get("uid") == uid for o in owners)
            if (is_namespace and other_key[2] == key[3]) or (
                owned and propagation is not Propagation.ORPHAN
            ):
                doomed.append((other_key, other))
            elif propagation is Propagation.ORPHAN:
                refs = other["metadata"].get("ownerReferences") or []
                kept = [o for o in refs if o.get("uid") != uid]
                if len(kept) != len(refs):
                    other["metadata"]["ownerReferences"] = kept
        for other_key, other in doomed:
            other_info = self._store.resource(other["apiVersion"], other["kind"])
            if other_info is not None:
                self._delete_tree(other_info, other_key, propagation)
