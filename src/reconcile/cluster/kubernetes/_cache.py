"""The live-state cache: one list+watch per resource type (and namespace).

Each informer lists in pages, remembers the list's resourceVersion, and
watches from there with bookmarks. A ``410 Gone`` (the server no longer has
that history) relists; a watch that says nothing for ``silence_timeout``
seconds (no event, no bookmark) is restarted from the last resourceVersion;
a dropped connection is retried with backoff.

Objects are stored as compact JSON bytes (orjson) and decoded on read: a
cache costs about the JSON size of what it holds, not the several times more
that Python dicts would.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from typing import Any

import anyio
import anyio.abc
import orjson

from reconcile.cluster._api import ResourceInfo
from reconcile.cluster.kubernetes._transport import Transport
from reconcile.errors import ApplyError, RetryableError

__all__ = ["LiveCache"]

log = logging.getLogger(__name__)

InformerKey = tuple[ResourceInfo, str | None]


def _rv_int(rv: str | None) -> int | None:
    try:
        return int(rv) if rv else None
    except ValueError:
        return None


def _compact(obj: dict[str, Any]) -> bytes:
    # orjson's result keeps its growth buffer (several KiB): copy to the exact size.
    return bytes(memoryview(orjson.dumps(obj)))


class _GoneError(Exception):
    """The watch's resourceVersion is too old: relist."""


class Informer:
    """List+watch of one resource type in one namespace (or all)."""

    def __init__(
        self,
        transport: Transport,
        info: ResourceInfo,
        namespace: str | None,
        *,
        page_size: int,
        silence_timeout: float,
    ) -> None:
        self.transport = transport
        self.info = info
        self.namespace = namespace
        self.page_size = page_size
        self.silence_timeout = silence_timeout
        self.store: dict[str, bytes] = {}
        self.rvs: dict[str, int] = {}
        self.resource_version: str | None = None
        self.synced: anyio.Event = anyio.Event()
        self.lists: int = 0
        self.relists: int = 0
        self.watch_restarts: int = 0
        self.events: int = 0
        self.error: BaseException | None = None

    @staticmethod
    def key_of(obj: dict[str, Any]) -> str:
        meta = obj.get("metadata") or {}
        ns = meta.get("namespace")
        return f"{ns}/{meta.get('name')}" if ns else str(meta.get("name"))

    async def run(self) -> None:
        """List (unless already synced), then watch; forever (until cancelled)."""
        failures = 0
        need_list = not self.synced.is_set()
        while True:
            try:
                if need_list:
                    await self._list()
                    need_list = False
                failures = 0
                while True:
                    try:
                        await self._watch()
                    except RetryableError as exc:
                        self.watch_restarts += 1
                        failures += 1
                        log.debug("watch %s restarts: %s", self.info, exc)
                        await anyio.sleep(min(5.0, 0.1 * 2 ** min(failures, 6)) * random.random())  # noqa: S311
                    else:
                        failures = 0
            except _GoneError:
                self.relists += 1
                need_list = True
                log.info("watch of %s: resourceVersion too old, relisting", self.info)
            except RetryableError as exc:
                failures += 1
                log.debug("list %s failed: %s", self.info, exc)
                await anyio.sleep(min(5.0, 0.1 * 2 ** min(failures, 6)) * random.random())  # noqa: S311
            except ApplyError as exc:
                # Forbidden, not found (CRD deleted): keep the error, retry slowly.
                self.error = exc
                self.synced.set()
                need_list = True
                failures += 1
                await anyio.sleep(min(30.0, 0.5 * 2 ** min(failures, 6)))

    async def _list(self) -> None:
        store: dict[str, bytes] = {}
        rvs: dict[str, int] = {}
        token: str | None = None
        rv: str | None = None
        while True:
            query = [("limit", str(self.page_size))]
            if token:
                query.append(("continue", token))
            resp = await self.transport.request(
                "GET", self.info.path(self.namespace), query=query, resource=str(self.info)
            )
            body = resp.body or {}
            for item in body.get("items") or ():
                item.setdefault("apiVersion", self.info.api_version)
                item.setdefault("kind", self.info.kind)
                key = self.key_of(item)
                store[key] = _compact(item)
                item_rv = _rv_int(item["metadata"].get("resourceVersion"))
                if item_rv is not None:
                    rvs[key] = item_rv
            meta = body.get("metadata") or {}
            rv = meta.get("resourceVersion") or rv
            token = meta.get("continue")
            if not token:
                break
        self.lists += 1
        # Keep the bytes of unchanged objects (same resourceVersion): memos hold them.
        for key, old in self.store.items():
            if key in store and self.rvs.get(key) == rvs.get(key):
                store[key] = old
        self.store = store
        self.rvs = rvs
        self.resource_version = rv
        self.error = None
        self.synced.set()

    async def _watch(self) -> None:
        query = [
            ("watch", "1"),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(random.randint(240, 360))),  # noqa: S311
        ]
        if self.resource_version:
            query.append(("resourceVersion", self.resource_version))
        try:
            async with self.transport.stream(
                self.info.path(self.namespace), query, read_timeout=self.silence_timeout
            ) as resp:
                buffer = b""
                async for chunk in resp.content.iter_any():
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        if line.strip():
                            self._event(orjson.loads(line))
        except ApplyError as exc:
            if exc.status == 410:
                raise _GoneError from exc
            raise

    def _event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        obj = event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise _GoneError
            raise RetryableError(f"watch of {self.info}: {obj.get('message')}", details=obj)
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if kind == "BOOKMARK":
            self.resource_version = rv or self.resource_version
            return
        self.events += 1
        key = self.key_of(obj)
        if kind == "DELETED":
            self.store.pop(key, None)
            self.rvs.pop(key, None)
        else:
            obj.setdefault("apiVersion", self.info.api_version)
            obj.setdefault("kind", self.info.kind)
            self._put(key, obj)
        self.resource_version = rv or self.resource_version

    def _put(self, key: str, obj: dict[str, Any]) -> bytes | None:
        """Store ``obj`` unless the store has it at the same or a newer resourceVersion.

        Returns the bytes now stored for ``key``.
        """
        new_rv = _rv_int((obj.get("metadata") or {}).get("resourceVersion"))
        old_rv = self.rvs.get(key)
        if old_rv is not None and new_rv is not None and old_rv >= new_rv and key in self.store:
            return self.store[key]
        raw = self.store[key] = _compact(obj)
        if new_rv is not None:
            self.rvs[key] = new_rv
        return raw

    def get(self, key: str) -> dict[str, Any] | None:
        raw = self.store.get(key)
        return orjson.loads(raw) if raw is not None else None

    def nbytes(self) -> int:
        return sum(len(v) for v in self.store.values())


