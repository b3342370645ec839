"""Helm charts, rendered by the real ``helm template``.

The chart (a directory or a packaged ``.tgz``) and every values file must be
inside the artifact; inline values are passed as a values file written to a
private temporary directory. Helm runs with its config, cache and data
directories pointed at an empty temporary directory, so a user's repositories
and plugins play no part. Each manifest's origin names the template it came
from (helm's ``# Source:`` comment).

Example:

    >>> from reconcile.render import HelmRenderer
    >>> r = HelmRenderer("charts/web", release_name="web", namespace="shop",
    ...                  values={"replicas": 2}, kube_version="1.37.0")
    >>> r.arguments(["charts/web"], ["/tmp/v.yaml"])[:6]
    ['template', 'web', 'charts/web', '--namespace', 'shop', '--include-crds']
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import orjson

from reconcile.errors import ConfigurationError, RenderError, RenderSecurityError
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
from reconcile.render._tools import find_helm, run_tool
from reconcile.render._yaml import DEFAULT_LIMITS, YamlLimits, load_yaml

__all__ = ["HelmRenderer"]

_SOURCE_RE: Final = re.compile(rb"^# Source: (.+)$", re.MULTILINE)


def _check_symlinks(directory: Path, root: Path) -> None:
    """Refuse a chart with a symlink that leads out of the artifact."""
    for current, dirs, files in os.walk(directory):
        for name in [*dirs, *files]:
            path = Path(current) / name
            if path.is_symlink() and not inside(path, root):
                raise RenderSecurityError(
                    "a symlink leaves the artifact root", origin=Origin(relative(path, root))
                )


class HelmRenderer:
    """Renders a chart in the artifact with ``helm template``.

    Args:
        chart: the chart directory or ``.tgz`` inside the artifact.
        release_name: the release name (``.Release.Name``).
        namespace: the release namespace (``.Release.Namespace``). By default
            ``validation.default_namespace`` (where the objects go, as Flux's
            HelmRelease ``targetNamespace`` and Argo CD's destination
            namespace set it), else ``"default"``.
        values_files: values files inside the artifact, applied in order.
        values: inline values, applied last.
        include_crds: render the chart's ``crds/`` too.
        kube_version: ``.Capabilities.KubeVersion`` (``--kube-version``).
        api_versions: extra ``.Capabilities.APIVersions`` (``--api-versions``).
        skip_tests: leave out test hooks.
        helm: the helm binary (see :mod:`reconcile.render.tools`).
        extra_args: more flags for ``helm template``.
        timeout: seconds before helm is stopped.
        limits: bounds for the YAML helm prints.
        validation: scope and namespace rules.

    Example:

        >>> r = HelmRenderer("charts/web", release_name="web", namespace="shop",
        ...                  values={"replicaCount": 2})
        >>> r.values, r.include_crds
        ({'replicaCount': 2}, True)
        >>> HelmRenderer("charts/web", release_name="web",
        ...              validation=Validation(default_namespace="shop")).namespace
        'shop'
    """

    def __init__(
        self,
        chart: str,
        *,
        release_name: str,
        namespace: str | None = None,
        values_files: Sequence[str] = (),
        values: Mapping[str, Any] | None = None,
        include_crds: bool = True,
        kube_version: str | None = None,
        api_versions: Sequence[str] = (),
        skip_tests: bool = False,
        helm: str | None = None,
        extra_args: Sequence[str] = (),
        timeout: float = 300,
        limits: YamlLimits = DEFAULT_LIMITS,
        validation: Validation = DEFAULT_VALIDATION,
    ) -> None:
        if not release_name:
            raise ConfigurationError("a Helm release needs a name")
        self.chart = chart
        self.release_name = release_name
        #: The release namespace helm is given.
        self.namespace: str = namespace or validation.default_namespace or "default"
        self.values_files: tuple[str, ...] = tuple(values_files)
        try:
            self._values_json = orjson.dumps(values or {}, option=orjson.OPT_SORT_KEYS)
        except TypeError as exc:
            raise ConfigurationError(f"inline Helm values are not JSON-compatible: {exc}") from exc
        self.values: dict[str, Any] = dict(values or {})
        self.include_crds = include_crds
        self.kube_version = kube_version
        self.api_versions: tuple[str, ...] = tuple(api_versions)
        self.skip_tests = skip_tests
        self.helm = helm
        self.extra_args: tuple[str, ...] = tuple(extra_args)
        self.timeout = timeout
        self.limits = limits
        self.validation = validation

    def cache_key(self) -> str:
        """Every option that changes the output."""
        return render_key(
            "helm",
            chart=self.chart,
            release_name=self.release_name,
            namespace=self.namespace,
            values_files=self.values_files,
            values=self._values_json.decode(),
            include_crds=self.include_crds,
            kube_version=self.kube_version,
            api_versions=self.api_versions,
            skip_tests=self.skip_tests,
            helm=self.helm,
            extra_args=self.extra_args,
            limits=self.limits,
            validation=self.validation,
        )

    def arguments(self, chart: Sequence[str], values_files: Sequence[str]) -> list[str]:
        """The ``helm`` arguments (after the binary)."""
        args = ["template", self.release_name, *chart, "--namespace", self.namespace]
        if self.include_crds:
            args.append("--include-crds")
        if self.skip_tests:
            args.append("--skip-tests")
        if self.kube_version:
            args.extend(["--kube-version", self.kube_version])
        for api in self.api_versions:
            args.extend(["--api-versions", api])
        for file in values_files:
            args.extend(["--values", file])
        args.extend(self.extra_args)
        return args

    async def render(self, artifact: ArtifactLike) -> tuple[Manifest, ...]:
        """Check paths, run ``helm template``, parse and validate its output."""
        root = Path(artifact.path)
        chart = resolve_inside(root, root, self.chart, what="chart")
        if not chart.exists():
            raise RenderError(f"chart {self.chart!r} not found in the artifact")
        chart_rel = relative(chart, root)
        if chart.is_dir():
            _check_symlinks(chart, root)
        values_paths = [
            str(resolve_inside(root, root, f, what="values file", path=f"values_files[{i}]"))
            for i, f in enumerate(self.values_files)
        ]
        origin = Origin(chart_rel, renderer="helm")
        with tempfile.TemporaryDirectory(prefix="reconcile-helm-") as tmp:
            home = Path(tmp)
            if self.values:
                inline = home / "inline-values.json"
                inline.write_bytes(self._values_json)
                values_paths.append(str(inline))
            env = {
                "HELM_CONFIG_HOME": str(home / "config"),
                "HELM_CACHE_HOME": str(home / "cache"),
                "HELM_DATA_HOME": str(home / "data"),
                "KUBECONFIG": str(home / "kubeconfig"),
                "HELM_NAMESPACE": self.namespace,
            }
            command = [find_helm(self.helm), *self.arguments([str(chart)], values_paths)]
            output = await run_tool(
                command, tool="helm", env=env, time_limit=self.timeout, origin=origin
            )
        sources = [
            (output.count(b"\n", 0, m.start()) + 1, m[1]) for m in _SOURCE_RE.finditer(output)
        ]
        manifests: list[Manifest] = []
        for doc in load_yaml(output, chart_rel, limits=self.limits):
            template = chart_rel
            for line, source in sources:
                if line > doc.line:
                    break
                # "<chart name>/templates/x.yaml": name it from the artifact root.
                template = f"{chart_rel}/{source.decode('utf-8', 'replace').partition('/')[2]}"
            manifests.extend(flatten(doc.value, Origin(template, doc.index, renderer="helm")))
        return finalize(manifests, self.validation)
