"""reconcile: make a Kubernetes cluster match what a Git repository declares.

A typed, async GitOps reconciliation library. The loop is
Source -> Renderer -> Differ -> Applier, driven by a Reconciler; see the
documentation for the whole picture.

Everything public is re-exported here and listed in ``__all__``.

>>> import reconcile
>>> issubclass(reconcile.RenderError, reconcile.ReconcileError)
True
"""

from reconcile.cluster import (
    Applier,
    ApplyMode,
    InMemoryCluster,
    KubernetesApplier,
    Propagation,
)
from reconcile.diff import DefaultDiffer, Differ, FieldChange, ObjectDiff
from reconcile.engine import (
    ApplySetParent,
    BlockingReconciler,
    DriftMode,
    HealthChecks,
    HealthResult,
    ObjectOutcome,
    Outcome,
    ReconcileCondition,
    ReconcilePlan,
    Reconciler,
    Status,
    SyncResult,
    sync_all,
)
from reconcile.engine.metrics import PrometheusMetrics
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
from reconcile.render import HelmRenderer, KustomizeRenderer, Renderer, YamlRenderer
from reconcile.sources import GitRef, GitSource, LocalSource, Source

__version__ = "0.1.0.dev0"

__all__ = [
    "Applier",
    "ApplyError",
    "ApplyMode",
    "ApplySetParent",
    "BlockingReconciler",
    "ConfigurationError",
    "ConflictError",
    "ControlPlaneError",
    "DefaultDiffer",
    "DiffError",
    "Differ",
    "DriftMode",
    "DuplicateObjectError",
    "FieldChange",
    "FieldConflict",
    "ForbiddenError",
    "GitRef",
    "GitSource",
    "HealthChecks",
    "HealthError",
    "HealthResult",
    "HelmRenderer",
    "IgnoreRule",
    "ImmutableFieldError",
    "InMemoryCluster",
    "InvalidError",
    "KubernetesApplier",
    "KustomizeRenderer",
    "LocalSource",
    "Manifest",
    "ManifestSyntaxError",
    "ManifestValidationError",
    "MergeError",
    "NotFoundError",
    "ObjectDiff",
    "ObjectOutcome",
    "ObjectRef",
    "Origin",
    "Outcome",
    "PrometheusMetrics",
    "Propagation",
    "PruneRefusedError",
    "ReconcileCondition",
    "ReconcileError",
    "ReconcilePlan",
    "Reconciler",
    "RefNotFoundError",
    "RenderError",
    "RenderSecurityError",
    "Renderer",
    "RetryableError",
    "SignatureError",
    "Source",
    "SourceAuthError",
    "SourceError",
    "SourceSecurityError",
    "Status",
    "SubstitutionError",
    "SyncResult",
    "ToolError",
    "YamlRenderer",
    "__version__",
    "sync_all",
]
