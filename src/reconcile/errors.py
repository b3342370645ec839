"""One exception hierarchy for the whole library.

Every error says *what* went wrong and *where*: the file, document and line a
manifest came from (:class:`~reconcile.objects.Origin`), the object it concerns
(:class:`~reconcile.objects.ObjectRef`), and the JSON path of the field.
Secrets never reach a message: URLs are redacted before they are stored here.

The tree::

    ReconcileError
    ├── ConfigurationError        an option or argument is invalid
    ├── SourceError               fetching an artifact failed (URL is redacted)
    │   ├── SourceAuthError       credentials rejected or missing
    │   ├── RefNotFoundError      branch, tag, semver range or commit not found
    │   ├── SignatureError        commit or tag signature missing or untrusted
    │   └── SourceSecurityError   a refused transport, path, symlink or size
    ├── RenderError               turning an artifact into manifests failed
    │   ├── ManifestSyntaxError   YAML/JSON could not be parsed
    │   ├── ManifestValidationError  parsed, but not a valid object
    │   ├── DuplicateObjectError  the same object identity twice
    │   ├── SubstitutionError     an undefined variable in strict mode
    │   ├── RenderSecurityError   a path or symlink leaving the root, a size or alias limit
    │   └── ToolError             kustomize, helm or jsonnet failed
    ├── MergeError                a patch could not be computed or applied
    ├── DiffError                 drift could not be decided
    ├── ApplyError                the cluster refused or failed an operation
    │   ├── ConflictError         field-manager conflict (HTTP 409 on apply)
    │   ├── NotFoundError         HTTP 404, or a kind the cluster does not serve
    │   ├── ForbiddenError        HTTP 403 (RBAC)
    │   ├── InvalidError          HTTP 422
    │   │   └── ImmutableFieldError  an immutable field would change
    │   └── RetryableError        429, 5xx, a dropped connection, a CRD not ready
    ├── HealthError               an object is Failed or not ready in time
    ├── PruneRefusedError         a safety guard stopped a prune
    └── ControlPlaneError         reconcile.testing could not build/start/stop it

Example:

    >>> from reconcile.errors import ManifestSyntaxError, RenderError
    >>> from reconcile.objects import Origin
    >>> err = ManifestSyntaxError("mapping values are not allowed here",
    ...                           origin=Origin("apps/web.yaml", document=1, line=7, column=3))
    >>> isinstance(err, RenderError)
    True
    >>> str(err)
    'apps/web.yaml:7:3 (document 1): mapping values are not allowed here'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconcile.objects import ObjectRef, Origin

__all__ = [
    "ApplyError",
    "ConfigurationError",
    "ConflictError",
    "ControlPlaneError",
    "DiffError",
    "DuplicateObjectError",
    "FieldConflict",
    "ForbiddenError",
    "HealthError",
    "ImmutableFieldError",
    "InvalidError",
    "ManifestSyntaxError",
    "ManifestValidationError",
    "MergeError",
    "NotFoundError",
    "PruneRefusedError",
    "ReconcileError",
    "RefNotFoundError",
    "RenderError",
    "RenderSecurityError",
    "RetryableError",
    "SignatureError",
    "SourceAuthError",
    "SourceError",
    "SourceSecurityError",
    "SubstitutionError",
    "ToolError",
]


class ReconcileError(Exception):
    """The root of every error this library raises on purpose.

    Attributes:
        message: what went wrong, without the location prefix.
        origin: where the offending manifest came from, when known.
        ref: the Kubernetes object concerned, when known.
        path: the JSON path of the offending field (``spec.template.spec``), when known.

    Example:

        >>> from reconcile.objects import ObjectRef
        >>> err = ReconcileError("replicas must be a number",
        ...                      ref=ObjectRef("apps/v1", "Deployment", "web", "shop"),
        ...                      path="spec.replicas")
        >>> str(err)
        'apps/Deployment shop/web, field spec.replicas: replicas must be a number'
        >>> err.message, err.path
        ('replicas must be a number', 'spec.replicas')
    """

    def __init__(
        self,
        message: str,
        *,
        origin: Origin | None = None,
        ref: ObjectRef | None = None,
        path: str | None = None,
    ) -> None:
        self.message = message
        self.origin = origin
        self.ref = ref
        self.path: str | None = path
        super().__init__(self._render())

    def _render(self) -> str:
        parts: list[str] = []
        if self.origin is not None:
            parts.append(str(self.origin))
        if self.ref is not None:
            parts.append(str(self.ref))
        if self.path:
            parts.append(f"field {self.path}")
        prefix = ", ".join(parts)
        return f"{prefix}: {self.message}" if prefix else self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep keyword-only context across pickling (multiprocessing, pytest-xdist).
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))


def _rebuild(cls: type[ReconcileError], message: str, state: dict[str, Any]) -> ReconcileError:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(state)
    Exception.__init__(err, err._render())
    return err


class ConfigurationError(ReconcileError):
    """An option, argument or environment setting is invalid.

    >>> str(ConfigurationError("interval must be positive"))
    'interval must be positive'
    """


class SourceError(ReconcileError):
    """Fetching an artifact failed.

    Attributes:
        url: the source URL with any credentials removed.

    >>> str(SourceError("connection refused", url="https://git.example.com/org/repo.git"))
    'https://git.example.com/org/repo.git: connection refused'
    """

    def __init__(self, message: str, *, url: str | None = None, **context: Any) -> None:
        self.url = url
        super().__init__(message, **context)

    def _render(self) -> str:
        base = super()._render()
        return f"{self.url}: {base}" if self.url else base


class SourceAuthError(SourceError):
    """The server rejected the credentials, or none were given where needed.

    >>> err = SourceAuthError("authentication failed", url="https://git.example.com/r.git")
    >>> isinstance(err, SourceError), err.url
    (True, 'https://git.example.com/r.git')
    """


class RefNotFoundError(SourceError):
    """The branch, tag, semver range or commit does not exist at the source.

    >>> str(RefNotFoundError("no tag matches >=2.0", url="https://git.example.com/r.git"))
    'https://git.example.com/r.git: no tag matches >=2.0'
    """


class SignatureError(SourceError):
    """A commit or tag is unsigned, or signed by a key that is not trusted.

    >>> issubclass(SignatureError, SourceError)
    True
    """


class SourceSecurityError(SourceError):
    """A transport, URL, ref, path or size was refused by a safety rule.

    >>> str(SourceSecurityError("file:// URLs are not allowed"))
    'file:// URLs are not allowed'
    """


class RenderError(ReconcileError):
    """Turning an artifact into manifests failed; no manifest is returned.

    >>> from reconcile.objects import Origin
    >>> str(RenderError("no manifests", origin=Origin("deploy/")))
    'deploy/ (document 0): no manifests'
    """


class ManifestSyntaxError(RenderError):
    """A file could not be parsed as YAML or JSON.

    >>> from reconcile.objects import Origin
    >>> str(ManifestSyntaxError("unclosed quote", origin=Origin("a.yaml", document=0, line=3)))
    'a.yaml:3 (document 0): unclosed quote'
    """


class ManifestValidationError(RenderError):
    """A document parsed but is not a valid Kubernetes object.

    >>> str(ManifestValidationError("kind is missing", path="kind"))
    'field kind: kind is missing'
    """


class DuplicateObjectError(RenderError):
    """The same object identity was rendered twice.

    Attributes:
        other: the origin of the first occurrence.

    >>> from reconcile.objects import ObjectRef, Origin
    >>> str(DuplicateObjectError("defined twice", ref=ObjectRef("v1", "ConfigMap", "c", "d"),
    ...                          origin=Origin("b.yaml"), other=Origin("a.yaml")))
    'b.yaml (document 0), ConfigMap d/c: defined twice (first defined at a.yaml (document 0))'
    """

    def __init__(self, message: str, *, other: Origin | None = None, **context: Any) -> None:
        self.other = other
        super().__init__(message, **context)

    def _render(self) -> str:
        base = super()._render()
        return f"{base} (first defined at {self.other})" if self.other is not None else base


class SubstitutionError(RenderError):
    """Variable substitution failed (an undefined variable in strict mode).

    >>> str(SubstitutionError("undefined variable ${CLUSTER}", path="data.url"))
    'field data.url: undefined variable ${CLUSTER}'
    """


class RenderSecurityError(RenderError):
    """Input was refused by a safety rule.

    A path or symlink leaving the artifact root, a file over the size limit,
    aliases expanding past their budget.

    >>> issubclass(RenderSecurityError, RenderError)
    True
    """


class ToolError(RenderError):
    """An external renderer (kustomize, helm, jsonnet) failed.

    Attributes:
        tool: the program's name.
        stderr: the tail of its error output, secrets removed.

    >>> err = ToolError("helm template failed", tool="helm", stderr="Error: chart not found")
    >>> err.tool, err.stderr
    ('helm', 'Error: chart not found')
    """

    def __init__(self, message: str, *, tool: str, stderr: str = "", **context: Any) -> None:
        self.tool = tool
        self.stderr = stderr
        super().__init__(message, **context)


class MergeError(ReconcileError):
    """A patch could not be created or applied; ``path`` names the field.

    >>> str(MergeError("the list item has no merge key", path="spec.containers[0]"))
    'field spec.containers[0]: the list item has no merge key'
    """


class DiffError(ReconcileError):
    """Drift could not be decided for an object.

    >>> issubclass(DiffError, ReconcileError)
    True
    """


class ApplyError(ReconcileError):
    """The cluster refused or failed an operation on an object.

    Attributes:
        status: the HTTP status code, when the server answered.
        reason: the Kubernetes ``Status.reason`` (``Conflict``, ``Invalid``, ...).
        details: the parsed Kubernetes ``Status`` object, when there was one.

    >>> err = ApplyError("admission webhook denied the request", status=400, reason="BadRequest")
    >>> err.status, err.reason
    (400, 'BadRequest')
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        reason: str | None = None,
        details: Mapping[str, Any] | None = None,
        **context: Any,
    ) -> None:
        self.status = status
        self.reason = reason
        self.details: dict[str, Any] | None = dict(details) if details is not None else None
        super().__init__(message, **context)


