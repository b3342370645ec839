"""An operator that keeps one Git repository in sync per ``GitSync`` custom resource.

A plain asyncio (anyio) program, no operator framework: it installs its CRD,
watches ``GitSync`` objects through any :class:`reconcile.Applier` (a real
cluster or the embedded :class:`reconcile.InMemoryCluster`), and runs one
:class:`reconcile.Reconciler` per resource. Changing a resource's spec restarts
its reconciler; deleting the resource stops it (what it applied stays, as with
Flux's ``prune: false`` on deletion; delete the objects yourself if you want).

A resource::

    apiVersion: examples.reconcile.dev/v1alpha1
    kind: GitSync
    metadata: {name: shop, namespace: default}
    spec:
      url: https://git.example.com/org/shop.git
      branch: main
      path: deploy/          # optional: a directory inside the repository
      targetNamespace: shop  # optional: default namespace of the objects
      interval: 300          # optional: seconds between passes

Run it against the cluster of your kubeconfig::

    python examples/operator/gitsync_operator.py
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import anyio
import anyio.abc

from reconcile import Applier, GitSource, Reconciler, RetryableError, SyncResult, YamlRenderer
from reconcile.cluster import WatchEvent
from reconcile.engine.health import wait_for_status
from reconcile.objects import JSONObject, ObjectRef

log = logging.getLogger("gitsync")

GROUP = "examples.reconcile.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "GitSync"

CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"gitsyncs.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"kind": KIND, "plural": "gitsyncs", "singular": "gitsync"},
        "versions": [
            {
                "name": VERSION,
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["url"],
                                "properties": {
                                    "url": {"type": "string"},
                                    "branch": {"type": "string"},
                                    "path": {"type": "string"},
                                    "targetNamespace": {"type": "string"},
                                    "interval": {"type": "number"},
                                },
                            }
                        },
                    }
                },
            }
        ],
    },
}


class GitSyncOperator:
    """Runs one Reconciler per GitSync resource seen through ``applier``.

    Args:
        applier: the cluster; its field manager is every reconciler's.
        cache_dir: where Git repositories are cached (a temporary directory by default).
        allow_file: accept ``file://`` URLs (tests and demos).
        interval: the default seconds between passes.
    """

    def __init__(
        self,
        applier: Applier,
        *,
        cache_dir: Path | None = None,
        allow_file: bool = False,
        interval: float = 300.0,
    ) -> None:
        self.applier = applier
        self.cache_dir = cache_dir or Path(tempfile.mkdtemp(prefix="gitsync-"))
        self.allow_file = allow_file
        self.interval = interval
        #: The last result of each resource's reconciler, by ``namespace/name``.
        self.results: dict[str, SyncResult] = {}
        self._running: dict[str, tuple[str, Reconciler, anyio.CancelScope]] = {}
        self._changed = anyio.Event()

    def reconciler_for(self, resource: Mapping[str, Any]) -> Reconciler:
        """The Reconciler a GitSync resource asks for."""
        meta, spec = resource["metadata"], resource["spec"]
        key = f"{meta.get('namespace', 'default')}/{meta['name']}"
        source = GitSource(
            spec["url"],
            branch=spec.get("branch", "main"),
            subpath=spec.get("path", ""),
            cache_dir=self.cache_dir / hashlib.sha256(key.encode()).hexdigest()[:16],
            allow_file=self.allow_file,
        )

        def record(result: SyncResult) -> None:
            self.results[key] = result
            self._signal()
            log.info("%s: %s at %s %s", key, result.counts(), result.revision, result.error or "")

        return Reconciler(
            f"gitsync-{meta['name']}",
            source,
            YamlRenderer(),
            self.applier,
            namespace=spec.get("targetNamespace", meta.get("namespace", "default")),
            interval=float(spec.get("interval", self.interval)),
            callbacks=[record],
        )

    def _signal(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Wait until ``predicate()`` holds; it is checked after every pass and every stop."""
        while not predicate():
            await self._changed.wait()

    def trigger(self, key: str) -> None:
        """Ask the reconciler of ``namespace/name`` for a pass now (e.g. from a webhook)."""
        self._running[key][1].trigger("requested")

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Install the CRD, then follow GitSync resources until cancelled."""
        await self.applier.apply(CRD, force=True)
        crd = ObjectRef(
            "apiextensions.k8s.io/v1", "CustomResourceDefinition", CRD["metadata"]["name"]
        )
        await wait_for_status(lambda: self.applier.get(crd), crd, timeout=60)  # Established
        events, existing = await self._watch_and_list()
        async with anyio.create_task_group() as tg:
            for resource in existing:
                self._start(tg, resource)
            task_status.started()
            async for event in events:
                if event.type == "DELETED":
                    self._stop(_key(event.object))
                else:
                    self._start(tg, event.object)
            tg.cancel_scope.cancel()

    async def _watch_and_list(self) -> tuple[AsyncIterator[WatchEvent], list[JSONObject]]:
        """A watch on GitSync resources, then the ones that exist (nothing is missed between)."""
        # A new kind reaches the API server's discovery a moment after Established.
        attempt = 0
        while True:
            try:
                events = self.applier.watch(API_VERSION, KIND)
                return events, await self.applier.list_objects(API_VERSION, KIND)
            except RetryableError:
                attempt += 1
                if attempt == 100:
                    raise
                await anyio.sleep(0.1)

    def _start(self, tg: anyio.abc.TaskGroup, resource: Mapping[str, Any]) -> None:
        key = _key(resource)
        digest = hashlib.sha256(
            json.dumps(resource.get("spec"), sort_keys=True).encode()
        ).hexdigest()
        running = self._running.get(key)
        if running is not None and running[0] == digest:
            return  # a status or metadata change: nothing to do
        self._stop(key)
        reconciler = self.reconciler_for(resource)
        scope = anyio.CancelScope()
        self._running[key] = (digest, reconciler, scope)

        async def run() -> None:
            with scope:
                await reconciler.run()

        log.info("%s: following %s", key, resource["spec"]["url"])
        tg.start_soon(run)

    def _stop(self, key: str) -> None:
        running = self._running.pop(key, None)
        if running is not None:
            running[2].cancel()
            self.results.pop(key, None)
            self._signal()

    @property
    def following(self) -> list[str]:
        """The resources (``namespace/name``) with a running reconciler."""
        return sorted(self._running)


def _key(resource: Mapping[str, Any]) -> str:
    meta = resource["metadata"]
    return f"{meta.get('namespace', 'default')}/{meta['name']}"


async def main() -> None:  # pragma: no cover - needs a cluster
    """Follow GitSync resources in the cluster of the current kubeconfig."""
    from reconcile import KubernetesApplier

    logging.basicConfig(level=logging.INFO)
    async with KubernetesApplier(field_manager="gitsync-operator") as applier:
        await GitSyncOperator(applier).run()


if __name__ == "__main__":  # pragma: no cover
    anyio.run(main)
