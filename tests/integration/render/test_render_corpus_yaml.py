"""The shared corpus loads as plain YAML, object for object as PyYAML reads it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml

from reconcile.errors import DuplicateObjectError
from reconcile.render import DirectoryArtifact, YamlRenderer, load_manifests

pytestmark = pytest.mark.integration

ALERTMANAGER_CRD = "kube-prometheus/setup/0alertmanagerConfigCustomResourceDefinition.yaml"


class _ValueAsString(yaml.CSafeLoader):
    """PyYAML's safe loader, reading YAML 1.1's ``=`` (value tag) as a string."""


_ValueAsString.add_constructor(
    "tag:yaml.org,2002:value",
    lambda loader, node: loader.construct_scalar(node),  # type: ignore[arg-type]
)


def _flatten(doc: Any) -> list[Any]:
    if isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List") and "items" in doc:
        return [item for i in doc["items"] for item in _flatten(i)]
    return [doc]


def _plain_files(manifests: Path) -> list[Path]:
    files = []
    for folder in ("argo-cd", "cert-manager", "flux", "kube-prometheus", "microservices-demo"):
        files += [
            p
            for p in sorted((manifests / folder).rglob("*.yaml"))
            if p.name != "kustomization.yaml"
        ]
    return files


def test_every_plain_file_loads_as_pyyaml_reads_it(corpus_dir: Path) -> None:
    manifests = corpus_dir / "manifests"
    files = _plain_files(manifests)
    assert len(files) > 100
    for path in files:
        ours = [m.obj for m in load_manifests(path, manifests)]
        rel = path.relative_to(manifests).as_posix()
        if rel == ALERTMANAGER_CRD.replace("kube-prometheus/", "kube-prometheus/manifests/"):
            # PyYAML's safe loader cannot read it (bare "=" is YAML 1.1's value tag).
            with pytest.raises(yaml.constructor.ConstructorError):
                list(yaml.load_all(path.read_bytes(), Loader=yaml.CSafeLoader))
        reference = [
            o
            for d in yaml.load_all(path.read_bytes(), Loader=_ValueAsString)
            if d is not None
            for o in _flatten(d)
        ]
        assert ours == reference, rel


def test_alertmanager_crd_enum_keeps_the_bare_equals(corpus_dir: Path) -> None:
    path = corpus_dir / "manifests/kube-prometheus/manifests/setup"
    [crd] = load_manifests(
        path / "0alertmanagerConfigCustomResourceDefinition.yaml", corpus_dir / "manifests"
    )
    found: list[list[Any]] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if "enum" in value and "=" in value["enum"]:
                found.append(value["enum"])
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(crd.obj)
    assert found
    assert all(e == ["!=", "=", "=~", "!~"] for e in found)


@pytest.mark.parametrize(
    ("path", "count"),
    [
        ("argo-cd/install.yaml", 59),
        ("argo-cd/namespace-install.yaml", 50),
        ("cert-manager", 6),
        ("flux", 41),
        ("kube-prometheus", 131),  # RoleBindingList/RoleList items flattened
        ("microservices-demo/kubernetes-manifests", 35),
        ("microservices-demo/release", 40),
    ],
)
def test_corpus_directories_render(corpus_dir: Path, path: str, count: int) -> None:
    manifests = anyio.run(YamlRenderer(path).render, DirectoryArtifact(corpus_dir / "manifests"))
    assert len(manifests) == count
    assert all(m.origin is not None and m.origin.line for m in manifests)


@pytest.mark.parametrize("path", ["argo-cd", "microservices-demo"])
def test_overlapping_corpus_trees_are_duplicates(corpus_dir: Path, path: str) -> None:
    # install.yaml and namespace-install.yaml (release/ and the sources) share objects.
    with pytest.raises(DuplicateObjectError) as info:
        anyio.run(YamlRenderer(path).render, DirectoryArtifact(corpus_dir / "manifests"))
    assert info.value.other is not None
    assert info.value.origin is not None
    assert info.value.other.file != info.value.origin.file