class LiveCache:
    """Informers for the resource types an applier works on.

    Use as an async context manager (it owns the informers' tasks).

    Example:

        The applier creates and owns it (``cache=True``, the default)::

            async with KubernetesApplier(field_manager="gitops") as applier:
                live = await applier.get(ref)   # served from the watch-fed cache
                applier.cache.statistics()      # objects, lists, relists, watch restarts
    """

    def __init__(
        self, transport: Transport, *, page_size: int = 500, silence_timeout: float = 90.0
    ) -> None:
        self.transport = transport
        self.page_size = page_size
        self.silence_timeout = silence_timeout
        self.informers: dict[InformerKey, Informer] = {}
        self._tg: anyio.abc.TaskGroup | None = None

    async def __aenter__(self) -> LiveCache:
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._tg is not None:
            self._tg.cancel_scope.cancel()
            await self._tg.__aexit__(None, None, None)
            self._tg = None

    @staticmethod
    def key(info: ResourceInfo, namespace: str | None) -> InformerKey:
        return (info, namespace if info.namespaced else None)

    def informer(self, info: ResourceInfo, namespace: str | None) -> Informer | None:
        """The synced informer covering objects of ``info`` in ``namespace``."""
        found = self.informers.get(self.key(info, namespace))
        if found is None and info.namespaced:
            found = self.informers.get((info, None))
        if found is not None and found.synced.is_set() and found.error is None:
            return found
        return None

    async def ensure(self, info: ResourceInfo, namespace: str | None) -> Informer:
        """Start (if needed) the informer for ``info`` in ``namespace``; wait until synced."""
        key = self.key(info, namespace)
        inf = self.informers.get(key) or (
            self.informers.get((info, None)) if info.namespaced else None
        )
        if inf is None:
            if self._tg is None:
                raise RuntimeError("LiveCache is not running (use `async with`)")
            inf = Informer(
                self.transport,
                info,
                key[1],
                page_size=self.page_size,
                silence_timeout=self.silence_timeout,
            )
            self.informers[key] = inf
            self._tg.start_soon(inf.run)
        await inf.synced.wait()
        return inf

    def get(self, info: ResourceInfo, namespace: str | None, name: str) -> dict[str, Any] | None:
        inf = self.informer(info, namespace)
        if inf is None:
            raise KeyError(info)
        return inf.get(f"{namespace}/{name}" if info.namespaced and namespace else name)

    def items(self, info: ResourceInfo, namespace: str | None) -> Iterator[dict[str, Any]]:
        inf = self.informer(info, namespace)
        if inf is None:
            raise KeyError(info)
        prefix = f"{namespace}/" if info.namespaced and namespace else ""
        for key, raw in list(inf.store.items()):
            if key.startswith(prefix):
                yield orjson.loads(raw)

    def record(self, info: ResourceInfo, obj: dict[str, Any]) -> bytes | None:
        """Remember what a write returned (newer resourceVersions win); the stored bytes."""
        ns = (obj.get("metadata") or {}).get("namespace")
        inf = self.informer(info, ns)
        if inf is not None:
            return inf._put(Informer.key_of(obj), obj)
        return None

    def forget(self, info: ResourceInfo, namespace: str | None, name: str) -> None:
        inf = self.informer(info, namespace)
        if inf is not None:
            key = f"{namespace}/{name}" if info.namespaced and namespace else name
            inf.store.pop(key, None)
            inf.rvs.pop(key, None)

    def statistics(self) -> dict[str, Any]:
        """Objects, stored bytes, lists, relists and watch restarts."""
        infs = list(self.informers.values())
        return {
            "informers": len(infs),
            "objects": sum(len(i.store) for i in infs),
            "bytes": sum(i.nbytes() for i in infs),
            "lists": sum(i.lists for i in infs),
            "relists": sum(i.relists for i in infs),
            "watch_restarts": sum(i.watch_restarts for i in infs),
            "events": sum(i.events for i in infs),
        }
