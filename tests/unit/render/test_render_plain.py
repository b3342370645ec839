"""Plain YAML directories: walk order, patterns, origins, validation, safety."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from reconcile.errors import (
    DuplicateObjectError,
    ManifestSyntaxError,
    ManifestValidationError,
    RenderError,
    RenderSecurityError,
)
from reconcile.render import (
    ArtifactLike,
    CachedRenderer,
    DirectoryArtifact,
    Renderer,
    Validation,
    YamlLimits,
    YamlRenderer,
    builtin_scope,
    first_scope,
)
from reconcile.sources import LocalSource

Write = Callable[[str, str | bytes], Path]


@pytest.fixture
def artifact(tmp_path: Path) -> DirectoryArtifact:
    """An empty artifact directory."""
    return DirectoryArtifact(tmp_path, "sha256:0")


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str | bytes], Path]:
    """Write a file under the artifact root, creating directories."""

    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        return path

    return _write


def cm(name: str, namespace: str | None = "app") -> str:
    ns = f", namespace: {namespace}" if namespace else ""
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}{ns}}}\n"


def render(renderer: Renderer, artifact: ArtifactLike) -> list[Any]:
    return list(anyio.run(renderer.render, artifact))


def test_walk_is_recursive_sorted_and_origins_name_file_document_line(
    write: Write, artifact: ArtifactLike
) -> None:
    write("b.yaml", cm("b1") + "---\n" + cm("b2"))
    write("a/z.yml", cm("az"))
    write(
        "a/c.json",
        '{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "app"}}',
    )
    write("notes.txt", "not yaml: [")
    write(".hidden/x.yaml", "broken: [")
    write("kustomization.yaml", "resources: [b.yaml]\n")
    manifests = render(YamlRenderer(), artifact)
    assert [m.ref.name for m in manifests] == ["s", "az", "b1", "b2"]
    assert [str(m.origin) for m in manifests] == [
        "a/c.json:1:1 (document 0)",
        "a/z.yml:1:1 (document 0)",
        "b.yaml:1:1 (document 0)",
        "b.yaml:5:1 (document 1)",
    ]


def test_include_exclude_and_subpath(write: Write, artifact: ArtifactLike) -> None:
    write("apps/web/a.yaml", cm("a"))
    write("apps/web/test/t.yaml", cm("t"))
    write("apps/web/b.yml", cm("b"))
    write("apps/other.yaml", cm("o"))
    renderer = YamlRenderer("apps/web", include=["*.yaml"], exclude=["test"])
    assert [m.ref.name for m in render(renderer, artifact)] == ["a"]
    renderer = YamlRenderer("apps", exclude=["web/test/*"], recursive=True)
    assert [m.ref.name for m in render(renderer, artifact)] == ["o", "a", "b"]
    assert [m.ref.name for m in render(YamlRenderer("apps", recursive=False), artifact)] == ["o"]
    assert [m.ref.name for m in render(YamlRenderer("apps/web/b.yml"), artifact)] == ["b"]


def test_list_kinds_are_flattened(write: Write, artifact: ArtifactLike) -> None:
    write(
        "list.yaml",
        "apiVersion: v1\nkind: List\nitems:\n"
        "- {apiVersion: v1, kind: ConfigMap, metadata: {name: x1, namespace: a}}\n"
        "- {apiVersion: v1, kind: ConfigMap, metadata: {name: x2, namespace: a}}\n",
    )
    manifests = render(YamlRenderer(), artifact)
    assert [m.ref.name for m in manifests] == ["x1", "x2"]
    assert all(m.origin.file == "list.yaml" for m in manifests)


@pytest.mark.parametrize(
    ("content", "error", "match"),
    [
        ("- a\n- b\n", ManifestValidationError, "not a list"),
        ("just a string\n", ManifestValidationError, r"not a scalar \(str\)"),
        (
            "kind: ConfigMap\nmetadata: {name: a}\n",
            ManifestValidationError,
            "apiVersion is missing",
        ),
        ("apiVersion: v1\nmetadata: {name: a}\n", ManifestValidationError, "kind is missing"),
        ("apiVersion: v1\nkind: ConfigMap\n", ManifestValidationError, "metadata is missing"),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: a}\n",
            ManifestValidationError,
            "field metadata.name: ConfigMap metadata.name is missing",
        ),
        ("a: [1\n", ManifestSyntaxError, "bad.yaml:2:1"),
        ("a: 1\na: 2\n", ManifestSyntaxError, "duplicate key"),
        (b"a: \xc3\x28\n", ManifestSyntaxError, "not UTF-8"),
    ],
)
def test_bad_documents_fail_the_whole_render(
    write: Write, artifact: ArtifactLike, content: str | bytes, error: type[RenderError], match: str
) -> None:
    write("a-good.yaml", cm("good"))
    write("bad.yaml", content)
    with pytest.raises(error, match=match) as info:
        render(YamlRenderer(), artifact)
    assert info.value.origin is not None
    assert info.value.origin.file == "bad.yaml"


def test_namespace_must_match_the_scope(write: Write, artifact: ArtifactLike) -> None:
    write("ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a, namespace: b}\n")
    with pytest.raises(ManifestValidationError, match="cluster-scoped but has a namespace") as info:
        render(YamlRenderer(), artifact)
    assert info.value.path == "metadata.namespace"


def test_missing_namespace_is_defaulted_or_required(write: Write, artifact: ArtifactLike) -> None:
    write("cm.yaml", cm("a", namespace=None))
    write(
        "cr.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\n",
    )
    [cm_, cr] = render(YamlRenderer(validation=Validation(default_namespace="dflt")), artifact)
    assert cm_.ref.namespace == "dflt"
    assert cr.ref.namespace is None
    with pytest.raises(ManifestValidationError, match="namespaced but has no namespace"):
        render(YamlRenderer(validation=Validation(require_namespace=True)), artifact)
    # Without options, a namespace-less namespaced object is accepted as is.
    assert [m.ref.namespace for m in render(YamlRenderer(), artifact)] == [None, None]


def test_crd_in_the_same_set_decides_its_kinds_scope(write: Write, artifact: ArtifactLike) -> None:
    write(
        "crd.yaml",
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
        "metadata: {name: widgets.example.com}\n"
        "spec: {group: example.com, scope: Cluster, names: {kind: Widget, plural: widgets}}\n",
    )
    write("w.yaml", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: x}\n")
    with pytest.raises(ManifestValidationError, match="Widget is cluster-scoped"):
        render(YamlRenderer(), artifact)


def test_custom_scope_lookup(write: Write, artifact: ArtifactLike) -> None:
    write("w.yaml", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: x}\n")
    assert len(render(YamlRenderer(), artifact)) == 1  # unknown kind: not checked
    cluster_scoped = Validation(scope=lambda group, kind: False)
    with pytest.raises(ManifestValidationError):
        render(YamlRenderer(validation=cluster_scoped), artifact)


def test_scope_from_crds_lookup_or_nobody(write: Write, artifact: ArtifactLike) -> None:
    """A CRD in the set defaults its kind's namespace; a kind nobody knows is left as it is."""
    write(
        "crd.yaml",
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
        "metadata: {name: widgets.example.com}\n"
        "spec: {group: example.com, scope: Namespaced, names: {kind: Widget, plural: widgets}}\n",
    )
    write("w.yaml", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n")
    write("z.yaml", "apiVersion: other.io/v1\nkind: Gadget\nmetadata: {name: g}\n")
    defaulting = Validation(default_namespace="shop", require_namespace=True)
    crd, widget, gadget = render(YamlRenderer(validation=defaulting), artifact)
    assert (crd.ref.namespace, widget.ref.namespace, gadget.ref.namespace) == (None, "shop", None)
    # A caller that knows the cluster (discovery) says Gadget is cluster-scoped ...
    discovery = {("other.io", "Gadget"): False, ("example.com", "Widget"): False}
    scope = first_scope(lambda group, kind: discovery.get((group, kind)), builtin_scope)
    write("z.yaml", "apiVersion: other.io/v1\nkind: Gadget\nmetadata: {name: g, namespace: a}\n")
    with pytest.raises(ManifestValidationError, match="Gadget is cluster-scoped"):
        render(YamlRenderer(validation=Validation(scope=scope)), artifact)
    # ... but the CRD rendered with it decides for Widget, and built-ins still come from the table.
    write("z.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n")
    with_discovery = Validation(scope=scope, default_namespace="shop")
    assert [m.ref.namespace for m in render(YamlRenderer(validation=with_discovery), artifact)] == [
        None,
        "shop",
        None,
    ]


def test_duplicate_identity_names_both_origins(write: Write, artifact: ArtifactLike) -> None:
    write("a.yaml", cm("same"))
    write("b.yaml", "# moved\n" + cm("same").replace("apiVersion: v1", "apiVersion: v1"))
    with pytest.raises(DuplicateObjectError) as info:
        render(YamlRenderer(), artifact)
    err = info.value
    assert err.origin is not None
    assert err.other is not None
    assert (err.origin.file, err.origin.line) == ("b.yaml", 2)
    assert (err.other.file, err.other.line) == ("a.yaml", 1)
    assert "ConfigMap app/same" in str(err)


def test_oversized_file_is_refused(write: Write, artifact: ArtifactLike) -> None:
    write("big.yaml", cm("big") + "data: {x: '" + "x" * 2000 + "'}\n")
    with pytest.raises(RenderSecurityError, match="over the limit"):
        render(YamlRenderer(limits=YamlLimits(max_file_bytes=1000)), artifact)


def test_symlink_leaving_the_root_is_refused(
    write: Write, artifact: ArtifactLike, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("outside") / "secret.yaml"
    outside.write_text(cm("stolen"))
    write("ok.yaml", cm("ok"))
    os.symlink(outside, artifact.path / "link.yaml")
    with pytest.raises(RenderSecurityError, match="symlink leaves the artifact root"):
        render(YamlRenderer(), artifact)


def test_symlink_inside_the_root_is_followed(write: Write, artifact: ArtifactLike) -> None:
    write("real/a.yaml", cm("a"))
    os.symlink(artifact.path / "real", artifact.path / "alias")
    # The same directory twice (through the link) is read once.
    assert [m.ref.name for m in render(YamlRenderer(), artifact)] == ["a"]


def test_path_leaving_the_root_is_refused(artifact: ArtifactLike) -> None:
    with pytest.raises(RenderSecurityError, match="leaves the artifact root"):
        render(YamlRenderer("../elsewhere"), artifact)


def test_cache_by_checksum_and_options(write: Write, artifact: ArtifactLike) -> None:
    write("a.yaml", cm("a"))
    cached = CachedRenderer(YamlRenderer())
    first = anyio.run(cached.render, artifact)
    write("b.yaml", cm("b"))
    assert anyio.run(cached.render, artifact) is first  # same checksum: cached
    assert cached.statistics() == {"hits": 1, "misses": 1, "size": 1}
    newer = DirectoryArtifact(artifact.path, "sha256:1")
    assert [m.ref.name for m in anyio.run(cached.render, newer)] == ["a", "b"]
    other = CachedRenderer(YamlRenderer(include=["a.yaml"]))
    assert YamlRenderer().cache_key() != YamlRenderer(include=["a.yaml"]).cache_key()
    assert [m.ref.name for m in anyio.run(other.render, newer)] == ["a"]


def test_failed_render_is_not_cached(write: Write, artifact: ArtifactLike) -> None:
    write("a.yaml", "a: [")
    cached = CachedRenderer(YamlRenderer())
    with pytest.raises(ManifestSyntaxError):
        anyio.run(cached.render, artifact)
    write("a.yaml", cm("a"))
    assert len(anyio.run(cached.render, artifact)) == 1


def test_unknown_checksum_is_never_cached(write: Write, tmp_path: Path) -> None:
    write("a.yaml", cm("a"))
    cached = CachedRenderer(YamlRenderer())
    assert len(anyio.run(cached.render, DirectoryArtifact(tmp_path))) == 1
    write("b.yaml", cm("b"))
    assert len(anyio.run(cached.render, DirectoryArtifact(tmp_path))) == 2
    assert cached.statistics() == {"hits": 0, "misses": 2, "size": 0}


def test_a_sources_artifact_renders_directly(
    write: Write, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    write("a.yaml", cm("a"))
    source = LocalSource(tmp_path, cache_dir=tmp_path_factory.mktemp("cache"))
    fetched = anyio.run(source.fetch)
    assert isinstance(fetched, ArtifactLike)
    cached = CachedRenderer(YamlRenderer())
    assert [m.ref.name for m in anyio.run(cached.render, fetched)] == ["a"]
    assert anyio.run(cached.render, fetched) is anyio.run(cached.render, fetched)
