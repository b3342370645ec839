"""Renderers turn an artifact into manifests: YAML, Kustomize, Helm, Jsonnet, Python callables.

Every renderer follows :class:`Renderer`: ``await renderer.render(artifact)``
returns a tuple of :class:`~reconcile.objects.Manifest`, each with its
origin, or raises a :class:`~reconcile.errors.RenderError` and returns
nothing. :class:`Chain` runs post-renderers such as :class:`Substitute`
after a renderer; :class:`CachedRenderer` remembers results by the artifact's
checksum and the options.

>>> from reconcile.render import Renderer, YamlRenderer
>>> isinstance(YamlRenderer(), Renderer)
True
"""

from reconcile.render._base import (
    ArtifactLike,
    CachedRenderer,
    Chain,
    DirectoryArtifact,
    PostRenderer,
    Renderer,
    ScopeLookup,
    Validation,
    builtin_scope,
    finalize,
    first_scope,
)
from reconcile.render._function import FunctionRenderer, RenderFunction
from reconcile.render._helm import HelmRenderer
from reconcile.render._jsonnet import JsonnetRenderer
from reconcile.render._kustomize import KustomizeRenderer
from reconcile.render._plain import YamlRenderer, load_manifests
from reconcile.render._substitute import (
    DISABLE_KEY,
    Substitute,
    substitute_text,
    variables_from,
)
from reconcile.render._yaml import HAVE_C_PARSER, LoadedDocument, YamlLimits, load_yaml

__all__ = [
    "DISABLE_KEY",
    "HAVE_C_PARSER",
    "ArtifactLike",
    "CachedRenderer",
    "Chain",
    "DirectoryArtifact",
    "FunctionRenderer",
    "HelmRenderer",
    "JsonnetRenderer",
    "KustomizeRenderer",
    "LoadedDocument",
    "PostRenderer",
    "RenderFunction",
    "Renderer",
    "ScopeLookup",
    "Substitute",
    "Validation",
    "YamlLimits",
    "YamlRenderer",
    "builtin_scope",
    "finalize",
    "first_scope",
    "load_manifests",
    "load_yaml",
    "substitute_text",
    "variables_from",
]
