"""Applier benchmark: KubernetesApplier vs ``kubectl apply --server-side`` on a real control plane.

1,000 generated objects (ConfigMaps, Secrets, headless Services, Deployments,
Roles and RoleBindings) are applied by each peer into its own namespace: a
first apply, then a no-op re-apply. Requests are counted by verb (kubectl's
from its ``-v=6`` log). Then the memory of a live-state cache holding 10,000
objects (the server's own objects, cloned under new names) is compared with
their JSON size.

A third peer, the *floor*, measures what this machine allows: an idealized
client that sends the same first-apply patches, serialized before the clock
starts, with nothing else to do (no discovery, no cache, no bookkeeping),
at our concurrency and at a higher one. The CPU seconds the API server and
etcd spend on each peer's first apply are read from ``/proc``: on a machine
with few cores, the server's CPU time divided by the cores bounds the wall
time from below, whatever the client does.

Each etcd mode is a control plane of its own: ``no-fsync`` is the test
setup (``--unsafe-no-fsync``), ``fsync`` is production-like (the write-ahead
log synced to a disk directory on every commit). ``--etcd both`` (the
default) reports them side by side.

Run: ``python -m benchmarks applier -- [--objects N] [--rounds N] [--concurrency N]
[--also-concurrency N,M] [--floor-concurrency N,M] [--etcd no-fsync|fsync|both]
[--cache-objects N]``
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import copy
import gc
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from reconcile.cluster import Action, KubernetesApplier
from reconcile.cluster.kubernetes._cache import Informer
from reconcile.cluster.kubernetes._config import ConnectionSettings, load_client
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


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


_TICKS = os.sysconf("SC_CLK_TCK")


def server_cpu(cp: ControlPlane) -> float:
    """CPU seconds used so far by kube-apiserver and etcd."""
    total = 0.0
    for server in (cp.apiserver, cp.etcd):
        if server is None or server.proc is None:
            continue
        with open(f"/proc/{server.proc.pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / _TICKS
    return total


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


async def floor(
    cp: ControlPlane, objs: list[dict[str, Any]], concurrency: int
) -> tuple[float, float, float]:
    """An idealized first apply: pre-serialized patches, ``concurrency`` connections.

    Returns wall, server CPU and client CPU seconds of the sending alone.
    """
    api_client = await load_client(ConnectionSettings(kubeconfig=cp.kubeconfig))
    applier = KubernetesApplier(field_manager="floor-bench", api_client=api_client, cache=False)
    try:
        async with applier:
            requests = []
            for obj in objs:
                info = await applier.resource_for(obj["apiVersion"], obj["kind"])
                meta = obj["metadata"]
                url = f"{cp.server}{info.path(meta['namespace'], meta['name'])}"
                requests.append((f"{url}?fieldManager=floor-bench", orjson.dumps(obj)))
            headers = await applier.transport._headers(
                "application/apply-patch+yaml", "application/json"
            )
            ssl = getattr(api_client.rest_client.pool_manager.connector, "_ssl", True)
        pending = iter(requests)
        connector = aiohttp.TCPConnector(ssl=ssl, limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def worker() -> None:
                for url, body in pending:
                    async with session.patch(url, data=body, headers=headers) as resp:
                        await resp.read()
                        if resp.status not in (200, 201):
                            raise SystemExit(f"floor: {resp.status} {await resp.text()}")

            cpu, own = server_cpu(cp), _own_cpu()
            began = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed = time.perf_counter() - began
            return elapsed, server_cpu(cp) - cpu, _own_cpu() - own
    finally:
        await api_client.close()


async def first_only(
    cp: ControlPlane, objs: list[dict[str, Any]], concurrency: int
) -> tuple[float, float, float]:
    """A first apply alone, at another concurrency: wall, server and client CPU seconds."""
    async with KubernetesApplier(
        field_manager="reconcile-bench", kubeconfig=cp.kubeconfig, concurrency=concurrency
    ) as applier:
        cpu, own = server_cpu(cp), _own_cpu()
        began = time.perf_counter()
        results = await applier.apply_all(objs)
        out = (time.perf_counter() - began, server_cpu(cp) - cpu, _own_cpu() - own)
    failed = [r for r in results if r.action is Action.FAILED]
    if failed:
        raise SystemExit(f"apply failed: {failed[0].error}")
    return out


async def ours(cp: ControlPlane, objs: list[dict[str, Any]], concurrency: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with KubernetesApplier(
        field_manager="reconcile-bench", kubeconfig=cp.kubeconfig, concurrency=concurrency
    ) as applier:
        cpu, own = server_cpu(cp), _own_cpu()
        began = time.perf_counter()
        first = await applier.apply_all(objs)
        out["first_s"] = time.perf_counter() - began
        out["first_server_cpu_s"] = server_cpu(cp) - cpu
        out["first_client_cpu_s"] = _own_cpu() - own
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
        field_manager="reconcile-bench", kubeconfig=cp.kubeconfig, concurrency=concurrency
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


def one_round(
    cp: ControlPlane, r: int, args: argparse.Namespace, kubectl: str, tmp: Path
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Every peer once on its own namespaces; the order alternates between rounds."""
    ours_ns, theirs_ns = f"bench-reconcile-{r}", f"bench-kubectl-{r}"
    floor_ns = {c: f"bench-floor-{c}-{r}" for c in args.floor_concurrency}
    also_ns = {c: f"bench-reconcile-c{c}-{r}" for c in args.also_concurrency}
    for ns in (ours_ns, theirs_ns, *floor_ns.values(), *also_ns.values()):
        cp.request("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})
    directory = tmp / str(r)
    directory.mkdir()
    for obj in generate(args.objects, theirs_ns):
        path = directory / f"{obj['kind'].lower()}-{obj['metadata']['name']}.json"
        path.write_bytes(orjson.dumps(obj))
    # Alternate who goes first: the cluster grows as the run goes on.
    order = ["kubectl", "reconcile", *(f"floor-{c}" for c in args.floor_concurrency)]
    order += [f"also-{c}" for c in args.also_concurrency]
    if r % 2:
        order.reverse()
    one: dict[str, Any] = {}
    live: list[dict[str, Any]] = []
    for peer in order:
        cpu, child = server_cpu(cp), _child_cpu()
        if peer == "kubectl":
            one["kubectl_first_s"], one["kubectl_first_requests"] = kubectl_apply(
                kubectl, cp.kubeconfig, directory
            )
            one["kubectl_first_server_cpu_s"] = server_cpu(cp) - cpu
            one["kubectl_first_client_cpu_s"] = _child_cpu() - child
            one["kubectl_noop_s"], one["kubectl_noop_requests"] = kubectl_apply(
                kubectl, cp.kubeconfig, directory
            )
        elif peer == "reconcile":
            mine = asyncio.run(ours(cp, generate(args.objects, ours_ns), args.concurrency))
            live = mine.pop("_live")
            one.update(mine)
        elif peer.startswith("also-"):
            c = int(peer.split("-")[1])
            (
                one[f"also{c}_first_s"],
                one[f"also{c}_first_server_cpu_s"],
                one[f"also{c}_first_client_cpu_s"],
            ) = asyncio.run(first_only(cp, generate(args.objects, also_ns[c]), c))
        else:
            c = int(peer.split("-")[1])
            objs = generate(args.objects, floor_ns[c])
            (
                one[f"floor{c}_first_s"],
                one[f"floor{c}_first_server_cpu_s"],
                one[f"floor{c}_first_client_cpu_s"],
            ) = asyncio.run(floor(cp, objs, c))
    return one, live


def run_mode(
    etcd: str, args: argparse.Namespace, kubectl: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """All rounds against one control plane; prints its table, returns its JSON."""
    rounds: list[dict[str, Any]] = []
    live: list[dict[str, Any]] = []
    loads = [os.getloadavg()[0]]
    with (
        ControlPlane(etcd_fsync=etcd == "fsync") as cp,
        tempfile.TemporaryDirectory() as tmp,
    ):
        for r in range(args.rounds):
            one, live = one_round(cp, r, args, kubectl, Path(tmp))
            rounds.append(one)
            loads.append(os.getloadavg()[0])

    def median(key: str) -> float:
        return float(statistics.median(float(one[key]) for one in rounds))

    last = rounds[-1]
    writes = max(
        sum(
            v
            for k, v in one["noop_requests"].items()
            if k in ("create", "update", "patch", "delete")
        )
        for one in rounds
    )
    rows = [
        (
            "first apply",
            median("first_s"),
            median("kubectl_first_s"),
            last["first_requests"],
            last["kubectl_first_requests"],
        ),
        (
            "no-op re-apply (warm cache)",
            median("noop_s"),
            median("kubectl_noop_s"),
            last["noop_requests"],
            last["kubectl_noop_requests"],
        ),
        (
            "no-op re-apply (cold process)",
            median("cold_noop_s"),
            median("kubectl_noop_s"),
            last["cold_noop_requests"],
            last["kubectl_noop_requests"],
        ),
    ]
    print(
        f"-- etcd {etcd}: {args.objects} objects, median of {args.rounds} rounds, "
        f"concurrency {args.concurrency}, load average {min(loads):.2f}-{max(loads):.2f}"
    )
    header = f"{'pass':32} {'reconcile s':>12} {'kubectl s':>10} {'speed-up':>9}"
    print(f"{header}  requests in the last round (ours | kubectl)")
    for name, t_ours, t_k, r_ours, r_k in rows:
        print(f"{name:32} {t_ours:12.3f} {t_k:10.3f} {t_k / t_ours:8.1f}x  {r_ours} | {r_k}")
    print(
        f"no-op writes sent by reconcile (max over rounds): {writes}; "
        f"actions: {last['noop_actions']}"
    )
    cores = os.cpu_count() or 1
    print(
        f"first apply of {args.objects}: wall and CPU seconds, medians (vs kubectl: the "
        f"median of per-round ratios; server = kube-apiserver + etcd; "
        f"bound = (server + client) / {cores} cores)"
    )
    columns = ("wall s", "vs kubectl", "server cpu", "client cpu", "bound s")
    print(f"  {'peer':22} " + " ".join(f"{c:>10}" for c in columns))
    first: dict[str, dict[str, float]] = {}
    peers = [("kubectl (serial)", "kubectl_first"), (f"reconcile (c={args.concurrency})", "first")]
    peers += [(f"reconcile (c={c})", f"also{c}_first") for c in args.also_concurrency]
    peers += [(f"floor (c={c})", f"floor{c}_first") for c in args.floor_concurrency]
    for name, key in peers:
        wall, srv, cli = (median(f"{key}{s}") for s in ("_s", "_server_cpu_s", "_client_cpu_s"))
        bound = (srv + cli) / cores
        # The ratio within each round (same load), then the median over rounds.
        ratio = float(statistics.median(one["kubectl_first_s"] / one[f"{key}_s"] for one in rounds))
        first[name] = {
            "wall_s": wall,
            "ratio_vs_kubectl": ratio,
            "server_cpu_s": srv,
            "client_cpu_s": cli,
            "bound_s": bound,
        }
        print(f"  {name:22} {wall:10.3f} {ratio:9.2f}x {srv:10.2f} {cli:10.2f} {bound:10.3f}")
    result = {
        "etcd": etcd,
        "objects": args.objects,
        "concurrency": args.concurrency,
        "load_average": loads,
        "rounds": rounds,
        "medians": {
            name: {"reconcile_s": t_ours, "kubectl_s": t_k, "ratio": t_k / t_ours}
            for name, t_ours, t_k, _, _ in rows
        },
        "first_apply": first,
        "noop_writes": writes,
    }
    return result, live


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.applier")
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--cache-objects", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3, help="rounds; medians are reported")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=KubernetesApplier.DEFAULT_CONCURRENCY,
        help="the applier's concurrency (its default when omitted)",
    )
    parser.add_argument(
        "--floor-concurrency",
        type=lambda v: [int(c) for c in v.split(",") if c],
        default=None,
        help="comma-separated concurrencies of the idealized client (default: ours and 64)",
    )
    parser.add_argument(
        "--also-concurrency",
        type=lambda v: [int(c) for c in v.split(",") if c],
        default=[],
        help="comma-separated other concurrencies of the applier, first apply only",
    )
    parser.add_argument("--etcd", choices=("no-fsync", "fsync", "both"), default="both")
    args = parser.parse_args(argv)
    if args.floor_concurrency is None:
        args.floor_concurrency = sorted({args.concurrency, 64})
    venv_kubectl = Path(sys.executable).parent / "kubectl"
    kubectl = str(venv_kubectl) if venv_kubectl.exists() else shutil.which("kubectl") or "kubectl"
    print(f"kubectl = {kubectl}")
    modes = ["no-fsync", "fsync"] if args.etcd == "both" else [args.etcd]
    results: dict[str, Any] = {}
    live: list[dict[str, Any]] = []
    for etcd in modes:
        results[etcd], live = run_mode(etcd, args, kubectl)
    memory = cache_memory(live, args.cache_objects)
    print(
        f"cache of {memory['objects']} objects: {memory['cache_bytes'] / 1e6:.1f} MB "
        f"vs {memory['json_bytes'] / 1e6:.1f} MB of JSON = {memory['ratio']:.2f}x"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "applier.json"
    out.write_text(json.dumps({"modes": results, "cache_memory": memory}, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
