"""Benchmarks of the engine's pure building blocks, each next to a peer.

- **health**: ``reconcile.engine.health.compute`` against kstatus itself
  (``sigs.k8s.io/cli-utils`` v0.37.2, the Go harness of the tests, built with
  ``go`` when found) on the same objects, in ns per object.
- **planner**: ``plan()`` over N manifests (the shared corpus, renamed to reach
  N) against a plain ``sorted()`` by kind order, the least a planner does.
- **inventory**: ``encode`` + ``decode`` of an N-member inventory against
  ``json.dumps`` + ``json.loads`` of the same member dicts.

Run: ``python -m benchmarks engine [--quick]``; results go to
``benchmarks/results/engine.json``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reconcile.engine.health import compute
from reconcile.engine.inventory import ApplySetParent, Inventory, decode, encode
from reconcile.engine.planner import kind_rank, plan
from reconcile.objects import Manifest, ObjectRef

ROOT = Path(__file__).resolve().parent.parent
KSTATUS = ROOT / "tests" / "integration" / "engine" / "kstatus"
RESULTS = ROOT / "benchmarks" / "results"


def _best(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _cond(type_: str, status: str = "True", reason: str = "") -> dict[str, str]:
    return {"type": type_, "status": status, "reason": reason, "message": ""}


def health_objects() -> list[dict[str, Any]]:
    """Typical live objects of a steady state, one per rule family."""
    meta = {"name": "x", "namespace": "a", "generation": 3}
    return [
        {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
            "spec": {"replicas": 3, "progressDeadlineSeconds": 600},
            "status": {"observedGeneration": 3, "replicas": 3, "updatedReplicas": 3,
                       "readyReplicas": 3, "availableReplicas": 3,
                       "conditions": [_cond("Available", reason="MinimumReplicasAvailable"),
                                      _cond("Progressing", reason="NewReplicaSetAvailable")]},
        },
        {
            "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta,
            "spec": {"replicas": 2},
            "status": {"observedGeneration": 3, "replicas": 2, "readyReplicas": 2,
                       "currentReplicas": 2, "updatedReplicas": 2,
                       "currentRevision": "r1", "updateRevision": "r1"},
        },
        {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
         "status": {"phase": "Running", "conditions": [_cond("Ready")]}},
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
         "status": {"startTime": "2026-01-01T00:00:00Z", "succeeded": 1,
                    "conditions": [_cond("Complete")]}},
        {"apiVersion": "v1", "kind": "Service", "metadata": meta,
         "spec": {"type": "ClusterIP", "clusterIP": "10.0.0.1"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"a": "b"}},
        {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
         "metadata": meta,
         "status": {"conditions": [_cond("NamesAccepted"), _cond("Established")]}},
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": meta,
         "status": {"observedGeneration": 3, "conditions": [_cond("Ready")]}},
    ]  # fmt: skip


def build_kstatus() -> Path | None:
    """The kstatus Go harness, built once (cached by source hash); None without Go."""
    from reconcile.testing import cache_dir

    sources = [KSTATUS / name for name in ("go.mod", "go.sum", "main.go")]
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:16]
    out = cache_dir() / "oracle" / f"kstatus-{digest}" / "kstatus-oracle"
    if out.is_file():
        return out
    go = shutil.which("go")
    if go is None:
        return None
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local", "CGO_ENABLED": "0"}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    done = subprocess.run(
        [go, "build", "-o", str(tmp), "."], cwd=KSTATUS, env=env, capture_output=True, check=False
    )
    if done.returncode != 0:
        return None
    tmp.replace(out)
    return out


def bench_health(n: int, repeat: int) -> dict[str, Any]:
    base = health_objects()
    objs = [copy.deepcopy(base[i % len(base)]) for i in range(n)]
    ours = _best(lambda: [compute(o) for o in objs], repeat) / n * 1e9
    peer: float | None = None
    binary = build_kstatus()
    if binary is not None:
        payload = "".join(json.dumps(o) + "\n" for o in base)
        rounds = max(1, n // len(base))
        done = subprocess.run(
            [str(binary), f"-bench={rounds}"], input=payload, capture_output=True,
            text=True, check=True,
        )  # fmt: skip
        peer = float(done.stdout.strip())
    return {"case": f"health x{n}", "ours_ns": ours, "peer": "kstatus (Go)", "peer_ns": peer}


def corpus_manifests() -> list[Manifest]:
    corpus = Path(os.environ.get("RECONCILE_CORPUS", ROOT.parent / "shared" / "corpus"))
    try:
        import yaml
    except ImportError:  # pragma: no cover - a dev dependency
        return []
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    out: list[Manifest] = []
    for path in sorted((corpus / "manifests").rglob("*.yaml")):
        text = path.read_text()
        if "{{" in text:
            continue
        try:
            docs = list(yaml.load_all(text, Loader=loader))
        except yaml.YAMLError:
            continue
        out += [
            Manifest(d)
            for d in docs
            if isinstance(d, dict) and d.get("kind") and isinstance(d.get("metadata"), dict)
        ]
    return out


def scaled(manifests: list[Manifest], n: int) -> list[Manifest]:
    if not manifests:
        manifests = [
            Manifest({"apiVersion": a, "kind": k, "metadata": {"name": "x", "namespace": "a"}})
            for a, k in [("v1", "ConfigMap"), ("apps/v1", "Deployment"), ("v1", "Service")]
        ]
    out = []
    for i in range(n):
        m = manifests[i % len(manifests)]
        meta = {**m.obj.get("metadata", {}), "name": f"{m.obj['metadata'].get('name', 'x')}-{i}"}
        out.append(Manifest({**m.obj, "metadata": meta}))
    return out


def bench_planner(manifests: list[Manifest], n: int, repeat: int) -> dict[str, Any]:
    ms = scaled(manifests, n)
    ours = _best(lambda: plan(ms), repeat) / n * 1e9
    peer = _best(lambda: sorted(ms, key=lambda m: kind_rank(m.ref)), repeat) / n * 1e9
    return {"case": f"plan x{n}", "ours_ns": ours, "peer": "sorted() by kind", "peer_ns": peer}


def bench_inventory(n: int, repeat: int) -> dict[str, Any]:
    parent = ApplySetParent("ConfigMap", "inv", "ops")
    members = frozenset(
        ObjectRef("apps/v1" if i % 3 else "v1", "Deployment" if i % 3 else "ConfigMap",
                  f"obj-{i}", f"ns-{i % 7}")
        for i in range(n)
    )  # fmt: skip
    inv = Inventory(parent, members)
    ours = _best(lambda: decode(encode(inv)), repeat) / n * 1e9
    dicts = [
        {"apiVersion": r.api_version, "kind": r.kind, "name": r.name, "namespace": r.namespace}
        for r in members
    ]
    peer = _best(lambda: json.loads(json.dumps(dicts)), repeat) / n * 1e9
    return {
        "case": f"inventory x{n}",
        "ours_ns": ours,
        "peer": "json dumps+loads",
        "peer_ns": peer,
    }


def main(argv: list[str]) -> int:
    """Run the benchmarks, print a table, write ``benchmarks/results/engine.json``."""
    quick = "--quick" in argv
    repeat = 3 if quick else 7
    sizes = [1_000] if quick else [1_000, 10_000]
    manifests = corpus_manifests()
    rows: list[dict[str, Any]] = []
    for n in sizes:
        rows.append(bench_health(n * 10, repeat))
        rows.append(bench_planner(manifests, n, repeat))
        rows.append(bench_inventory(n, repeat))
    print(f"{'case':<18} {'ours ns/obj':>12} {'peer':<18} {'peer ns/obj':>12} {'ratio':>7}")
    for row in rows:
        peer_ns = row["peer_ns"]
        ratio = f"{row['ours_ns'] / peer_ns:6.2f}x" if peer_ns else "   n/a"
        peer_text = f"{peer_ns:12.0f}" if peer_ns else "         n/a"
        row["ratio"] = row["ours_ns"] / peer_ns if peer_ns else None
        print(f"{row['case']:<18} {row['ours_ns']:12.0f} {row['peer']:<18} {peer_text} {ratio}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "engine.json"
    meta = {"python": sys.version.split()[0], "corpus_manifests": len(manifests), "quick": quick}
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
