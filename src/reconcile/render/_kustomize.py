"""Kustomize overlays, built by the real kustomize.

Before kustomize runs, every local path a kustomization names (resources,
components, patches, generator files, ...) is checked, through nested
kustomizations: none may leave the artifact root, by ``../`` or by a
symlink; remote bases are refused unless allowed. kustomize then builds
with its load restrictor on (files only from within each kustomization's
directory). Where the directory has no kustomization file, one is generated
as Flux does: every ``.yaml``/``.yml`` file below it, and every
subdirectory that has its own kustomization file, in lexical order.

Example:

    >>> from reconcile.render import KustomizeRenderer
    >>> KustomizeRenderer("overlays/prod").cache_key().startswith("kustomize(")
    True
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import orjson

from reconcile.errors import ManifestValidationError, RenderError, RenderSecurityError
from reconcile.objects import Manifest, Origin
from reconcile.render._base import (
    DEFAULT_VALIDATION,
    ArtifactLike,
    Validation,
    finalize,
    flatten,
    render_key,
)
from reconcile.render._paths import RealPaths, inside, relative, resolve_inside
from reconcile.render._plain import load_manifests
from reconcile.render._tools import find_helm, find_kustomize, run_tool
from reconcile.render._yaml import DEFAULT_LIMITS, YamlLimits, load_yaml

__all__ = [
    "KUSTOMIZATION_FILES",
    "ORIGIN_ANNOTATION",
    "KustomizeRenderer",
    "generate_kustomization",
]

#: The file names kustomize recognizes, in its order of preference.
KUSTOMIZATION_FILES: Final = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_REMOTE_PREFIXES: Final = ("github.com/", "gitlab.com/", "bitbucket.org/", "git@", "git::")


def _kustomization_file(directory: Path) -> Path | None:
    for name in KUSTOMIZATION_FILES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def _is_remote(entry: str) -> bool:
    return "://" in entry or entry.startswith(_REMOTE_PREFIXES) or "?ref=" in entry


def _looks_inline(entry: str) -> bool:
    """Inline patches and generator configs are YAML text, not file names."""
    return "\n" in entry or entry.lstrip().startswith(("apiVersion:", "kind:", "{", "-"))


def _path_entries(k: dict[str, Any]) -> Iterator[tuple[str, str, bool]]:
    """(field path, file or directory name, may be a kustomization directory)."""
    for field in ("resources", "bases", "components"):
        for i, entry in enumerate(k.get(field) or []):
            if isinstance(entry, str):
                yield f"{field}[{i}]", entry, True
    for field in ("crds", "configurations", "patchesStrategicMerge"):
        for i, entry in enumerate(k.get(field) or []):
            if isinstance(entry, str) and not _looks_inline(entry):
                yield f"{field}[{i}]", entry, False
    for field in ("generators", "transformers", "validators"):
        for i, entry in enumerate(k.get(field) or []):
            if isinstance(entry, str) and not _looks_inline(entry):
                yield f"{field}[{i}]", entry, True
    for field in ("patches", "patchesJson6902", "replacements"):
        for i, entry in enumerate(k.get(field) or []):
            if isinstance(entry, dict) and isinstance(entry.get("path"), str):
                yield f"{field}[{i}].path", entry["path"], False
    for field in ("configMapGenerator", "secretGenerator"):
        for i, gen in enumerate(k.get(field) or []):
            if not isinstance(gen, dict):
                continue
            for j, entry in enumerate(gen.get("files") or []):
                if isinstance(entry, str):
                    name = entry.split("=", 1)[1] if "=" in entry else entry
                    yield f"{field}[{i}].files[{j}]", name, False
            for j, entry in enumerate(gen.get("envs") or []):
                if isinstance(entry, str):
                    yield f"{field}[{i}].envs[{j}]", entry, False
            if isinstance(gen.get("env"), str):
                yield f"{field}[{i}].env", gen["env"], False
    openapi = k.get("openapi")
    if isinstance(openapi, dict) and isinstance(openapi.get("path"), str):
        yield "openapi.path", openapi["path"], False
    for i, chart in enumerate(k.get("helmCharts") or []):
        if not isinstance(chart, dict):
            continue
        if isinstance(chart.get("valuesFile"), str) and not _is_remote(chart["valuesFile"]):
            yield f"helmCharts[{i}].valuesFile", chart["valuesFile"], False
        for j, entry in enumerate(chart.get("additionalValuesFiles") or []):
            if isinstance(entry, str) and not _is_remote(entry):
                yield f"helmCharts[{i}].additionalValuesFiles[{j}]", entry, False
    helm = k.get("helmGlobals")
    if isinstance(helm, dict) and isinstance(helm.get("chartHome"), str):
        yield "helmGlobals.chartHome", helm["chartHome"], False


def check_tree(
    root: Path,
    directory: Path,
    *,
    allow_remote: bool,
    limits: YamlLimits,
    seen: set[str] | None = None,
    paths: RealPaths | None = None,
    notes: set[str] | None = None,
) -> None:
    """Check every path the kustomization in ``directory`` names, recursively.

    ``notes`` collects ``"buildMetadata"`` when a kustomization of the tree
    sets it, and ``"component"`` when the first one is a Component.

    Raises:
        RenderSecurityError: a path leaves ``root`` or a remote base is refused.
        ManifestSyntaxError: a kustomization file is not valid YAML.
    """
    seen = set() if seen is None else seen
    paths = RealPaths(root) if paths is None else paths
    real = paths.real(directory)
    if real in seen:
        return
    seen.add(real)
    kfile = _kustomization_file(directory)
    if kfile is None:
        return
    rel = relative(kfile, root)
    if not paths.inside(kfile):
        raise RenderSecurityError(
            "a kustomization file leaves the artifact root", origin=Origin(rel)
        )
    docs = load_yaml(kfile.read_bytes(), rel, limits=limits)
    if not docs:
        return
    k = docs[0].value
    if not isinstance(k, dict):
        raise ManifestValidationError("a kustomization must be a mapping", origin=Origin(rel))
    origin = Origin(rel, docs[0].index, docs[0].line)
    if notes is not None:
        if "buildMetadata" in k:
            notes.add("buildMetadata")
        if len(seen) == 1 and k.get("kind") == "Component":
            notes.add("component")
    for field, entry, may_be_dir in _path_entries(k):
        if _is_remote(entry):
            if not allow_remote:
                raise RenderSecurityError(
                    f"remote base {entry!r} refused (allow_remote=False)", origin=origin, path=field
                )
            continue
        target = resolve_inside(
            root, directory, entry, what="kustomize path", origin=origin, path=field, paths=paths
        )
        if may_be_dir and target.is_dir():
            check_tree(
                root,
                target,
                allow_remote=allow_remote,
                limits=limits,
                seen=seen,
                paths=paths,
                notes=notes,
            )


ORIGIN_ANNOTATION: Final = "config.kubernetes.io/origin"
_ORIGIN_FIELD: Final = re.compile(r"^(path|configuredIn|repo|ref): *(.*?) *$", re.MULTILINE)


def _link_or_copy(source: str, destination: str) -> None:
    """A hard link where the file system allows it (nothing to copy), else a copy.

    kustomize only reads the files; the one file written into the copy, the
    generated kustomization, is a new file, never a link.
    """
    try:
        os.link(source, destination, follow_symlinks=False)
    except OSError:
        shutil.copy2(source, destination, follow_symlinks=False)


def _wrapper(tmp: Path, target: Path) -> Path:
    """Our kustomization that builds ``target`` with origin annotations.

    It names ``target`` as a resource: a directory, which kustomize's load
    restrictor allows from anywhere (it restricts the files a kustomization
    reads to its own directory).
    """
    wrapper = tmp / "origins"
    wrapper.mkdir()
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(target, wrapper)],
        "buildMetadata": ["originAnnotations"],
    }
    (wrapper / "kustomization.yaml").write_bytes(orjson.dumps(kustomization))
    return wrapper


def _take_origin(obj: Any, wrapper: Path, root: Path, copy: Path | None) -> str | None:
    """Remove kustomize's origin annotation from ``obj``; the file it names, from ``root``."""
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    if not isinstance(annotations, dict):
        return None
    text = annotations.pop(ORIGIN_ANNOTATION, None)
    if not annotations and isinstance(meta, dict):
        del meta["annotations"]  # kustomize made it for the origin
    if not isinstance(text, str):
        return None
    fields: dict[str, str] = {}
    for name, value in _ORIGIN_FIELD.findall(text):
        if value[:1] in ("'", '"'):
            loaded = load_yaml(f"v: {value}", "origin").pop().value.get("v")
            value = loaded if isinstance(loaded, str) else value
        fields.setdefault(name, value)
    if "repo" in fields:  # a remote base: the repository, the path in it, the ref
        ref = f"?ref={fields['ref']}" if "ref" in fields else ""
        return f"{fields['repo']}//{fields.get('path', '')}{ref}"
    path = fields.get("path") or fields.get("configuredIn")
    if not path:
        return None
    full = os.path.normpath(os.path.join(wrapper, path))
    if copy is not None and (full + "/").startswith(str(copy) + "/"):
        full = os.path.join(root, os.path.relpath(full, copy))
    return relative(Path(full), root)