class FieldConflict:
    """One field owned by another manager with a different value.

    Attributes:
        manager: the field manager that owns the field.
        path: the field, in the API server's notation (``.spec.replicas``).

    >>> FieldConflict("kubectl-edit", ".spec.replicas")
    FieldConflict(manager='kubectl-edit', path='.spec.replicas')
    """

    __slots__ = ("manager", "path")

    def __init__(self, manager: str, path: str) -> None:
        self.manager: str = manager
        self.path: str = path

    def __repr__(self) -> str:
        return f"FieldConflict(manager={self.manager!r}, path={self.path!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FieldConflict):
            return NotImplemented
        return (self.manager, self.path) == (other.manager, other.path)

    def __hash__(self) -> int:
        return hash((self.manager, self.path))


class ConflictError(ApplyError):
    """A server-side apply conflicts with fields another manager owns (HTTP 409).

    Attributes:
        conflicts: each conflicting field with the manager that owns it.

    >>> err = ConflictError("Apply failed with 1 conflict",
    ...                     conflicts=[FieldConflict("kubectl-edit", ".spec.replicas")])
    >>> err.status, err.reason, err.conflicts[0].manager
    (409, 'Conflict', 'kubectl-edit')
    """

    def __init__(
        self, message: str, *, conflicts: Sequence[FieldConflict] = (), **context: Any
    ) -> None:
        self.conflicts: tuple[FieldConflict, ...] = tuple(conflicts)
        context.setdefault("status", 409)
        context.setdefault("reason", "Conflict")
        super().__init__(message, **context)


