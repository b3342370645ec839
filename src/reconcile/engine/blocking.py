"""A blocking facade over the async Reconciler, for scripts and notebooks.

:class:`BlockingReconciler` runs the async reconciler in an event loop thread
through anyio's blocking portal: it composes the async API, it does not
reimplement it. Use it as a context manager (the portal and the applier are
opened on enter and closed on exit).

Example:

    >>> import pathlib, tempfile
    >>> from reconcile.cluster import InMemoryCluster
    >>> from reconcile.render import YamlRenderer
    >>> from reconcile.sources import LocalSource
    >>> from reconcile.engine.reconciler import Reconciler
    >>> from reconcile.engine.blocking import BlockingReconciler
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> cm = "apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: c}\\n"
        >>> _ = (d / "cm.yaml").write_text(cm)
    >>> r = Reconciler("nb", LocalSource(d, cache_dir=tempfile.mkdtemp()), YamlRenderer(),
    ...                InMemoryCluster())
    >>> with BlockingReconciler(r) as sync_r:
    ...     print(len(sync_r.plan().creates), sync_r.sync().ready)
    1 True
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from anyio.from_thread import BlockingPortal, start_blocking_portal

from reconcile.engine.reconciler import Reconciler
from reconcile.engine.results import ReconcilePlan, SyncResult

__all__ = ["BlockingReconciler"]


class BlockingReconciler:
    """The blocking twin of a :class:`Reconciler`, by composition.

    Attributes:
        reconciler: the wrapped async reconciler.

    Example:

        >>> import anyio, pathlib, tempfile
        >>> from reconcile import InMemoryCluster, LocalSource, YamlRenderer
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> cm = "apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: c}\\n"
        >>> _ = (d / "cm.yaml").write_text(cm)
        >>> from reconcile import Reconciler
        >>> r = Reconciler("demo", LocalSource(d, cache_dir=tempfile.mkdtemp()), YamlRenderer(),
        ...                InMemoryCluster())
        >>> with BlockingReconciler(r) as blocking:
        ...     blocking.sync().ready, blocking.plan().in_sync
        (True, True)
    """

    def __init__(self, reconciler: Reconciler, *, backend: str = "asyncio") -> None:
        self.reconciler = reconciler
        self.backend = backend
        self._stack: ExitStack | None = None
        self._portal: BlockingPortal | None = None

    def __enter__(self) -> BlockingReconciler:
        stack = ExitStack()
        try:
            self._portal = stack.enter_context(start_blocking_portal(self.backend))
            stack.enter_context(self._portal.wrap_async_context_manager(self.reconciler))
        except BaseException:
            stack.close()
            raise
        self._stack = stack
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close the applier and stop the event loop thread."""
        if self._stack is not None:
            stack, self._stack, self._portal = self._stack, None, None
            stack.close()

    @property
    def portal(self) -> BlockingPortal:
        """The portal (opened on first use when not used as a context manager)."""
        if self._portal is None:
            self.__enter__()
        assert self._portal is not None
        return self._portal

    def plan(self) -> ReconcilePlan:
        """:meth:`Reconciler.plan`, blocking."""
        return self.portal.call(self.reconciler.plan)

    def sync(self, *, dry_run: bool = False) -> SyncResult:
        """:meth:`Reconciler.sync`, blocking."""
        return self.portal.call(lambda: self.reconciler.sync(dry_run=dry_run))

    def suspend(self) -> None:
        """:meth:`Reconciler.suspend`."""
        self.portal.call(_call, self.reconciler.suspend)

    def resume(self) -> None:
        """:meth:`Reconciler.resume`."""
        self.portal.call(_call, self.reconciler.resume)

    @property
    def last_result(self) -> SyncResult | None:
        """The last pass's result."""
        return self.reconciler.last_result


async def _call(fn: Any) -> None:
    fn()
