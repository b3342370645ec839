"""Jsonnet programs, evaluated by the ``jsonnet`` package (``reconcile[jsonnet]``).

The program's output may be one object, a list of objects, or an object
whose values are objects or lists of them at any depth (the kubecfg
convention); ``kind: List`` is flattened. Imports are resolved from the
importing file's directory, then from the library paths in order; an import
that leaves the artifact root (and the library paths) is refused.

Example:

    >>> from reconcile.render import JsonnetRenderer
    >>> r = JsonnetRenderer("main.jsonnet", ext_vars={"env": "prod"},
    ...                     tla_code={"replicas": "3"})
    >>> r.cache_key().startswith("jsonnet(")
    True
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio.to_thread
import orjson

from reconcile.errors import ConfigurationError, RenderError, RenderSecurityError, ToolError
from reconcile.objects import Manifest, Origin
from reconcile.render._base import (
    DEFAULT_VALIDATION,
    ArtifactLike,
    Validation,
    finalize,
    flatten,
    render_key,
)
from reconcile.render._paths import inside, relative, resolve_inside

__all__ = ["JsonnetRenderer"]


def _objects(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Kubernetes objects in a Jsonnet output, with their JSON path."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            yield from _objects(item, f"{path}[{i}]")
    elif isinstance(value, dict) and ("apiVersion" in value or "kind" in value):
        yield path, value
    elif isinstance(value, dict):
        for key in sorted(value):
            yield from _objects(value[key], f"{path}.{key}" if path else key)
    else:
        yield path, value  # a scalar: flatten() reports it


class JsonnetRenderer:
    """Evaluates a Jsonnet file of the artifact.

    Args:
        path: the ``.jsonnet`` file inside the artifact.
        ext_vars: external string variables (``std.extVar``).
        ext_code: external variables given as Jsonnet code.
        tla_vars: top-level string arguments.
        tla_code: top-level arguments given as Jsonnet code.
        library_paths: directories searched for imports (relative ones are
            inside the artifact).
        max_stack: Jsonnet's stack depth limit.
        validation: scope and namespace rules.

    Example:

        >>> JsonnetRenderer("main.jsonnet", ext_vars={"env": "prod"}).ext_vars
        {'env': 'prod'}
    """

    def __init__(
        self,
        path: str,
        *,
        ext_vars: Mapping[str, str] | None = None,
        ext_code: Mapping[str, str] | None = None,
        tla_vars: Mapping[str, str] | None = None,
        tla_code: Mapping[str, str] | None = None,
        library_paths: Sequence[str] = (),
        max_stack: int = 500,
        validation: Validation = DEFAULT_VALIDATION,
    ) -> None:
        self.path = path
        self.ext_vars: dict[str, str] = dict(ext_vars or {})
        self.ext_code: dict[str, str] = dict(ext_code or {})
        self.tla_vars: dict[str, str] = dict(tla_vars or {})
        self.tla_code: dict[str, str] = dict(tla_code or {})
        self.library_paths: tuple[str, ...] = tuple(library_paths)
        self.max_stack = max_stack
        self.validation = validation

    def cache_key(self) -> str:
        """Every option that changes the output."""
        return render_key(
            "jsonnet",
            path=self.path,
            ext_vars=sorted(self.ext_vars.items()),
            ext_code=sorted(self.ext_code.items()),
            tla_vars=sorted(self.tla_vars.items()),
            tla_code=sorted(self.tla_code.items()),
            library_paths=self.library_paths,
            max_stack=self.max_stack,
            validation=self.validation,
        )

    def render_sync(self, artifact: ArtifactLike) -> tuple[Manifest, ...]:
        """Evaluate in the calling thread."""
        try:
            import _jsonnet
        except ImportError as exc:  # pragma: no cover - the extra is part of dev
            raise ConfigurationError(
                "Jsonnet needs the jsonnet package: pip install 'reconcile[jsonnet]'"
            ) from exc
        root = Path(artifact.path)
        main = resolve_inside(root, root, self.path, what="jsonnet file")
        rel = relative(main, root)
        libraries = [
            Path(p) if os.path.isabs(p) else resolve_inside(root, root, p, what="library path")
            for p in self.library_paths
        ]
        refused: list[RenderError] = []

        def allowed(path: Path) -> bool:
            return inside(path, root) or any(inside(path, lib) for lib in libraries)

        def import_callback(directory: str, name: str) -> tuple[str, bytes]:
            for base in (Path(directory), *libraries):
                candidate = base / name
                if candidate.is_file():
                    if not allowed(candidate):
                        error = RenderSecurityError(
                            f"import {name!r} leaves the artifact root",
                            origin=Origin(relative(Path(directory), root) or rel),
                        )
                        refused.append(error)
                        raise RuntimeError(error.message)
                    return str(candidate), candidate.read_bytes()
            raise RuntimeError(f"import {name!r} not found")

        try:
            output = _jsonnet.evaluate_file(
                str(main),
                max_stack=self.max_stack,
                ext_vars=self.ext_vars,
                ext_codes=self.ext_code,
                tla_vars=self.tla_vars,
                tla_codes=self.tla_code,
                import_callback=import_callback,
            )
        except RuntimeError as exc:
            if refused:
                raise refused[0] from exc
            message = str(exc).replace(str(root) + os.sep, "")
            raise ToolError(
                f"jsonnet failed: {message.strip()}",
                tool="jsonnet",
                stderr=message,
                origin=Origin(rel, renderer="jsonnet"),
            ) from exc
        value = orjson.loads(output)
        manifests: list[Manifest] = []
        for index, (path, obj) in enumerate(_objects(value, "")):
            origin = Origin(rel if not path else f"{rel}#{path}", index, renderer="jsonnet")
            manifests.extend(flatten(obj, origin))
        return finalize(manifests, self.validation)

    async def render(self, artifact: ArtifactLike) -> tuple[Manifest, ...]:
        """Evaluate the program in a worker thread and validate its objects."""
        return await anyio.to_thread.run_sync(self.render_sync, artifact)
