"""Helm with the real tool: the corpus chart renders exactly as ``helm template`` does."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml

from reconcile.errors import ConfigurationError, RenderSecurityError, ToolError
from reconcile.render import DirectoryArtifact, HelmRenderer, Validation
from reconcile.render.tools import ensure_helm
from reconcile.testing import skip_or_fail

pytestmark = pytest.mark.integration

CHART = "helm-metrics-server/metrics-server"


@pytest.fixture(scope="module")
def helm() -> str:
    try:
        return ensure_helm()
    except ToolError as exc:
        skip_or_fail(str(exc))


def helm_template(helm: str, chart: Path, *args: str) -> list[Any]:
    out = subprocess.run(
        [helm, "template", *args[:1], str(chart), *args[1:]], capture_output=True, check=True
    ).stdout
    return [d for d in yaml.safe_load_all(out) if d is not None]


def render(renderer: HelmRenderer, root: Path) -> list[Any]:
    return list(anyio.run(renderer.render, DirectoryArtifact(root)))


@pytest.mark.parametrize(
    "values",
    [
        [],
        ["ci/ci-values.yaml"],
        ["ci/tls-existingSecret-values.yaml"],
        ["ci/tls-certManager-values.yaml"],
    ],
)
def test_corpus_chart_renders_as_helm_template(
    corpus_dir: Path, helm: str, values: list[str]
) -> None:
    root = corpus_dir / "manifests"
    renderer = HelmRenderer(
        CHART,
        release_name="metrics",
        namespace="kube-system",
        values_files=[f"{CHART}/{v}" for v in values],
        kube_version="1.37.0",
    )
    flags = [f"--values={root / CHART / v}" for v in values]
    expected = helm_template(
        helm,
        root / CHART,
        "metrics",
        "--namespace",
        "kube-system",
        "--include-crds",
        "--kube-version",
        "1.37.0",
        *flags,
    )
    manifests = render(renderer, root)
    assert [m.obj for m in manifests] == expected
    assert len(manifests) >= 9
    origins = {m.origin.file for m in manifests if m.origin}
    assert f"{CHART}/templates/deployment.yaml" in origins
    assert all(m.origin is not None and m.origin.renderer == "helm" for m in manifests)


def test_generated_certificates_differ_but_objects_are_the_same(
    corpus_dir: Path, helm: str
) -> None:
    root = corpus_dir / "manifests"
    renderer = HelmRenderer(
        CHART, release_name="m", values_files=[f"{CHART}/ci/tls-helm-values.yaml"]
    )
    first, second = render(renderer, root), render(renderer, root)
    assert [str(m.ref) for m in first] == [str(m.ref) for m in second]
    assert any(m.ref.kind == "Secret" for m in first)


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def chart(tmp_path: Path) -> Path:
    write(tmp_path, "charts/demo/Chart.yaml", "apiVersion: v2\nname: demo\nversion: 1.0.0\n")
    write(tmp_path, "charts/demo/values.yaml", "color: red\nsize: 1\n")
    write(
        tmp_path,
        "charts/demo/templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\n"
        "  namespace: {{ .Release.Namespace }}\ndata:\n  color: {{ .Values.color | quote }}\n"
        "  size: {{ .Values.size | quote }}\n"
        "  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n"
        '  api: {{ .Capabilities.APIVersions.Has "example.com/v1" | quote }}\n',
    )
    write(
        tmp_path,
        "charts/demo/crds/widget.yaml",
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
        "metadata:\n  name: widgets.example.com\nspec:\n  group: example.com\n"
        "  names: {kind: Widget, plural: widgets}\n  scope: Namespaced\n"
        "  versions: [{name: v1, served: true, storage: true, schema: "
        "{openAPIV3Schema: {type: object}}}]\n",
    )
    write(tmp_path, "values/prod.yaml", "color: blue\nsize: 2\n")
    return tmp_path


def test_options_reach_helm(chart: Path, helm: str) -> None:
    renderer = HelmRenderer(
        "charts/demo",
        release_name="rel",
        namespace="shop",
        values_files=["values/prod.yaml"],
        values={"size": 3},
        kube_version="v1.36.2",
        api_versions=["example.com/v1"],
    )
    crd, cm = render(renderer, chart)
    assert crd.ref.kind == "CustomResourceDefinition"
    assert crd.origin.file == "charts/demo/crds/widget.yaml"
    assert str(cm.ref) == "ConfigMap shop/rel-cm"
    assert cm.obj["data"] == {"color": "blue", "size": "3", "kube": "v1.36.2", "api": "true"}
    assert cm.origin.file == "charts/demo/templates/cm.yaml"
    without_crds = HelmRenderer("charts/demo", release_name="rel", include_crds=False)
    assert [m.ref.kind for m in render(without_crds, chart)] == ["ConfigMap"]
    assert renderer.cache_key() != without_crds.cache_key()


def test_packaged_chart_renders_like_the_directory(chart: Path, helm: str) -> None:
    subprocess.run(
        [helm, "package", str(chart / "charts/demo"), "-d", str(chart / "packages")],
        capture_output=True,
        check=True,
    )
    packaged = render(HelmRenderer("packages/demo-1.0.0.tgz", release_name="r"), chart)
    directory = render(HelmRenderer("charts/demo", release_name="r"), chart)
    assert [m.obj for m in packaged] == [m.obj for m in directory]


def test_values_file_leaving_the_root_is_refused(
    chart: Path, tmp_path_factory: pytest.TempPathFactory, helm: str
) -> None:
    outside = tmp_path_factory.mktemp("outside") / "v.yaml"
    outside.write_text("color: stolen\n")
    for name in (os.path.relpath(outside, chart), str(outside)):
        renderer = HelmRenderer("charts/demo", release_name="r", values_files=[name])
        with pytest.raises(RenderSecurityError) as info:
            render(renderer, chart)
        assert info.value.path == "values_files[0]"
    os.symlink(outside, chart / "values/link.yaml")
    with pytest.raises(RenderSecurityError, match="leaves the artifact root"):
        render(
            HelmRenderer("charts/demo", release_name="r", values_files=["values/link.yaml"]), chart
        )
    with pytest.raises(RenderSecurityError):
        render(HelmRenderer("../charts/demo", release_name="r"), chart)
    os.symlink(outside, chart / "charts/demo/templates/stolen.yaml")
    with pytest.raises(RenderSecurityError, match="symlink leaves") as info:
        render(HelmRenderer("charts/demo", release_name="r"), chart)
    assert info.value.origin is not None
    assert info.value.origin.file == "charts/demo/templates/stolen.yaml"


def test_template_failure_carries_helms_message(chart: Path, helm: str) -> None:
    write(
        chart,
        "charts/demo/templates/bad.yaml",
        '{{ required "setting x is required" .Values.x }}\n',
    )
    with pytest.raises(ToolError, match="setting x is required") as info:
        render(HelmRenderer("charts/demo", release_name="r"), chart)
    assert info.value.tool == "helm"
    assert "setting x is required" in info.value.stderr


def test_invalid_yaml_from_a_template_is_a_syntax_error(chart: Path, helm: str) -> None:
    write(chart, "charts/demo/templates/bad.yaml", "kind: ConfigMap\nmetadata: {name: a\n")
    with pytest.raises(ToolError):  # helm itself refuses to print invalid YAML
        render(HelmRenderer("charts/demo", release_name="r"), chart)


def test_missing_binary_and_bad_options(chart: Path) -> None:
    with pytest.raises(ToolError, match="not found"):
        render(HelmRenderer("charts/demo", release_name="r", helm="/nonexistent/helm"), chart)
    with pytest.raises(ConfigurationError):
        HelmRenderer("charts/demo", release_name="")
    with pytest.raises(ConfigurationError):
        HelmRenderer("charts/demo", release_name="r", values={"x": object()})


def test_release_namespace_defaults_to_the_default_namespace(chart: Path, helm: str) -> None:
    """Like Flux's targetNamespace and Argo CD's destination: the release goes where objects go."""
    to_shop = Validation(default_namespace="shop")
    (cm,) = render(
        HelmRenderer("charts/demo", release_name="r", validation=to_shop, include_crds=False), chart
    )
    assert str(cm.ref) == "ConfigMap shop/r-cm"  # .Release.Namespace, not only a default
    expected = helm_template(helm, chart / "charts/demo", "r", "--namespace", "shop", "--skip-crds")
    assert [cm.obj] == expected
    explicit = HelmRenderer("charts/demo", release_name="r", namespace="web", validation=to_shop)
    assert [str(m.ref) for m in render(explicit, chart)][1] == "ConfigMap web/r-cm"
    (plain,) = render(HelmRenderer("charts/demo", release_name="r", include_crds=False), chart)
    assert str(plain.ref) == "ConfigMap default/r-cm"
