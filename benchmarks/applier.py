"""Applier benchmark: KubernetesApplier vs ``kubectl apply --server-side`` on a real control plane.

1,000 generated objects (ConfigMaps, Secrets, headless Services, Deployments,
Roles and RoleBindings) are applied by each peer into its own namespace: a
first apply, then a no-op re-apply. Requests are counted by verb (kubectl's
from its ``-v=6`` log). Then the memory of a live-state cache holding 10,000
objects (the server's own objects, cloned under new names) is compared with
their JSON size.

Run: ``python -m benchmarks.applier [--objects N] [--cache-objects N]``
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import copy
import gc
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import orjson

from reconcile.cluster import Action, KubernetesApplier
from reconcile.cluster.kubernetes._cache import Informer
from reconcile.testing import ControlPlane

RESULTS = Path(__file__).parent / "results"


def generate(n: int, namespace: str) -> list[dict[str, Any]]:
    """``n`` objects spread over six kinds."""
    objs: list[dict[str, Any]] = []
    kinds = ["cm", "secret", "svc", "deploy", "role", "binding"]
    for i in range(n):
        kind = kinds[i % len(kinds)]
        name = f"obj-{i:05d}"
        meta = {"name": name, "namespace": namespace, "labels": {"app": name, "bench": "yes"}}
        if kind == "cm":
            objs.append(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": meta,
                    "data": {"key": f"value-{i}", "config.yaml": "a: 1\nb: [1, 2, 3]\n"},
                }
            )
        elif kind == "secret":
            objs.append(
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": meta,
                    "type": "Opaque",
                    "stringData": {"password": f"pw-{i}"},
                }
            )
        elif kind == "svc":
            objs.append(
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": meta,
                    "spec": {
                        "clusterIP": "None",
                        "selector": {"app": name},
                        "ports": [
                            {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}
                        ],
                    },
                }
            )
        elif kind == "deploy":
            objs.append(
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": meta,
                    "spec": {
                        "replicas": 2,
                        "selector": {"matchLabels": {"app": name}},
                        "template": {
                            "metadata": {"labels": {"app": name}},
                            "spec": {
                                "containers": [
                                    {
                                        "name": "app",
                                        "image": "nginx:1.27",
                                        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                                        "env": [{"name": "INDEX", "value": str(i)}],
                                        "resources": {"limits": {"memory": "128Mi"}},
                                    }
                                ]
                            },
                        },
                    },
                }
            )
        elif kind == "role":
            objs.append(
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "Role",
                    "metadata": meta,
                    "rules": [
                        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}
                    ],
                }
            )
        else:
            objs.append(
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "RoleBinding",
                    "metadata": meta,
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "Role",
                        "name": f"obj-{i - 1:05d}",
                    },
                    "subjects": [
                        {"kind": "ServiceAccount", "name": "default", "namespace": namespace}
                    ],
                }
            )
    return objs


# Old klog format (`GET https://... 200 OK`) and structured (`verb="GET" url=...`).
_KUBECTL_REQ = re.compile(r'(?:\b|verb=")(GET|POST|PUT|PATCH|DELETE)"? (?:url=")?https?://')


def kubectl_apply(kubectl: str, kubeconfig: Path, directory: Path) -> tuple[float, dict[str, int]]:
    began = time.perf_counter()
    proc = subprocess.run(
        [
            kubectl,
            "--kubeconfig",
            str(kubeconfig),
            "apply",
            "--server-side",
            "--field-manager=kubectl-bench",
            "-f",
            str(directory),
            "-v=6",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - began
    if proc.returncode != 0:
        raise SystemExit(f"kubectl failed: {proc.stderr[-2000:]}")
    verbs: collections.Counter[str] = collections.Counter()
    for match in _KUBECTL_REQ.finditer(proc.stderr):
        verbs[match.group(1).lower()] += 1
    return elapsed, dict(verbs)


async def ours(cp: ControlPlane, objs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with KubernetesApplier(
        field_manager="reconcile-bench", kubeconfig=cp.kubeconfig, concurrency=16
    ) as applier:
        began = time.perf_counter()
        first = await applier.apply_all(objs)
        out["first_s"] = time.perf_counter() - began
        out["first_actions"] = dict(collections.Counter(r.action.value for r in first))
        out["first_requests"] = dict(applier.transport.requests)
        failed = [r for r in first if r.action is Action.FAILED]
        if failed:
            raise SystemExit(f"apply failed: {failed[0].error}")
        before = collections.Counter(applier.transport.requests)
        began = time.perf_counter()
        again = await applier.apply_all(objs)
        out["noop_s"] = time.perf_counter() - began
        out["noop_actions"] = dict(collections.Counter(r.action.value for r in again))
        out["noop_requests"] = dict(collections.Counter(applier.transport.requests) - before)
        live = await applier.list_objects("v1", "ConfigMap", objs[0]["metadata"]["namespace"])
        live += await applier.list_objects(
            "apps/v1", "Deployment", objs[0]["metadata"]["namespace"]
        )
    # A cold no-op: a new process's first pass (discovery, lists, no writes).
    async with KubernetesApplier(
        field_manager="reconcile-bench", kubeconfig=cp.kubeconfig, concurrency=16
    ) as cold:
        began = time.perf_counter()
        again = await cold.apply_all(objs)
        out["cold_noop_s"] = time.perf_counter() - began
        out["cold_noop_actions"] = dict(collections.Counter(r.action.value for r in again))
        out["cold_noop_requests"] = dict(cold.transport.requests)
    out["_live"] = live
    return out


def cache_memory(samples: list[dict[str, Any]], n: int) -> dict[str, Any]:
    """tracemalloc'd size of an informer store of ``n`` objects vs their JSON size."""
    objs = []
    for i in range(n):
        obj = copy.deepcopy(samples[i % len(samples)])
        obj["metadata"]["name"] = f"clone-{i:06d}"
        obj["metadata"]["resourceVersion"] = str(100000 + i)
        objs.append(obj)
    json_bytes = sum(len(json.dumps(o, separators=(",", ":"))) for o in objs)
    inf = Informer.__new__(Informer)
    inf.store = {}
    inf.rvs = {}
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for obj in objs:
        inf._put(Informer.key_of(obj), obj)
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return {"objects": n, "json_bytes": json_bytes, "cache_bytes": used, "ratio": used / json_bytes}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.applier")
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--cache-objects", type=int, default=10000)
    args = parser.parse_args(argv)
    venv_kubectl = Path(sys.executable).parent / "kubectl"
    kubectl = str(venv_kubectl) if venv_kubectl.exists() else shutil.which("kubectl") or "kubectl"
    with ControlPlane() as cp, tempfile.TemporaryDirectory() as tmp:
        for ns in ("bench-reconcile", "bench-kubectl"):
            cp.request("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})
        ours_objs = generate(args.objects, "bench-reconcile")
        kubectl_objs = generate(args.objects, "bench-kubectl")
        directory = Path(tmp)
        for obj in kubectl_objs:
            path = directory / f"{obj['kind'].lower()}-{obj['metadata']['name']}.json"
            path.write_bytes(orjson.dumps(obj))
        k_first, k_first_verbs = kubectl_apply(kubectl, cp.kubeconfig, directory)
        k_noop, k_noop_verbs = kubectl_apply(kubectl, cp.kubeconfig, directory)
        mine = asyncio.run(ours(cp, ours_objs))
    live = mine.pop("_live")
    memory = cache_memory(live, args.cache_objects)
    writes = sum(
        v for k, v in mine["noop_requests"].items() if k in ("create", "update", "patch", "delete")
    )
    rows = [
        ("first apply", mine["first_s"], k_first, mine["first_requests"], k_first_verbs),
        (
            "no-op re-apply (warm cache)",
            mine["noop_s"],
            k_noop,
            mine["noop_requests"],
            k_noop_verbs,
        ),
        (
            "no-op re-apply (cold process)",
            mine["cold_noop_s"],
            k_noop,
            mine["cold_noop_requests"],
            k_noop_verbs,
        ),
    ]
    print(f"{args.objects} objects; kubectl = {kubectl}")
    header = f"{'pass':32} {'reconcile s':>12} {'kubectl s':>10} {'speed-up':>9}"
    print(f"{header}  requests (ours | kubectl)")
    for name, t_ours, t_k, r_ours, r_k in rows:
        print(f"{name:32} {t_ours:12.3f} {t_k:10.3f} {t_k / t_ours:8.1f}x  {r_ours} | {r_k}")
    print(f"no-op writes sent by reconcile: {writes}; actions: {mine['noop_actions']}")
    print(
        f"cache of {memory['objects']} objects: {memory['cache_bytes'] / 1e6:.1f} MB "
        f"vs {memory['json_bytes'] / 1e6:.1f} MB of JSON = {memory['ratio']:.2f}x"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {
        "objects": args.objects,
        "reconcile": mine,
        "kubectl": {
            "first_s": k_first,
            "first_requests": k_first_verbs,
            "noop_s": k_noop,
            "noop_requests": k_noop_verbs,
        },
        "ratios": {
            "first": k_first / mine["first_s"],
            "noop_warm": k_noop / mine["noop_s"],
            "noop_cold": k_noop / mine["cold_noop_s"],
        },
        "noop_writes": writes,
        "cache_memory": memory,
    }
    out = RESULTS / "applier.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
