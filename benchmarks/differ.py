"""Drift detection over the corpus: the local Differ vs a dry-run apply per object (Flux).

``python -m benchmarks differ [--repeat N] [--quick]`` (or ``main([...])``).

Starts a real control plane (:class:`reconcile.testing.ControlPlane`), applies
every corpus object it can serve with field manager ``gitops`` (CRDs first,
then everything else; namespaced objects in one namespace per corpus folder),
and reads every object back as the server returns it (JSON, with
``managedFields``). Then, with drift in 0 %, 1 % and 100 % of the desired
objects (a changed label):

* ``reconcile``: :class:`reconcile.diff.DefaultDiffer` over (desired, live)
  for every object, in one thread (live objects decoded, as a watch cache
  holds them);
* ``dry-run``: what Flux's kustomize-controller does for drift detection: one
  server-side apply with ``dryRun=All`` per object, compared with live, at
  Flux's default concurrency (``--concurrent=4``), over keep-alive
  connections. Flux also GETs each object first; that request is not counted,
  which favours the dry-run side.

Both sides' verdicts are compared (they must agree). Also: the in-sync
verdict per object against ``orjson.loads`` of the object's JSON. Prints a
table and writes ``benchmarks/results/differ.json``.
"""

from __future__ import annotations

import argparse
import copy
import functools
import gc
import http.client
import json
import os
import platform
import ssl
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import orjson
import yaml

from reconcile.diff import DefaultDiffer
from reconcile.objects import split_api_version
from reconcile.schema import SchemaRegistry
from reconcile.testing import ControlPlane

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
MANAGER = "gitops"
FLUX_CONCURRENCY = 4
_SERVER_META = ("managedFields", "resourceVersion", "generation")
#: Corpus objects the server did not take: (kind, name, HTTP status, message).
REFUSED: list[tuple[str, str, int, str]] = []


def _corpus() -> Path:
    override = os.environ.get("RECONCILE_CORPUS")
    if override:
        return Path(override)
    for candidate in (REPO.parent / "shared" / "corpus", REPO.parent.parent / "shared" / "corpus"):
        if (candidate / "manifests").is_dir():
            return candidate
    raise SystemExit("the shared corpus was not found; set RECONCILE_CORPUS")


