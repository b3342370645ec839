"""The Applier protocol and the values it takes and returns."""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

import attrs

from reconcile.errors import ApplyError
from reconcile.objects import JSONObject, ObjectRef

__all__ = [
    "DEFAULT_TAKEOVER_MANAGERS",
    "Action",
    "ApplyMode",
    "ApplyResult",
    "Applier",
    "Propagation",
    "ResourceInfo",
    "WatchEvent",
]

#: Field managers whose fields an applier adopts before applying (as Flux does):
#: what ``kubectl apply`` (client- and server-side), ``kubectl edit``/``create``
#: and the pre-managedFields era (``before-first-apply``) left behind.
DEFAULT_TAKEOVER_MANAGERS: tuple[str, ...] = (
    "kubectl",
    "kubectl-client-side-apply",
    "kubectl-edit",
    "kubectl-create",
    "kubectl-replace",
    "before-first-apply",
)


class ApplyMode(enum.Enum):
    """How an object is written.

    ``SERVER_SIDE`` (the default) is a server-side apply with the applier's
    field manager; ``CLIENT_SIDE`` is what ``kubectl apply`` does without
    ``--server-side`` (a three-way patch against the last-applied annotation);
    ``CREATE`` fails when the object exists; ``REPLACE`` writes the whole
    object over the live one (an update with optimistic locking).

    Example:

        >>> ApplyMode("client-side") is ApplyMode.CLIENT_SIDE
        True
    """

    SERVER_SIDE = "server-side"
    CLIENT_SIDE = "client-side"
    CREATE = "create"
    REPLACE = "replace"


class Action(enum.Enum):
    """What an operation did to one object.

    Example:

        >>> [a.value for a in (Action.CREATED, Action.UNCHANGED, Action.FAILED)]
        ['created', 'unchanged', 'failed']
    """

    CREATED = "created"
    CONFIGURED = "configured"
    UNCHANGED = "unchanged"
    #: Deleted and created again after an immutable-field error.
    RECREATED = "recreated"
    DELETED = "deleted"
    FAILED = "failed"


class Propagation(enum.Enum):
    """The deletion propagation policy (what happens to dependents).

    Example:

        >>> Propagation.FOREGROUND.value  # the propagationPolicy the API server receives
        'Foreground'
    """

    BACKGROUND = "Background"
    FOREGROUND = "Foreground"
    ORPHAN = "Orphan"


@attrs.frozen(slots=True)
class ResourceInfo:
    """One served resource: the REST mapping of a kind.

    >>> info = ResourceInfo("apps", "v1", "deployments", "Deployment", namespaced=True)
    >>> info.api_version, info.path("shop", "web")
    ('apps/v1', '/apis/apps/v1/namespaces/shop/deployments/web')
    >>> ResourceInfo("", "v1", "namespaces", "Namespace", namespaced=False).path(None, "x")
    '/api/v1/namespaces/x'
    """

    group: str
    version: str
    resource: str
    kind: str
    namespaced: bool
    verbs: frozenset[str] = frozenset()

    @property
    def api_version(self) -> str:
        """``group/version``, or ``version`` for the core group."""
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        """The REST path of the collection, or of one object when ``name`` is given."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.resource}"
        return f"{base}/{name}" if name else base

    def __str__(self) -> str:
        return f"{self.resource}.{self.group}" if self.group else self.resource


@attrs.frozen(slots=True)
class ApplyResult:
    """What happened to one object.

    Attributes:
        ref: the object.
        action: what was done (``FAILED`` when ``error`` is set).
        object: the object as the server returned it (None after a delete or a failure).
        status: the HTTP status of the last response, None when no request was sent.
        message: the server's message, or why nothing was sent.
        error: the typed error of a failure.
        dry_run: True when nothing was persisted.
        warnings: the server's warnings for this request (``Warning`` headers:
            unknown or duplicate fields it dropped, deprecated APIs...).

    Example:

        >>> from reconcile.objects import ObjectRef
        >>> r = ApplyResult(ObjectRef("v1", "ConfigMap", "c", "d"), Action.CONFIGURED, status=200)
        >>> r.changed, r.raise_for_error() is r
        (True, True)
    """

    ref: ObjectRef
    action: Action
    object: JSONObject | None = None
    status: int | None = None
    message: str = ""
    error: ApplyError | None = None
    dry_run: bool = False
    warnings: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        """Whether the cluster was (or, in a dry run, would be) changed."""
        return self.action in (Action.CREATED, Action.CONFIGURED, Action.RECREATED, Action.DELETED)

    def raise_for_error(self) -> ApplyResult:
        """Raise ``error`` when the operation failed; return self otherwise."""
        if self.error is not None:
            raise self.error
        return self


@attrs.frozen(slots=True)
class WatchEvent:
    """One change seen by a watch: ``ADDED``, ``MODIFIED`` or ``DELETED``.

    Example:

        >>> WatchEvent("ADDED", {"kind": "ConfigMap"}).type
        'ADDED'
    """

    type: str
    object: JSONObject


@runtime_checkable
class Applier(Protocol):
    """Talks to one cluster: read, apply and delete objects.

    Implementations: :class:`~reconcile.cluster.KubernetesApplier` (a real API
    server) and :class:`~reconcile.cluster.InMemoryCluster` (embedded). Every
    write carries the applier's ``field_manager``; a server-side apply only
    takes fields from other managers when ``force`` is True.

    ``apply`` and ``delete`` raise the typed errors of :mod:`reconcile.errors`;
    ``apply_all`` never raises for one object, it reports ``Action.FAILED``
    with the error in the result.

    Example:

        >>> import anyio
        >>> from reconcile.cluster import InMemoryCluster
        >>> async def demo(applier: Applier) -> str:
        ...     result = await applier.apply({"apiVersion": "v1", "kind": "ConfigMap",
        ...                                   "metadata": {"name": "c", "namespace": "default"}})
        ...     return result.action.value
        >>> anyio.run(demo, InMemoryCluster())
        'created'
    """

    field_manager: str

    async def get(self, ref: ObjectRef) -> JSONObject | None:
        """The live object, or None when it does not exist."""
        ...

    async def list_objects(
        self, api_version: str, kind: str, namespace: str | None = None
    ) -> list[JSONObject]:
        """Every live object of a kind (in one namespace, or in all)."""
        ...

    async def apply(
        self,
        obj: Mapping[str, Any],
        *,
        mode: ApplyMode = ApplyMode.SERVER_SIDE,
        force: bool = False,
        dry_run: bool = False,
    ) -> ApplyResult:
        """Make the live object match ``obj``."""
        ...

    async def apply_all(
        self,
        objs: Iterable[Mapping[str, Any]],
        *,
        mode: ApplyMode = ApplyMode.SERVER_SIDE,
        force: bool = False,
        dry_run: bool = False,
    ) -> list[ApplyResult]:
        """Apply many objects concurrently; one result per object, in order."""
        ...

    async def delete(
        self,
        ref: ObjectRef,
        *,
        propagation: Propagation = Propagation.BACKGROUND,
        dry_run: bool = False,
    ) -> ApplyResult:
        """Delete an object; an absent object is ``UNCHANGED``."""
        ...

    async def resource_for(self, api_version: str, kind: str) -> ResourceInfo:
        """The REST mapping of a kind (raises NotFoundError when not served)."""
        ...

    def watch(
        self, api_version: str, kind: str, namespace: str | None = None
    ) -> AsyncIterator[WatchEvent]:
        """Changes to objects of a kind, from now on."""
        ...
