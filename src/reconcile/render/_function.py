"""Any Python callable as a renderer: for notebooks and operators.

Example:

    >>> import anyio
    >>> from reconcile.render import FunctionRenderer, DirectoryArtifact
    >>> async def configmaps(artifact):
    ...     return [{"apiVersion": "v1", "kind": "ConfigMap",
    ...              "metadata": {"name": f"cm-{i}", "namespace": "x"}} for i in range(2)]
    >>> renderer = FunctionRenderer(configmaps)
    >>> [str(m.origin) for m in anyio.run(renderer.render, DirectoryArtifact("."))]
    ['configmaps (document 0) via function', 'configmaps (document 1) via function']
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import anyio.to_thread

from reconcile.errors import ManifestValidationError, RenderError
from reconcile.objects import Manifest, Origin
from reconcile.render._base import (
    DEFAULT_VALIDATION,
    ArtifactLike,
    Validation,
    finalize,
    flatten,
    render_key,
)

__all__ = ["FunctionRenderer", "RenderFunction"]

#: What a render function returns: objects (dicts) or Manifests, possibly awaited.
RenderOutput = Iterable[Mapping[str, Any] | Manifest]
RenderFunction = Callable[[ArtifactLike], RenderOutput | Awaitable[RenderOutput]]


class FunctionRenderer:
    """Calls ``function(artifact)``; sync functions run in a worker thread.

    The function returns an iterable of dicts (or Manifests). Objects are
    copied, so the function may reuse its own data. Any exception other than
    a RenderError becomes a RenderError naming the function.

    Args:
        function: the callable.
        name: how origins name it (the function's qualified name by default).
        key: a string for the cache key; by default the function's identity,
            so results are cached per artifact revision only when you say the
            function is deterministic by passing a key.
        validation: scope and namespace rules.

    Example:

        >>> import anyio
        >>> from reconcile.render import DirectoryArtifact
        >>> def objects(artifact):
        ...     return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}]
        >>> art = DirectoryArtifact(".")
        >>> [str(m.ref) for m in anyio.run(FunctionRenderer(objects).render, art)]
        ['Namespace team-a']
    """

    def __init__(
        self,
        function: RenderFunction,
        *,
        name: str | None = None,
        key: str | None = None,
        validation: Validation = DEFAULT_VALIDATION,
    ) -> None:
        self.function = function
        self.name: str = name or getattr(function, "__qualname__", None) or repr(function)
        self.key = key
        self.validation = validation

    def cache_key(self) -> str:
        """The function's name and key (its identity when no key was given)."""
        return render_key(
            "function",
            function=self.name,
            key=self.key if self.key is not None else id(self.function),
            validation=self.validation,
        )

    async def render(self, artifact: ArtifactLike) -> tuple[Manifest, ...]:
        """Call the function and validate what it returned."""
        try:
            if inspect.iscoroutinefunction(self.function):
                output = await self.function(artifact)
            else:
                output = await anyio.to_thread.run_sync(self.function, artifact)
                if inspect.isawaitable(output):
                    output = await output
            items = list(output)
        except RenderError:
            raise
        except Exception as exc:
            raise RenderError(
                f"render function failed: {type(exc).__name__}: {exc}",
                origin=Origin(self.name, renderer="function"),
            ) from exc
        manifests: list[Manifest] = []
        for index, item in enumerate(items):
            origin = Origin(self.name, document=index, renderer="function")
            if isinstance(item, Manifest):
                manifests.append(Manifest(copy.deepcopy(item.obj), item.origin or origin))
            elif isinstance(item, Mapping):
                manifests.extend(flatten(copy.deepcopy(dict(item)), origin))
            else:
                raise ManifestValidationError(
                    f"a render function must return mappings or Manifests, "
                    f"not {type(item).__name__}",
                    origin=origin,
                )
        return finalize(manifests, self.validation)
