"""The planner on real third-party manifests (the shared corpus, read in place)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from reconcile.engine.planner import StageName, WaitCondition, kind_rank, plan
from reconcile.objects import Manifest, Origin

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(path: Path) -> list[Manifest]:
    out = []
    try:
        docs = list(yaml.load_all(path.read_text(), Loader=LOADER))
    except yaml.YAMLError:
        return []  # parsing is the renderer's concern; a few corpus files use YAML 1.1 tags
    for i, doc in enumerate(docs):
        if isinstance(doc, dict) and doc.get("kind") and doc.get("apiVersion"):
            if doc["kind"].endswith("List") or (
                doc["kind"] == "Kustomization" and "spec" not in doc
            ):
                continue
            out.append(Manifest(doc, Origin(str(path), document=i)))
    return out


def corpus_files(corpus: Path) -> list[Path]:
    files = []
    for path in sorted((corpus / "manifests").rglob("*.yaml")):
        text = path.read_text()
        if "{{" in text or path.name in {"kustomization.yaml", "Chart.yaml", "values.yaml"}:
            continue
        files.append(path)
    return files


def test_every_corpus_file_plans_crds_and_namespaces_first(corpus_dir: Path) -> None:
    files = corpus_files(corpus_dir)
    assert len(files) > 50
    planned = 0
    for path in files:
        manifests = load(path)
        if not manifests:
            continue
        p = plan(manifests)
        order = list(p.manifests) + [h.manifest for h in p.hooks]
        assert sorted(str(m.ref) for m in order) == sorted(str(m.ref) for m in manifests), path
        position = {m.ref: i for i, m in enumerate(p.manifests)}
        crds: dict[tuple[str, str], int] = {}
        for m in p.manifests:
            if m.ref.kind == "CustomResourceDefinition":
                spec: dict[str, Any] = m.obj["spec"]
                crds[(spec["group"], spec["names"]["kind"])] = position[m.ref]
        for m in p.manifests:
            ref = m.ref
            if (ref.group, ref.kind) in crds:
                assert crds[(ref.group, ref.kind)] < position[ref], (path, ref)
            if ref.kind in ("Namespace", "CustomResourceDefinition", "ClusterRole"):
                stage = next(s for s in p.stages if m in s.manifests)
                assert stage.name is StageName.FOUNDATION, (path, ref)
        foundation = [s for s in p.stages if s.name is StageName.FOUNDATION]
        if foundation:
            waits = {(w.ref, w.condition) for w in foundation[0].wait_for}
            for m in foundation[0].manifests:
                if m.ref.kind == "CustomResourceDefinition":
                    assert (m.ref, WaitCondition.ESTABLISHED) in waits
        for stage in p.stages:
            if stage.name is StageName.RESOURCES:
                ranks = [kind_rank(m.ref) for w in stage.waves for m in w.manifests]
                if len(stage.waves) == 1:
                    assert ranks == sorted(ranks), path
        planned += len(manifests)
    assert planned > 300


@pytest.mark.parametrize("name", ["flux/gotk-components.yaml", "argo-cd/install.yaml"])
def test_known_stacks(corpus_dir: Path, name: str) -> None:
    p = plan(load(corpus_dir / "manifests" / name))
    first = p.stages[0]
    assert first.name is StageName.FOUNDATION
    kinds = [m.ref.kind for m in first.manifests]
    assert kinds[0] == "CustomResourceDefinition"
    resources = [m.ref.kind for m in p.stages[-1].manifests]
    assert resources.index("ServiceAccount") < resources.index("Deployment")
    assert resources.index("Service") < resources.index("Deployment")
