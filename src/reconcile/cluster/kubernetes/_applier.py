"""KubernetesApplier: the Applier protocol over the Kubernetes API."""

from __future__ import annotations

import copy
import datetime
import hashlib
import logging
import os
from collections.abc import AsyncIterator, Collection, Iterable, Mapping, Sequence
from typing import Any

import anyio
import orjson

from reconcile.cluster._api import (
    DEFAULT_TAKEOVER_MANAGERS,
    Action,
    ApplyMode,
    ApplyResult,
    Propagation,
    ResourceInfo,
    WatchEvent,
)
from reconcile.cluster._clientside import client_side_patch, with_last_applied
from reconcile.cluster._fields import is_noop_apply, union
from reconcile.cluster.kubernetes._cache import LiveCache
from reconcile.cluster.kubernetes._config import (
    SERVICE_ACCOUNT_DIR,
    ConnectionSettings,
    load_client,
)
from reconcile.cluster.kubernetes._discovery import RestMapper
from reconcile.cluster.kubernetes._transport import (
    Impersonation,
    Response,
    RetryPolicy,
    Transport,
)
from reconcile.errors import (
    ApplyError,
    ConfigurationError,
    ImmutableFieldError,
    MergeError,
    NotFoundError,
    RetryableError,
)
from reconcile.merge import predict_apply
from reconcile.objects import JSONObject, ObjectRef
from reconcile.schema import SchemaRegistry

__all__ = ["KubernetesApplier"]

log = logging.getLogger(__name__)

APPLY_PATCH = "application/apply-patch+yaml"
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"

_SERVER_META = ("resourceVersion", "managedFields", "generation", "uid", "creationTimestamp")


def _comparable(obj: Mapping[str, Any] | None) -> Any:
    if obj is None:
        return None
    out = dict(obj)
    meta = {k: v for k, v in (out.get("metadata") or {}).items() if k not in _SERVER_META}
    out["metadata"] = meta
    return out


