"""reconcile: make a Kubernetes cluster match what a Git repository declares.

A typed, async GitOps reconciliation library. The loop is
Source -> Renderer -> Differ -> Applier, driven by a Reconciler; see the
documentation for the whole picture.

Everything public is re-exported here and listed in ``__all__``.

>>> import reconcile
>>> issubclass(reconcile.RenderError, reconcile.ReconcileError)
True
"""

from reconcile.diff import DefaultDiffer, Differ, FieldChange, ObjectDiff
from reconcile.errors import (
    ApplyError,
    ConfigurationError,
    ConflictError,
    ControlPlaneError,
    DiffError,
    DuplicateObjectError,
    FieldConflict,
    ForbiddenError,
    HealthError,
    ImmutableFieldError,
    InvalidError,
    ManifestSyntaxError,
    ManifestValidationError,
    MergeError,
    NotFoundError,
    PruneRefusedError,
    ReconcileError,
    RefNotFoundError,
    RenderError,
    RenderSecurityError,
    RetryableError,
    SignatureError,
    SourceAuthError,
    SourceError,
    SourceSecurityError,
    SubstitutionError,
    ToolError,
)
from reconcile.merge import IgnoreRule
from reconcile.objects import Manifest, ObjectRef, Origin

__version__ = "0.1.0.dev0"

__all__ = [
    "ApplyError",
    "ConfigurationError",
    "ConflictError",
    "ControlPlaneError",
    "DefaultDiffer",
    "DiffError",
    "Differ",
    "DuplicateObjectError",
    "FieldChange",
    "FieldConflict",
    "ForbiddenError",
    "HealthError",
    "IgnoreRule",
    "ImmutableFieldError",
    "InvalidError",
    "Manifest",
    "ManifestSyntaxError",
    "ManifestValidationError",
    "MergeError",
    "NotFoundError",
    "ObjectDiff",
    "ObjectRef",
    "Origin",
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
    "__version__",
]