class NotFoundError(ApplyError):
    """The object, or its kind, does not exist on the cluster.

    >>> NotFoundError("the server does not serve Widget", status=404).status
    404
    """


class ForbiddenError(ApplyError):
    """RBAC denied the operation; the message names the verb and resource.

    >>> issubclass(ForbiddenError, ApplyError)
    True
    """


class InvalidError(ApplyError):
    """The server rejected the object as invalid (HTTP 422).

    >>> InvalidError("spec.replicas: must be >= 0", status=422, path="spec.replicas").path
    'spec.replicas'
    """


class ImmutableFieldError(InvalidError):
    """The change touches a field that cannot change after creation.

    >>> issubclass(ImmutableFieldError, InvalidError)
    True
    """


class RetryableError(ApplyError):
    """A transient failure: throttling, a server error, a CRD not yet established.

    >>> RetryableError("too many requests", status=429).status
    429
    """


class HealthError(ReconcileError):
    """An object is Failed, or did not become Current within its timeout.

    >>> from reconcile.objects import ObjectRef
    >>> str(HealthError("not Current after 120 s: InProgress",
    ...                 ref=ObjectRef("apps/v1", "Deployment", "web", "shop")))
    'apps/Deployment shop/web: not Current after 120 s: InProgress'
    """


class PruneRefusedError(ReconcileError):
    """A safety guard refused to prune (failed render, empty set, protected object).

    >>> str(PruneRefusedError("the desired set is empty; refusing to prune 12 objects"))
    'the desired set is empty; refusing to prune 12 objects'
    """


class ControlPlaneError(ReconcileError):
    """The test control plane could not be built, started, or stopped.

    The message names the binary and its flags and ends with the last lines of
    its log.

    >>> issubclass(ControlPlaneError, ReconcileError)
    True
    """