class KubernetesApplier:
    """The :class:`~reconcile.cluster.Applier` for a real cluster (kubernetes-asyncio).

    Use it as an async context manager: entering connects (see
    :mod:`reconcile.cluster.kubernetes._config` for where the settings come
    from) and starts the live-state cache; leaving stops both.

    Args:
        field_manager: the field manager of every write (required).
        kubeconfig: one kubeconfig path or several, merged (else ``KUBECONFIG``,
            in-cluster, ``~/.kube/config``, in that order).
        context: the kubeconfig context to use.
        in_cluster: True forces the service account; False never uses it.
        service_account_dir: where the in-cluster ``token``, ``ca.crt`` and
            ``namespace`` files are (the kubelet's mount point by default).
        api_client: an existing kubernetes-asyncio ``ApiClient`` (not closed here).
        namespace: the namespace of namespaced objects that have none (else the
            context's namespace, else ``default``).
        force: force server-side applies by default (take conflicting fields).
        take_over: field managers whose fields are adopted before applying, so that
            fields they set and the desired state no longer has get removed.
        take_over_updates: also adopt the fields of every ``Update`` manager.
        recreate_immutable: delete and create again when an immutable field changes.
        impersonate: act as another user, groups or service account.
        concurrency: requests in flight at most (:attr:`DEFAULT_CONCURRENCY`).
        timeout: seconds for every request.
        retry: the retry policy for 429, 5xx, dropped connections and conflicts.
        cache: read live state through list+watch informers (else GET per object).
        watch_silence: seconds without a watch event or bookmark before a restart.
        schemas: merge metadata for deciding no-ops locally (built-in kinds by
            default, in a registry of this applier's own that learns the CRDs it sees).

    Example::

        async with KubernetesApplier(field_manager="shop-deployer") as applier:
            results = await applier.apply_all(objects)
    """

    #: Requests in flight at most, unless ``concurrency`` says otherwise. The API
    #: server's own limits (priority and fairness, max-in-flight) arbitrate
    #: between clients and answer 429 with ``Retry-After`` when full, which is
    #: honoured; within them, more writes in flight let the server batch its etcd
    #: commits: 1,000 first applies took 1.6-1.8 s at 16, 1.3-1.5 s at 32 and
    #: 1.1-1.2 s at 64 on the two-core test machine (benchmarks/applier.py).
    DEFAULT_CONCURRENCY = 64

    def __init__(
        self,
        *,
        field_manager: str,
        kubeconfig: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
        context: str | None = None,
        in_cluster: bool | None = None,
        service_account_dir: str | os.PathLike[str] = SERVICE_ACCOUNT_DIR,
        api_client: Any = None,
        namespace: str | None = None,
        force: bool = False,
        take_over: Collection[str] = DEFAULT_TAKEOVER_MANAGERS,
        take_over_updates: bool = False,
        recreate_immutable: bool = False,
        impersonate: Impersonation | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        cache: bool = True,
        watch_silence: float = 90.0,
        schemas: SchemaRegistry | None = None,
    ) -> None:
        if not field_manager:
            raise ConfigurationError("a field manager is required")
        self.field_manager = field_manager
        self.settings: ConnectionSettings = ConnectionSettings(
            kubeconfig, context, in_cluster, service_account_dir
        )
        self.namespace = namespace
        self.force = force
        self.take_over: frozenset[str] = frozenset(take_over)
        self.take_over_updates = take_over_updates
        self.recreate_immutable = recreate_immutable
        self.impersonate = impersonate
        self.concurrency = concurrency
        self.timeout = timeout
        self.retry = retry
        self.use_cache = cache
        self.watch_silence = watch_silence
        # A registry of its own: the CRDs it learns must not leak into the
        # process-wide built-in table other appliers and differs read.
        self.schemas: SchemaRegistry = schemas if schemas is not None else SchemaRegistry()
        self._api_client = api_client
        self._own_client = api_client is None
        self._transport: Transport | None = None
        self._mapper: RestMapper | None = None
        self._cache: LiveCache | None = None
        self._memo: dict[tuple[ResourceInfo, str], tuple[bytes, bytes]] = {}
        self._schemas_sought: set[tuple[str, str]] = set()

    # -- lifecycle -----------------------------------------------------------

    async def __aenter__(self) -> KubernetesApplier:
        if self._api_client is None:
            self._api_client = await load_client(self.settings)
        if self.namespace is None:
            self.namespace = self._context_namespace() or "default"
        self._transport = Transport(
            self._api_client,
            timeout=self.timeout,
            concurrency=self.concurrency,
            retry=self.retry,
            impersonate=self.impersonate,
        )
        self._mapper = RestMapper(self._transport)
        if self.use_cache:
            self._cache = await LiveCache(
                self._transport, silence_timeout=self.watch_silence
            ).__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._cache is not None:
            await self._cache.__aexit__(None, None, None)
            self._cache = None
        if self._transport is not None:
            await self._transport.aclose()
        if self._own_client and self._api_client is not None:
            await self._api_client.close()
            self._api_client = None

    def _context_namespace(self) -> str | None:
        try:
            source, paths = self.settings.resolve()
            if source == "in-cluster":
                return self.settings.in_cluster_namespace()
            from kubernetes_asyncio import config

            files = [p for p in paths if os.path.isfile(p)]
            if not files:
                return None
            contexts, active = config.list_kube_config_contexts(config_file=os.pathsep.join(files))
            chosen = active
            if self.settings.context is not None:
                chosen = next((c for c in contexts if c["name"] == self.settings.context), active)
            ns = (chosen or {}).get("context", {}).get("namespace")
            return str(ns) if ns else None
        except Exception:  # the context's namespace is only a default
            return None

    @property
    def transport(self) -> Transport:
        """The request layer (``transport.requests`` counts requests by verb)."""
        if self._transport is None:
            raise RuntimeError("KubernetesApplier is not connected (use `async with`)")
        return self._transport

    @property
    def mapper(self) -> RestMapper:
        """Discovery and the REST mapper."""
        if self._mapper is None:
            raise RuntimeError("KubernetesApplier is not connected (use `async with`)")
        return self._mapper

    @property
    def cache(self) -> LiveCache | None:
        """The live-state cache (None when disabled)."""
        return self._cache

    def statistics(self) -> dict[str, Any]:
        """Requests by verb, retries by cause and the cache's figures."""
        return {
            "requests": dict(self.transport.requests),
            "retries": dict(self.transport.retries),
            "cache": self._cache.statistics() if self._cache is not None else None,
        }

    # -- reading -------------------------------------------------------------

    async def resource_for(self, api_version: str, kind: str) -> ResourceInfo:
        """The REST mapping of a kind."""
        return await self.mapper.resource_for(api_version, kind)

    async def _mapping(self, api_version: str, kind: str) -> ResourceInfo:
        """The REST mapping of a kind, learning a custom resource's schema on first sight.

        Without its CRD's schema a custom resource is diffed with JSON-merge
        semantics, which reports list-map edits as drift that the server would not
        make; so the first time a kind outside the registry is mapped, its CRD is
        read and added. A kind served by an aggregated API (no CRD), or a CRD we
        may not read, keeps JSON-merge semantics.
        """
        info = await self.mapper.resource_for(api_version, kind)
        key = (info.api_version, info.kind)
        if key not in self._schemas_sought and self.schemas.for_kind(*key) is None:
            self._schemas_sought.add(key)
            await self._learn_crd(info)
        return info

    async def _learn_crd(self, info: ResourceInfo) -> None:
        if not info.group:
            return
        name = f"{info.resource}.{info.group}"
        try:
            resp = await self.transport.request(
                "GET",
                f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}",
                resource="customresourcedefinitions.apiextensions.k8s.io",
            )
            self.schemas.add_crd(resp.body)
        except (ApplyError, MergeError) as exc:
            log.debug("no CRD schema for %s: %s", name, exc)

    async def _target(self, obj: Mapping[str, Any]) -> tuple[ResourceInfo, JSONObject, ObjectRef]:
        """The mapping and a namespaced-or-not copy of ``obj``."""
        api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
        if not api_version or not kind or not (obj.get("metadata") or {}).get("name"):
            raise ConfigurationError(
                "an object needs apiVersion, kind and metadata.name", ref=ObjectRef.from_object(obj)
            )
        try:
            info = await self._mapping(api_version, kind)
        except ApplyError as exc:
            raise type(exc)(
                exc.message,
                status=exc.status,
                reason=exc.reason,
                details=exc.details,
                ref=ObjectRef.from_object(obj),
            ) from exc
        body = dict(obj)
        meta = dict(body.get("metadata") or {})
        if info.namespaced:
            meta.setdefault("namespace", self.namespace or "default")
            if not meta["namespace"]:
                meta["namespace"] = self.namespace or "default"
        else:
            meta.pop("namespace", None)
        body["metadata"] = meta
        return info, body, ObjectRef.from_object(body)

    async def _ensure_cached(self, info: ResourceInfo, namespace: str | None) -> bool:
        if self._cache is None or ("watch" not in info.verbs and info.verbs):
            return False
        await self._cache.ensure(info, namespace)
        return self._cache.informer(info, namespace) is not None

    async def _read(
        self, info: ResourceInfo, ref: ObjectRef, *, fresh: bool = False
    ) -> JSONObject | None:
        if not fresh and self._cache is not None and self._cache.informer(info, ref.namespace):
            return self._cache.get(info, ref.namespace, ref.name)
        try:
            resp = await self.transport.request(
                "GET",
                info.path(ref.namespace, ref.name),
                ref=ref,
                resource=str(info),
                namespace=ref.namespace,
            )
        except NotFoundError:
            return None
        found: JSONObject = resp.body
        return found

    async def get(self, ref: ObjectRef) -> JSONObject | None:
        """The live object (from the cache when its type is watched), or None."""
        info = await self._mapping(ref.api_version, ref.kind)
        namespace = (ref.namespace or self.namespace) if info.namespaced else None
        return await self._read(info, ObjectRef(ref.api_version, ref.kind, ref.name, namespace))

    async def list_objects(
        self, api_version: str, kind: str, namespace: str | None = None
    ) -> list[JSONObject]:
        """Every object of a kind; starts (and then reads) the type's informer."""
        info = await self._mapping(api_version, kind)
        if await self._ensure_cached(info, namespace) and self._cache is not None:
            return list(self._cache.items(info, namespace))
        items: list[JSONObject] = []
        token: str | None = None
        while True:
            query = [("limit", "500")] + ([("continue", token)] if token else [])
            resp = await self.transport.request(
                "GET", info.path(namespace), query=query, resource=str(info)
            )
            items.extend(resp.body.get("items") or ())
            token = (resp.body.get("metadata") or {}).get("continue")
            if not token:
                return items

    async def wait_cached(self, obj: Mapping[str, Any]) -> None:
        """Wait until the cache has seen ``obj`` at its resourceVersion or a newer one.

        The cache is eventually consistent: after another client wrote, this
        makes the next decision see that write.
        """
        if self._cache is None:
            return
        meta = obj.get("metadata") or {}
        info = await self._mapping(str(obj.get("apiVersion")), str(obj.get("kind")))
        namespace = (meta.get("namespace") or self.namespace) if info.namespaced else None
        inf = await self._cache.ensure(info, namespace)
        key = f"{namespace}/{meta.get('name')}" if info.namespaced else str(meta.get("name"))
        wanted = int(meta.get("resourceVersion") or 0)
        with anyio.fail_after(self.timeout):
            while inf.rvs.get(key, 0) < wanted:  # noqa: ASYNC110 - the watch task fills it
                await anyio.sleep(0.01)

    async def watch_types(self, pairs: Iterable[tuple[str, str, str | None]]) -> None:
        """Start informers for ``(apiVersion, kind, namespace)`` (inventory types)."""
        for api_version, kind, namespace in pairs:
            info = await self._mapping(api_version, kind)
            await self._ensure_cached(info, namespace)

    async def watch(
        self, api_version: str, kind: str, namespace: str | None = None
    ) -> AsyncIterator[WatchEvent]:
        """Changes to objects of a kind from now on (a raw watch; restarts on silence)."""
        info = await self._mapping(api_version, kind)
        resp = await self.transport.request(
            "GET", info.path(namespace), query=[("limit", "1")], resource=str(info)
        )
        rv = (resp.body.get("metadata") or {}).get("resourceVersion")
        while True:
            query = [("watch", "1"), ("allowWatchBookmarks", "true")]
            if rv:
                query.append(("resourceVersion", rv))
            try:
                async with self.transport.stream(
                    info.path(namespace), query, read_timeout=self.watch_silence
                ) as stream:
                    buffer = b""
                    async for chunk in stream.content.iter_any():
                        buffer += chunk
                        *lines, buffer = buffer.split(b"\n")
                        for line in lines:
                            if not line.strip():
                                continue
                            event = orjson.loads(line)
                            obj = event.get("object") or {}
                            rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
                            if event["type"] == "ERROR":
                                raise RetryableError(str(obj.get("message")), details=obj)
                            if event["type"] != "BOOKMARK":
                                yield WatchEvent(event["type"], obj)
            except RetryableError:
                await anyio.sleep(0.2)

    # -- writing -------------------------------------------------------------

    async def apply_all(
        self,
        objs: Iterable[Mapping[str, Any]],
        *,
        mode: ApplyMode = ApplyMode.SERVER_SIDE,
        force: bool | None = None,
        dry_run: bool = False,
    ) -> list[ApplyResult]:
        """Apply objects concurrently (bounded by ``concurrency``); never raises per object."""
        items = list(objs)
        results: list[ApplyResult | None] = [None] * len(items)
        if self._cache is not None:
            pairs: set[tuple[str, str, str | None]] = set()
            for obj in items:
                meta = obj.get("metadata") or {}
                pairs.add((str(obj.get("apiVersion")), str(obj.get("kind")), meta.get("namespace")))
            async with anyio.create_task_group() as tg:
                for api_version, kind, ns in pairs:
                    tg.start_soon(self._try_watch, api_version, kind, ns)

        pending: list[int] = []
        for index, obj in enumerate(items):
            cached = (
                self._cached_noop(obj, dry_run=dry_run) if mode is ApplyMode.SERVER_SIDE else None
            )
            if cached is not None:
                results[index] = cached
            else:
                pending.append(index)

        async def one(index: int) -> None:
            obj = items[index]
            try:
                results[index] = await self.apply(obj, mode=mode, force=force, dry_run=dry_run)
            except ApplyError as exc:
                results[index] = ApplyResult(
                    exc.ref or ObjectRef.from_object(obj),
                    Action.FAILED,
                    status=exc.status,
                    message=exc.message,
                    error=exc,
                    dry_run=dry_run,
                )

        queue = iter(pending)

        async def worker() -> None:
            for index in queue:
                await one(index)

        async with anyio.create_task_group() as tg:
            for _ in range(min(len(pending), max(1, self.concurrency))):
                tg.start_soon(worker)
        return [r for r in results if r is not None]

    def _in_sync(self, info: ResourceInfo, body: JSONObject, live: JSONObject) -> bool:
        """Whether a server-side apply of ``body`` would change nothing (decided locally).

        A cheap conservative check first; when it cannot tell (defaulted list-map
        keys, non-canonical quantities, stringData), the merge core's prediction.
        """
        node = self.schemas.for_kind(info.api_version, info.kind)
        if is_noop_apply(body, live, self.field_manager, node):
            return True
        try:
            prediction = predict_apply(
                live, body, self.field_manager, schema=node, registry=self.schemas
            )
        except MergeError:
            return False
        return prediction.in_sync

    @staticmethod
    def _digest(body: Mapping[str, Any]) -> bytes:
        return hashlib.blake2b(
            orjson.dumps(body, option=orjson.OPT_SORT_KEYS), digest_size=16
        ).digest()

    def _remember(self, info: ResourceInfo, body: JSONObject, stored: bytes | None) -> None:
        """After a server-side apply: memo that the stored object is in sync with ``body``."""
        if stored is None:
            return
        meta = body["metadata"]
        key = f"{meta['namespace']}/{meta['name']}" if info.namespaced else str(meta["name"])
        live = orjson.loads(stored)
        if self._in_sync(info, body, live):
            self._memo[(info, key)] = (self._digest(body), stored)

    def _cached_noop(self, obj: Mapping[str, Any], *, dry_run: bool) -> ApplyResult | None:
        """UNCHANGED decided from the cache alone, without a task or a request; else None.

        A memo of (digest of the desired object, the cached bytes it was proven
        against) makes a repeated pass cost one hash per object; any change to
        the live object replaces its cached bytes and voids the memo.
        """
        cache = self._cache
        if cache is None:
            return None
        info = self.mapper.known(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
        meta = obj.get("metadata") or {}
        name = meta.get("name")
        if info is None or not name:
            return None
        namespace = (meta.get("namespace") or self.namespace) if info.namespaced else None
        inf = cache.informer(info, namespace)
        if inf is None:
            return None
        key = f"{namespace}/{name}" if info.namespaced else str(name)
        raw = inf.store.get(key)
        if raw is None:
            return None
        body = dict(obj)
        body_meta = dict(meta)
        if info.namespaced:
            body_meta["namespace"] = namespace
        else:
            body_meta.pop("namespace", None)
        body["metadata"] = body_meta
        digest = self._digest(body)
        ref = ObjectRef(info.api_version, info.kind, str(name), namespace)
        memo = self._memo.get((info, key))
        if memo is not None and memo[0] == digest and memo[1] is raw:
            return ApplyResult(
                ref,
                Action.UNCHANGED,
                orjson.loads(raw),
                None,
                "in sync: nothing sent",
                dry_run=dry_run,
            )
        live = orjson.loads(raw)
        entries = (live.get("metadata") or {}).get("managedFields") or ()
        if any(self._adoptable(e) for e in entries):
            return None
        if not self._in_sync(info, body, live):
            return None
        self._memo[(info, key)] = (digest, raw)
        return ApplyResult(
            ref, Action.UNCHANGED, live, None, "in sync: nothing sent", dry_run=dry_run
        )

    async def _try_watch(self, api_version: str, kind: str, namespace: str | None) -> None:
        try:
            info = await self._mapping(api_version, kind)
            namespace = (namespace or self.namespace) if info.namespaced else None
            with anyio.move_on_after(self.timeout):
                await self._ensure_cached(info, namespace)
        except ApplyError:
            pass  # reported per object by apply()

    async def apply(
        self,
        obj: Mapping[str, Any],
        *,
        mode: ApplyMode = ApplyMode.SERVER_SIDE,
        force: bool | None = None,
        dry_run: bool = False,
    ) -> ApplyResult:
        """Make the live object match ``obj``; raises the typed error of a failure."""
        if mode is ApplyMode.SERVER_SIDE:
            cached = self._cached_noop(obj, dry_run=dry_run)
            if cached is not None:
                return cached
        info, body, ref = await self._target(obj)
        if info.kind == "CustomResourceDefinition" and info.group == "apiextensions.k8s.io":
            self.schemas.add_crd(body)
        force = self.force if force is None else force
        if self._cache is not None and self._cache.informer(info, ref.namespace) is None:
            with anyio.move_on_after(self.timeout):
                await self._ensure_cached(info, ref.namespace)
        try:
            if mode is ApplyMode.SERVER_SIDE:
                return await self._server_side(info, body, ref, force=force, dry_run=dry_run)
            if mode is ApplyMode.CREATE:
                return await self._create(info, body, ref, dry_run=dry_run)
            if mode is ApplyMode.REPLACE:
                return await self._replace(info, body, ref, dry_run=dry_run)
            return await self._client_side(info, body, ref, dry_run=dry_run)
        except ImmutableFieldError as exc:
            if not self.recreate_immutable or mode is ApplyMode.CREATE:
                raise
            return await self._recreate(info, body, ref, exc, mode, force, dry_run)

    def _query(self, *, dry_run: bool, force: bool = False) -> list[tuple[str, str]]:
        query = [("fieldManager", self.field_manager)]
        if force:
            query.append(("force", "true"))
        if dry_run:
            query.append(("dryRun", "All"))
        return query

    def _result(
        self,
        info: ResourceInfo,
        ref: ObjectRef,
        resp: Response,
        live: JSONObject | None,
        *,
        dry_run: bool,
        action: Action | None = None,
        remember: JSONObject | None = None,
    ) -> ApplyResult:
        out: JSONObject = resp.body
        if action is None:
            if resp.status == 201:
                action = Action.CREATED
            elif live is None:
                # It existed after all (the cache had not seen it yet).
                action = Action.CONFIGURED
            elif dry_run:
                same = _comparable(out) == _comparable(live)
                action = Action.UNCHANGED if same else Action.CONFIGURED
            else:
                old_rv = (live.get("metadata") or {}).get("resourceVersion")
                new_rv = (out.get("metadata") or {}).get("resourceVersion")
                action = Action.UNCHANGED if old_rv == new_rv else Action.CONFIGURED
        if not dry_run and self._cache is not None:
            stored = self._cache.record(info, out)
            if remember is not None:
                self._remember(info, remember, stored)
        return ApplyResult(
            ref, action, out, resp.status, action.value, dry_run=dry_run, warnings=resp.warnings
        )

    async def _server_side(
        self, info: ResourceInfo, body: JSONObject, ref: ObjectRef, *, force: bool, dry_run: bool
    ) -> ApplyResult:
        live = await self._read(info, ref)
        if live is not None and not dry_run:
            live = await self._take_over_fields(info, ref, live)
        if live is not None and self._in_sync(info, body, live):
            return ApplyResult(
                ref, Action.UNCHANGED, live, None, "in sync: nothing sent", dry_run=dry_run
            )
        resp = await self.transport.request(
            "PATCH",
            info.path(ref.namespace, ref.name),
            query=self._query(dry_run=dry_run, force=force),
            body=body,
            content_type=APPLY_PATCH,
            ref=ref,
            resource=str(info),
            namespace=ref.namespace,
        )
        return self._result(info, ref, resp, live, dry_run=dry_run, remember=body)

    def _adoptable(self, entry: Mapping[str, Any]) -> bool:
        if entry.get("subresource"):
            return False
        manager, operation = entry.get("manager"), entry.get("operation")
        if manager == self.field_manager:
            return operation != "Apply"
        return manager in self.take_over or (self.take_over_updates and operation == "Update")

    async def _take_over_fields(
        self, info: ResourceInfo, ref: ObjectRef, live: JSONObject
    ) -> JSONObject:
        """Adopt the fields of ``take_over`` managers into this manager's Apply entry.

        Flux's migration: the next apply then owns those fields and removes the
        ones the desired state no longer has.
        """
        entries = (live.get("metadata") or {}).get("managedFields") or []
        if not any(self._adoptable(e) for e in entries):
            return live

        first = True

        async def attempt() -> JSONObject:
            nonlocal first
            current = live if first else await self._read(info, ref, fresh=True)
            first = False
            if current is None:
                raise NotFoundError("object vanished during field take-over", ref=ref)
            meta = current.get("metadata") or {}
            keep: list[Any] = []
            mine: dict[str, Any] = {}
            adopted: dict[str, Any] = {}
            for entry in meta.get("managedFields") or []:
                if self._adoptable(entry):
                    adopted = union(adopted, entry.get("fieldsV1") or {})
                elif entry.get("manager") == self.field_manager and not entry.get("subresource"):
                    mine = union(mine, entry.get("fieldsV1") or {})
                else:
                    keep.append(entry)
            if not adopted:
                return current
            now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            keep.append(
                {
                    "manager": self.field_manager,
                    "operation": "Apply",
                    "apiVersion": current.get("apiVersion", info.api_version),
                    "time": now,
                    "fieldsType": "FieldsV1",
                    "fieldsV1": union(mine, adopted),
                }
            )
            patch = [
                {
                    "op": "replace",
                    "path": "/metadata/resourceVersion",
                    "value": meta.get("resourceVersion"),
                },
                {"op": "replace", "path": "/metadata/managedFields", "value": keep},
            ]
            resp = await self.transport.request(
                "PATCH",
                info.path(ref.namespace, ref.name),
                query=[("fieldManager", self.field_manager)],
                body=patch,
                content_type=JSON_PATCH,
                ref=ref,
                resource=str(info),
                namespace=ref.namespace,
            )
            log.info("took over fields of other managers on %s", ref)
            out: JSONObject = resp.body
            if self._cache is not None:
                self._cache.record(info, out)
            return out

        result: JSONObject = await self.transport.retrying(attempt, on_conflict=True)
        return result

    async def _create(
        self, info: ResourceInfo, body: JSONObject, ref: ObjectRef, *, dry_run: bool
    ) -> ApplyResult:
        resp = await self.transport.request(
            "POST",
            info.path(ref.namespace),
            query=self._query(dry_run=dry_run),
            body=body,
            ref=ref,
            resource=str(info),
            namespace=ref.namespace,
        )
        return self._result(info, ref, resp, None, dry_run=dry_run, action=Action.CREATED)

    async def _replace(
        self, info: ResourceInfo, body: JSONObject, ref: ObjectRef, *, dry_run: bool
    ) -> ApplyResult:
        async def attempt() -> ApplyResult:
            live = await self._read(info, ref, fresh=True)
            if live is None:
                return await self._create(info, body, ref, dry_run=dry_run)
            new = copy.deepcopy(body)
            new["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
            resp = await self.transport.request_once(
                "PUT",
                info.path(ref.namespace, ref.name),
                query=self._query(dry_run=dry_run),
                body=new,
                ref=ref,
                resource=str(info),
                namespace=ref.namespace,
            )
            return self._result(info, ref, resp, live, dry_run=dry_run)

        result: ApplyResult = await self.transport.retrying(attempt, on_conflict=True)
        return result

    async def _client_side(
        self, info: ResourceInfo, body: JSONObject, ref: ObjectRef, *, dry_run: bool
    ) -> ApplyResult:
        """kubectl's client-side apply: a three-way patch against last-applied."""

        async def attempt() -> ApplyResult:
            live = await self._read(info, ref, fresh=True)
            desired = with_last_applied(body)
            if live is None:
                return await self._create(info, desired, ref, dry_run=dry_run)
            patch, content_type = client_side_patch(
                desired, live, self.schemas, info.api_version, info.kind
            )
            if not patch:
                return ApplyResult(
                    ref, Action.UNCHANGED, live, None, "in sync: nothing sent", dry_run=dry_run
                )
            resp = await self.transport.request_once(
                "PATCH",
                info.path(ref.namespace, ref.name),
                query=self._query(dry_run=dry_run),
                body=patch,
                content_type=content_type,
                ref=ref,
                resource=str(info),
                namespace=ref.namespace,
            )
            return self._result(info, ref, resp, live, dry_run=dry_run)

        result: ApplyResult = await self.transport.retrying(attempt, on_conflict=True)
        return result

    async def _recreate(
        self,
        info: ResourceInfo,
        body: JSONObject,
        ref: ObjectRef,
        cause: ImmutableFieldError,
        mode: ApplyMode,
        force: bool,
        dry_run: bool,
    ) -> ApplyResult:
        log.info("recreating %s: %s", ref, cause.message)
        if dry_run:
            return ApplyResult(
                ref,
                Action.RECREATED,
                None,
                cause.status,
                f"would recreate: {cause.message}",
                dry_run=True,
            )
        live = await self._read(info, ref, fresh=True)
        uid = (live or {}).get("metadata", {}).get("uid")
        await self.delete(ref, propagation=Propagation.BACKGROUND, uid=uid)
        # Wait until it is gone (finalizers may hold it a while).
        delay = 0.05
        with anyio.fail_after(self.timeout * 4):
            while await self._read(info, ref, fresh=True) is not None:
                await anyio.sleep(delay)
                delay = min(delay * 2, 1.0)
        if self._cache is not None:
            self._cache.forget(info, ref.namespace, ref.name)
        if mode is ApplyMode.SERVER_SIDE:
            result = await self._server_side(info, body, ref, force=force, dry_run=False)
        elif mode is ApplyMode.CLIENT_SIDE:
            result = await self._client_side(info, body, ref, dry_run=False)
        else:
            result = await self._create(info, body, ref, dry_run=False)
        return ApplyResult(
            ref,
            Action.RECREATED,
            result.object,
            result.status,
            f"recreated: {cause.message}",
            warnings=result.warnings,
        )

    async def delete(
        self,
        ref: ObjectRef,
        *,
        propagation: Propagation = Propagation.BACKGROUND,
        dry_run: bool = False,
        uid: str | None = None,
    ) -> ApplyResult:
        """Delete an object; an absent object is ``UNCHANGED`` (no error)."""
        info = await self._mapping(ref.api_version, ref.kind)
        namespace = (ref.namespace or self.namespace) if info.namespaced else None
        ref = ObjectRef(ref.api_version, ref.kind, ref.name, namespace)
        options: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "propagationPolicy": propagation.value,
        }
        if dry_run:
            options["dryRun"] = ["All"]
        if uid:
            options["preconditions"] = {"uid": uid}
        try:
            resp = await self.transport.request(
                "DELETE",
                info.path(namespace, ref.name),
                body=options,
                ref=ref,
                resource=str(info),
                namespace=namespace,
            )
        except NotFoundError as exc:
            return ApplyResult(ref, Action.UNCHANGED, None, 404, exc.message, dry_run=dry_run)
        obj = resp.body if resp.body.get("kind") != "Status" else None
        terminating = obj is not None and (obj.get("metadata") or {}).get("deletionTimestamp")
        if not dry_run and self._cache is not None:
            if terminating and obj is not None:
                self._cache.record(info, obj)
            else:
                self._cache.forget(info, namespace, ref.name)
        return ApplyResult(ref, Action.DELETED, obj, resp.status, "deleted", dry_run=dry_run)
