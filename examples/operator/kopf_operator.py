"""The GitSync operator again, built with kopf: one Reconciler per resource, as a kopf daemon.

kopf runs one daemon task per ``GitSync`` resource while it exists and cancels
it when the resource is deleted; the daemon runs :meth:`reconcile.Reconciler.run`.
The source is a small :class:`reconcile.sources.Source` of our own that reads
the resource's *live* spec (kopf keeps the ``spec`` it passes up to date), so
editing the URL, branch or path takes effect at the next pass without a restart.

Run it (the CRD is the one in ``gitsync_operator.py``)::

    kopf run examples/operator/kopf_operator.py --all-namespaces
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import kopf

from reconcile import Applier, GitSource, KubernetesApplier, Reconciler, SyncResult, YamlRenderer
from reconcile.sources import Artifact

GROUP, VERSION, PLURAL = "examples.reconcile.dev", "v1alpha1", "gitsyncs"

#: The handlers of this operator (kopf's global registry is left alone, so tests can load it).
registry = kopf.OperatorRegistry()


class SpecSource:
    """A Source following a GitSync spec: a new GitSource whenever url, branch or path change."""

    def __init__(self, spec: Mapping[str, Any], cache_dir: Path, *, allow_file: bool = False):
        self.spec = spec
        self.cache_dir = cache_dir
        self.allow_file = allow_file
        self._key: tuple[str, str, str] | None = None
        self._git: GitSource | None = None

    async def fetch(self) -> Artifact:
        """Fetch the revision the spec asks for now."""
        key = (self.spec["url"], self.spec.get("branch", "main"), self.spec.get("path", ""))
        if key != self._key or self._git is None:
            self._key = key
            self._git = GitSource(
                key[0],
                branch=key[1],
                subpath=key[2],
                cache_dir=self.cache_dir / hashlib.sha256(key[0].encode()).hexdigest()[:16],
                allow_file=self.allow_file,
            )
        return await self._git.fetch()


@kopf.on.startup(registry=registry)
async def connect(memo: kopf.Memo, **_: Any) -> None:
    """Open one connection to the cluster for every reconciler."""
    applier = KubernetesApplier(field_manager="gitsync-kopf")
    memo.applier = await applier.__aenter__()
    memo.cache_dir = Path(tempfile.mkdtemp(prefix="gitsync-kopf-"))


@kopf.on.cleanup(registry=registry)
async def disconnect(memo: kopf.Memo, **_: Any) -> None:
    """Close the connection."""
    await memo.applier.__aexit__(None, None, None)


@kopf.daemon(GROUP, VERSION, PLURAL, registry=registry, cancellation_timeout=30)
async def follow(
    spec: Mapping[str, Any],
    name: str,
    namespace: str | None,
    memo: kopf.Memo,
    logger: logging.Logger | logging.LoggerAdapter[Any],
    **_: Any,
) -> None:
    """Keep the repository of one GitSync resource in sync until kopf cancels us."""
    applier: Applier = memo.applier
    results: dict[str, SyncResult] = memo.setdefault("results", {})
    namespace = namespace or "default"
    key = f"{namespace}/{name}"

    def report(result: SyncResult) -> None:
        results[key] = result
        if result.error is not None:
            logger.error("sync failed at %s: %s", result.revision or "?", result.error)
        else:
            logger.info("synced %s: %s", result.revision, result.counts())

    reconciler = Reconciler(
        f"gitsync-{name}",
        SpecSource(spec, memo.cache_dir, allow_file=memo.get("allow_file", False)),
        YamlRenderer(),
        applier,
        namespace=spec.get("targetNamespace", namespace),
        interval=float(spec.get("interval", 300)),
        callbacks=[report],
    )
    memo.setdefault("reconcilers", {})[key] = reconciler
    try:
        await reconciler.run()
    finally:
        memo.reconcilers.pop(key, None)