class _Client:
    """Admin requests over one keep-alive TLS connection per thread."""

    def __init__(self, plane: ControlPlane) -> None:
        assert plane.pki is not None
        self.port = plane.port
        self.context = ssl.create_default_context(cafile=str(plane.pki.ca_cert))
        self.context.load_cert_chain(str(plane.pki.admin_cert), str(plane.pki.admin_key))
        self.local = threading.local()
        self.conns: list[http.client.HTTPSConnection] = []
        self.lock = threading.Lock()
        self.resources: dict[tuple[str, str], tuple[str, bool]] = {}

    def close(self) -> None:
        with self.lock:
            for c in self.conns:
                c.close()

    def request(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> tuple[int, bytes]:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.context)
            self.local.conn = conn
            with self.lock:
                self.conns.append(conn)
        headers = {"Accept": "application/json"}
        payload = None
        if body is not None:
            payload = orjson.dumps(body)
            headers["Content-Type"] = content_type
        conn.request(method, path, body=payload, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()

    def discover(self) -> None:
        bases = ["/api/v1"]
        _, data = self.request("GET", "/apis")
        for g in orjson.loads(data)["groups"]:
            bases.extend(f"/apis/{v['groupVersion']}" for v in g["versions"])
        for base in bases:
            status, data = self.request("GET", base)
            if status != 200:
                continue
            doc = orjson.loads(data)
            for r in doc["resources"]:
                if "/" not in r["name"]:
                    self.resources[(doc["groupVersion"], r["kind"])] = (r["name"], r["namespaced"])

    def path(self, obj: dict[str, Any], **query: str) -> str:
        plural, namespaced = self.resources[(obj["apiVersion"], obj["kind"])]
        group, version = split_api_version(obj["apiVersion"])
        base = f"/apis/{group}/{version}" if group else f"/api/{version}"
        if namespaced:
            base += f"/namespaces/{obj['metadata']['namespace']}"
        url = f"{base}/{plural}/{quote(obj['metadata']['name'])}"
        return url + ("?" + urlencode(query) if query else "")

    def apply(self, obj: dict[str, Any], *, dry_run: bool = False) -> tuple[int, bytes]:
        query = {"fieldManager": MANAGER, "force": "true"}
        if dry_run:
            query = {"fieldManager": MANAGER, "dryRun": "All"}
        return self.request(
            "PATCH", self.path(obj, **query), obj, content_type="application/apply-patch+yaml"
        )


def _load(corpus: Path) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    for path in sorted((corpus / "manifests").rglob("*.yaml")):
        if "helm-metrics-server" in path.parts:
            continue
        try:
            docs = list(yaml.load_all(path.read_text(), Loader=yaml.CSafeLoader))
        except yaml.YAMLError:
            continue
        folder = path.relative_to(corpus / "manifests").parts[0]
        for doc in docs:
            if (
                isinstance(doc, dict)
                and "apiVersion" in doc
                and "kind" in doc
                and "metadata" in doc
            ):
                out.append((folder, orjson.loads(orjson.dumps(doc, default=str))))
    return out


def _content(obj: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k not in _SERVER_META}
    return {**obj, "metadata": meta}


def _owners(obj: dict[str, Any]) -> list[Any]:
    return sorted(
        (json.dumps([e.get("manager"), e.get("operation"), e.get("fieldsV1")], sort_keys=True))
        for e in obj.get("metadata", {}).get("managedFields") or []
    )


def setup(plane: ControlPlane, client: _Client, registry: SchemaRegistry) -> list[Any]:
    """Apply the corpus; return [(desired, live JSON bytes)]."""
    client.discover()
    docs = _load(_corpus())
    seen: set[tuple[str, str, str, str]] = set()
    crds = [d for _, d in docs if d["kind"] == "CustomResourceDefinition"]
    for crd in crds:
        key = ("crd", "", "", crd["metadata"]["name"])
        if key in seen:
            continue
        seen.add(key)
        status, body = client.apply(crd)
        if status in (200, 201):
            registry.add_crd(crd)
    # wait for the CRDs to be served
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        client.discover()
        wanted = {
            (f"{c['spec']['group']}/{v['name']}", c["spec"]["names"]["kind"])
            for c in crds
            for v in c["spec"]["versions"]
            if v.get("served")
        }
        if wanted <= set(client.resources):
            break
        time.sleep(0.5)
    applied: list[dict[str, Any]] = []
    namespaces: set[str] = set()
    for folder, doc in docs:
        if doc["kind"] in ("CustomResourceDefinition", "Namespace"):
            if doc["kind"] == "CustomResourceDefinition" and doc["metadata"]["name"] in {
                a["metadata"]["name"] for a in applied if a["kind"] == doc["kind"]
            }:
                continue
            if doc["kind"] == "CustomResourceDefinition":
                applied.append(doc)
            continue
        if (doc["apiVersion"], doc["kind"]) not in client.resources:
            REFUSED.append((doc["kind"], doc["metadata"].get("name", ""), 0, "not served"))
            continue
        _, namespaced = client.resources[(doc["apiVersion"], doc["kind"])]
        obj = copy.deepcopy(doc)
        meta = obj["metadata"]
        if namespaced:
            meta["namespace"] = f"bench-{folder}"
            if meta["namespace"] not in namespaces:
                client.request(
                    "POST", "/api/v1/namespaces", {"metadata": {"name": meta["namespace"]}}
                )
                namespaces.add(meta["namespace"])
        else:
            meta["name"] = f"bench-{folder}-{meta['name']}"
        key = (
            obj["apiVersion"].split("/")[0],
            obj["kind"],
            meta.get("namespace", ""),
            meta["name"],
        )
        if key in seen:
            continue
        seen.add(key)
        status, body = client.apply(obj)
        if status in (200, 201):
            applied.append(obj)
        else:
            REFUSED.append((obj["kind"], meta["name"], status, body[:200].decode(errors="replace")))
    pairs = []
    for obj in applied:
        status, data = client.request("GET", client.path(obj))
        if status == 200:
            pairs.append((obj, data))
    return pairs


def drifted(pairs: list[Any], fraction: float) -> list[tuple[dict[str, Any], bytes]]:
    n = len(pairs)
    k = 0 if fraction == 0 else max(1, round(n * fraction))
    step = n / k if k else 0
    chosen = {int(i * step) for i in range(k)}
    out = []
    for i, (obj, data) in enumerate(pairs):
        if i in chosen:
            obj = copy.deepcopy(obj)
            obj["metadata"].setdefault("labels", {})["bench-drift"] = "yes"
        out.append((obj, data))
    return out


def run_differ(items: list[tuple[dict[str, Any], Any]], registry: SchemaRegistry) -> list[bool]:
    differ = DefaultDiffer(manager=MANAGER, registry=registry)
    return [differ.diff(desired, live).in_sync for desired, live in items]


def run_dry_run(client: _Client, items: list[tuple[dict[str, Any], bytes]]) -> list[bool]:
    def one(item: tuple[dict[str, Any], bytes]) -> bool:
        desired, data = item
        status, body = client.apply(desired, dry_run=True)
        if status != 200:
            return False
        live = orjson.loads(data)
        result = orjson.loads(body)
        return _content(result) == _content(live) and _owners(result) == _owners(live)

    with ThreadPoolExecutor(FLUX_CONCURRENCY) as pool:
        return list(pool.map(one, items))


def _best(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def per_object_costs(
    items: list[tuple[dict[str, Any], bytes]], registry: SchemaRegistry, repeat: int
) -> dict[str, float]:
    """Mean in-sync verdict and orjson decode per object, and the verdict with decode."""
    decoded = [(d, orjson.loads(b)) for d, b in items]
    differ = DefaultDiffer(manager=MANAGER, registry=registry)
    for d, lv in decoded:  # warm the field-set cache, as a steady state would
        differ.diff(d, lv)
    blobs = [b for _, b in items]
    decode = _best(lambda: [orjson.loads(b) for b in blobs], repeat)
    verdict = _best(lambda: [differ.diff(d, lv) for d, lv in decoded], repeat)
    cold = DefaultDiffer(manager=MANAGER, registry=registry)
    verdict_cold = _best(lambda: [cold.diff(d, lv) for d, lv in decoded], 1)
    stats = differ.statistics()
    n = len(items)
    return {
        "objects": n,
        "decode_us": decode / n * 1e6,
        "verdict_us": verdict / n * 1e6,
        "verdict_first_pass_us": verdict_cold / n * 1e6,
        "ratio": verdict / decode,
        "fast_path_share": stats.fast_in_sync / max(1, stats.objects),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks differ", description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (best kept)")
    parser.add_argument("--quick", action="store_true", help="fewer runs")
    args = parser.parse_args(argv)
    repeat = 2 if args.quick else args.repeat
    registry = SchemaRegistry()  # built-in kinds, plus the corpus CRDs once applied
    with ControlPlane() as plane:
        client = _Client(plane)
        try:
            pairs = setup(plane, client, registry)
            n = len(pairs)
            rows: list[dict[str, Any]] = []
            for fraction in (0.0, 0.01, 1.0):
                items = drifted(pairs, fraction)
                decoded = [(d, orjson.loads(b)) for d, b in items]
                ours = run_differ(decoded, registry)
                ours_s = _best(functools.partial(run_differ, decoded, registry), repeat)
                theirs = run_dry_run(client, items)
                theirs_s = _best(functools.partial(run_dry_run, client, items), max(1, repeat // 2))
                agree = sum(a == b for a, b in zip(ours, theirs, strict=True))
                rows.append(
                    {
                        "drift": fraction,
                        "objects": n,
                        "in_sync": sum(ours),
                        "agree": agree,
                        "reconcile_s": ours_s,
                        "dry_run_s": theirs_s,
                        "reconcile_obj_s": n / ours_s,
                        "dry_run_obj_s": n / theirs_s,
                        "speedup": theirs_s / ours_s,
                    }
                )
            costs = per_object_costs(pairs, registry, repeat)
        finally:
            client.close()
    print(f"{n} corpus objects as the API server returns them; Flux concurrency {FLUX_CONCURRENCY}")
    print(
        f"{'drift':>6} {'in sync':>8} {'agree':>6} {'reconcile obj/s':>16} "
        f"{'dry-run obj/s':>14} {'speedup':>8}"
    )
    for r in rows:
        print(
            f"{r['drift'] * 100:>5.0f}% {r['in_sync']:>8} {r['agree']:>6} "
            f"{r['reconcile_obj_s']:>16,.0f} {r['dry_run_obj_s']:>14,.0f} {r['speedup']:>7.1f}x"
        )
    print(
        f"in-sync verdict {costs['verdict_us']:.1f} us/object (first pass "
        f"{costs['verdict_first_pass_us']:.1f} us) vs orjson.loads {costs['decode_us']:.1f} us: "
        f"{costs['ratio']:.2f}x; fast path {costs['fast_path_share'] * 100:.0f} %"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {
        "benchmark": "differ",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "flux_concurrency": FLUX_CONCURRENCY,
        "rows": rows,
        "per_object": costs,
        "mean_speedup": statistics.mean(r["speedup"] for r in rows),
    }
    (RESULTS / "differ.json").write_text(json.dumps(out, indent=2))
    disagreements = sum(r["objects"] - r["agree"] for r in rows)
    if disagreements:
        print(f"warning: {disagreements} verdicts differ from the dry-run's")
    return 0


if __name__ == "__main__":  # pragma: no cover
    import sys

    raise SystemExit(main(sys.argv[1:]))