def generate_kustomization(directory: Path, root: Path, limits: YamlLimits) -> dict[str, Any]:
    """The kustomization Flux generates for a directory that has none.

    Every ``.yaml``/``.yml`` file below ``directory`` (each must parse as
    Kubernetes objects) and every subdirectory holding a kustomization file
    (not descended into), in lexical order, relative to ``directory``.
    """
    resources: list[str] = []

    def visit(current: Path) -> None:
        for entry in sorted(os.scandir(current), key=lambda e: e.name):
            path = Path(entry.path)
            if entry.is_symlink() and not inside(path, root):
                raise RenderSecurityError(
                    "a symlink leaves the artifact root", origin=Origin(relative(path, root))
                )
            if entry.is_dir():
                if _kustomization_file(path) is not None:
                    resources.append(path.relative_to(directory).as_posix())
                else:
                    visit(path)
            elif entry.is_file() and path.suffix in (".yaml", ".yml"):
                load_manifests(path, root, limits=limits)  # must be Kubernetes YAML
                resources.append(path.relative_to(directory).as_posix())

    visit(directory)
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
    }


class KustomizeRenderer:
    """Builds a kustomization in the artifact with the real kustomize.

    Args:
        path: the kustomization directory inside the artifact.
        kustomize: the command (``"kustomize"``, ``"/path/kubectl"``, or a
            list such as ``["kubectl", "kustomize"]``); found automatically
            by default (see :mod:`reconcile.render.tools`).
        allow_remote: let kustomizations name remote bases (fetched by
            kustomize over the network).
        enable_helm: pass ``--enable-helm`` (kustomize's helmCharts).
        extra_args: more flags for ``kustomize build``.
        timeout: seconds before the tool is stopped.
        limits: bounds for the YAML the tool prints and the files checked.
        validation: scope and namespace rules.
        origins: give each manifest the file it came from (the resource
            file, or the kustomization whose generator made it) instead of
            the kustomization built. kustomize is asked for its origin
            annotations (``buildMetadata: [originAnnotations]``) through a
            kustomization of ours, in a temporary directory, that names the
            one to build; the annotations are removed from the output, which
            is otherwise the same. Off by default: it costs 20-30 % more CPU
            on trees kustomize builds in ~10 ms (under 10 % on larger ones).
            Not used when a kustomization of the tree sets ``buildMetadata``
            itself, nor for a Component.
            ``document`` is then the index in kustomize's output, as without.

    Example:

        >>> KustomizeRenderer("overlays/prod", enable_helm=True).path
        'overlays/prod'
    """

    def __init__(
        self,
        path: str = ".",
        *,
        kustomize: str | Sequence[str] | None = None,
        allow_remote: bool = False,
        enable_helm: bool = False,
        extra_args: Sequence[str] = (),
        timeout: float = 300,
        limits: YamlLimits = DEFAULT_LIMITS,
        validation: Validation = DEFAULT_VALIDATION,
        origins: bool = False,
    ) -> None:
        self.path = path
        self.origins = origins
        self.kustomize = kustomize
        self.allow_remote = allow_remote
        self.enable_helm = enable_helm
        self.extra_args: tuple[str, ...] = tuple(extra_args)
        self.timeout = timeout
        self.limits = limits
        self.validation = validation

    def cache_key(self) -> str:
        """Every option that changes the output."""
        return render_key(
            "kustomize",
            path=self.path,
            kustomize=self.kustomize,
            allow_remote=self.allow_remote,
            enable_helm=self.enable_helm,
            extra_args=self.extra_args,
            limits=self.limits,
            validation=self.validation,
            origins=self.origins,
        )

    def command(self, directory: Path) -> list[str]:
        """The command line that builds ``directory``."""
        base = find_kustomize(self.kustomize)
        # ``kubectl kustomize DIR`` or ``kustomize build DIR``.
        verb = [] if len(base) > 1 else ["build"]
        command = [*base, *verb, str(directory)]
        command.append("--load-restrictor=LoadRestrictionsRootOnly")
        if self.enable_helm:
            command.extend(["--enable-helm", f"--helm-command={find_helm()}"])
        command.extend(self.extra_args)
        return command

    async def render(self, artifact: ArtifactLike) -> tuple[Manifest, ...]:
        """Check paths, run kustomize, parse and validate its output."""
        root = Path(artifact.path)
        directory = resolve_inside(root, root, self.path, what="path")
        if not directory.is_dir():
            raise RenderError(f"kustomize path {self.path!r} is not a directory")
        rel = relative(directory, root)
        kfile = _kustomization_file(directory)
        origin_file = relative(kfile, root) if kfile else f"{rel}/kustomization.yaml"
        origin = Origin(origin_file, renderer="kustomize")
        notes: set[str] = set()
        temporary = kfile is None or self.origins
        with (
            tempfile.TemporaryDirectory(prefix="reconcile-kustomize-")
            if temporary
            else contextlib.nullcontext("")
        ) as tmp:
            copy: Path | None = None
            if kfile is not None:
                check_tree(
                    root, directory, allow_remote=self.allow_remote, limits=self.limits, notes=notes
                )
                target = directory
            else:
                generated = generate_kustomization(directory, root, self.limits)
                for sub in generated["resources"]:
                    if (directory / sub).is_dir():
                        check_tree(
                            root,
                            directory / sub,
                            allow_remote=self.allow_remote,
                            limits=self.limits,
                            notes=notes,
                        )
                copy = Path(tmp) / "root"
                shutil.copytree(
                    root,
                    copy,
                    symlinks=True,
                    ignore=shutil.ignore_patterns(".git"),
                    copy_function=_link_or_copy,
                )
                target = copy / directory.relative_to(root)
                (target / "kustomization.yaml").write_bytes(orjson.dumps(generated))
            wrapper = _wrapper(Path(tmp), target) if self.origins and not notes else None
            output = await run_tool(
                self.command(wrapper or target),
                tool="kustomize",
                time_limit=self.timeout,
                origin=origin,
            )
        manifests: list[Manifest] = []
        for doc in load_yaml(output, origin_file, limits=self.limits):
            file = origin_file
            if wrapper is not None:
                file = _take_origin(doc.value, wrapper, root, copy) or origin_file
            manifests.extend(flatten(doc.value, Origin(file, doc.index, renderer="kustomize")))
        return finalize(manifests, self.validation)
