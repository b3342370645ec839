"""Three-way patch creation over the corpus: ours vs Kubernetes' Go code and peers.

``python -m benchmarks merge [--repeat N] [--quick]`` (or ``main([...])``).

For every Kubernetes object of the shared corpus (``RECONCILE_CORPUS`` or
``../shared/corpus``): original = the manifest (last applied), modified = the
manifest with drift in 0 %, 1 % or 100 % of the objects, current = the
manifest plus realistic server defaults (uid, resourceVersion, defaulted pod
and service fields, status) — a stand-in until the real control plane of
``reconcile.testing`` is wired in. JSON decoding is included on every side:
each run starts from the three documents as JSON bytes.

Side by side:

* ``reconcile``: :func:`reconcile.merge.create_apply_patch` (strategic or JSON
  merge patch, as kubectl chooses);
* ``go (inside)``: the same calls in the Go oracle (``tests/oracle``), timed
  inside the Go process around ``CreateThreeWayMergePatch`` /
  ``CreateThreeWayJSONMergePatch`` (decoding included);
* ``go (process)``: the oracle as a whole process: start it, send every
  request as a JSON line, read every answer;
* ``jsonpatch.make_patch`` (two-way, current → modified);
* ``deepdiff.DeepDiff`` (two-way).

Also: the in-sync verdict (an empty patch) against an ``orjson.loads`` of the
same object. Prints a table and writes ``benchmarks/results/merge.json``.
"""

from __future__ import annotations

import argparse
import copy
import functools
import gc
import importlib
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from reconcile.merge import create_apply_patch

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
JSON = Any


def _corpus() -> Path:
    override = os.environ.get("RECONCILE_CORPUS")
    if override:
        return Path(override)
    for candidate in (REPO.parent / "shared" / "corpus", REPO.parent.parent / "shared" / "corpus"):
        if (candidate / "manifests").is_dir():
            return candidate
    raise SystemExit("the shared corpus was not found; set RECONCILE_CORPUS")


def _oracle_module() -> Any:
    sys.path.insert(0, str(REPO / "tests"))
    return importlib.import_module("oracle")


def server_defaults(obj: JSON) -> JSON:
    """The object as an API server returns it (a realistic subset of defaulting)."""
    live = copy.deepcopy(obj)
    md = live.setdefault("metadata", {})
    md.update(
        {
            "uid": "d9607e19-f88f-11e6-a518-42010a800195",
            "resourceVersion": "123456",
            "generation": 1,
            "creationTimestamp": "2026-11-27T05:00:00Z",
        }
    )
    md.setdefault("annotations", {})["kubectl.kubernetes.io/last-applied-configuration"] = (
        orjson.dumps(obj).decode()
    )
    kind, spec = live.get("kind"), live.get("spec")
    if kind in ("Deployment", "StatefulSet", "DaemonSet") and isinstance(spec, dict):
        if kind == "Deployment":
            spec.setdefault("replicas", 1)
            spec.setdefault("progressDeadlineSeconds", 600)
            spec.setdefault(
                "strategy",
                {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
                },
            )
        spec.setdefault("revisionHistoryLimit", 10)
        pod = (spec.get("template") or {}).get("spec")
        if isinstance(pod, dict):
            pod.setdefault("restartPolicy", "Always")
            pod.setdefault("dnsPolicy", "ClusterFirst")
            pod.setdefault("schedulerName", "default-scheduler")
            pod.setdefault("terminationGracePeriodSeconds", 30)
            pod.setdefault("securityContext", {})
            for c in [*(pod.get("containers") or []), *(pod.get("initContainers") or [])]:
                c.setdefault("imagePullPolicy", "IfNotPresent")
                c.setdefault("terminationMessagePath", "/dev/termination-log")
                c.setdefault("terminationMessagePolicy", "File")
                c.setdefault("resources", {})
                for p in c.get("ports") or []:
                    p.setdefault("protocol", "TCP")
        live["status"] = {"observedGeneration": 1, "replicas": 1, "readyReplicas": 1}
    elif kind == "Service" and isinstance(spec, dict):
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("clusterIP", "10.96.0.10")
        spec.setdefault("clusterIPs", ["10.96.0.10"])
        spec.setdefault("sessionAffinity", "None")
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
        for p in spec.get("ports") or []:
            p.setdefault("protocol", "TCP")
            p.setdefault("targetPort", p.get("port"))
        live["status"] = {"loadBalancer": {}}
    return live


def drift(obj: JSON) -> JSON:
    """The manifest with a typical change: a new label and an edited first scalar of spec."""
    out = copy.deepcopy(obj)
    out.setdefault("metadata", {}).setdefault("labels", {})["reconcile.example/rev"] = "2"
    return out


Item = tuple[str, str, bytes, bytes, bytes]  # apiVersion, kind, original, modified, current


def build_items(objects: list[JSON], changed: float) -> list[Item]:
    n = len(objects)
    every = 0 if changed == 0 else max(1, round(1 / changed))
    items = []
    for i, obj in enumerate(objects):
        modified = drift(obj) if every and i % every == 0 else obj
        items.append(
            (
                obj["apiVersion"],
                obj["kind"],
                orjson.dumps(obj),
                orjson.dumps(modified),
                orjson.dumps(server_defaults(obj)),
            )
        )
    assert len(items) == n
    return items


def _best(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def run_ours(items: list[Item]) -> int:
    changed = 0
    loads = orjson.loads
    for _, _, o, m, c in items:
        if not create_apply_patch(loads(o), loads(m), loads(c)).in_sync:
            changed += 1
    return changed


def run_jsonpatch(items: list[Item]) -> None:
    import jsonpatch

    for _, _, _, m, c in items:
        jsonpatch.make_patch(orjson.loads(c), orjson.loads(m))


def run_deepdiff(items: list[Item]) -> None:
    from deepdiff import DeepDiff

    for _, _, _, m, c in items:
        DeepDiff(orjson.loads(c), orjson.loads(m))


def _requests(items: list[Item]) -> bytes:
    lines = []
    for api_version, kind, o, m, c in items:
        lines.append(
            b'{"op":"kubectl3","apiVersion":'
            + orjson.dumps(api_version)
            + b',"kind":'
            + orjson.dumps(kind)
            + b',"original":'
            + o
            + b',"modified":'
            + m
            + b',"current":'
            + c
            + b"}\n"
        )
    return b"".join(lines)


def run_go(binary: Path, items: list[Item], repeat: int) -> tuple[float, float, int]:
    """(best seconds inside Go, best seconds for the whole process, non-empty patches)."""
    payload = _requests(items)
    best_inside = best_process = float("inf")
    changed = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        proc = subprocess.run([str(binary)], input=payload, capture_output=True, check=True)
        elapsed = time.perf_counter() - t0
        answers = [orjson.loads(line) for line in proc.stdout.splitlines()]
        if len(answers) != len(items) or any("error" in a for a in answers):
            bad = [a.get("error") for a in answers if "error" in a][:3]
            raise SystemExit(f"the oracle failed: {bad}")
        inside = sum(a["ns"] for a in answers) / 1e9
        changed = sum(1 for a in answers if a.get("result") not in ({}, None))
        best_inside = min(best_inside, inside)
        best_process = min(best_process, elapsed)
    return best_inside, best_process, changed


def in_sync_cost(items: list[Item], repeat: int) -> dict[str, float]:
    """Seconds for the verdict alone (decoded inputs) vs one orjson decode of each object."""
    decoded = [(orjson.loads(o), orjson.loads(m), orjson.loads(c)) for _, _, o, m, c in items]

    def verdict() -> None:
        for o, m, c in decoded:
            create_apply_patch(o, m, c)

    def decode_one() -> None:
        for _, _, _, _, c in items:
            orjson.loads(c)

    def decode_three() -> None:
        for _, _, o, m, c in items:
            orjson.loads(o)
            orjson.loads(m)
            orjson.loads(c)

    return {
        "verdict_s": _best(verdict, repeat),
        "decode_current_s": _best(decode_one, repeat),
        "decode_all_three_s": _best(decode_three, repeat),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks merge", description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (best kept)")
    parser.add_argument("--quick", action="store_true", help="two runs per measurement")
    parser.add_argument("--profile", action="store_true", help="print where our time goes")
    args = parser.parse_args(argv)
    repeat = 2 if args.quick else args.repeat
    oracle = _oracle_module()
    objects = [obj for _, obj in oracle.load_corpus_objects(_corpus())]
    binary = oracle.build()
    n = len(objects)
    rows: list[dict[str, Any]] = []
    from reconcile.schema import is_strategic

    classes = {
        "all": objects,
        "strategic": [o for o in objects if is_strategic(o["apiVersion"], o["kind"])],
        "json-merge": [o for o in objects if not is_strategic(o["apiVersion"], o["kind"])],
    }
    for label, subset in classes.items():
        for changed in (0.0, 0.01, 1.0):
            items = build_items(subset, changed)
            ours_s = _best(functools.partial(run_ours, items), repeat)
            ours_changed = run_ours(items)
            go_inside, go_process, go_changed = run_go(binary, items, repeat)
            if ours_changed != go_changed:
                print(
                    f"warning: {ours_changed} vs Go's {go_changed} non-empty patches",
                    file=sys.stderr,
                )
            jp_s = _best(functools.partial(run_jsonpatch, items), repeat)
            dd_s = _best(functools.partial(run_deepdiff, items), 1) if label == "all" else 0.0
            rows.append(
                {
                    "objects": label,
                    "count": len(subset),
                    "changed": changed,
                    "non_empty_patches": ours_changed,
                    "reconcile_s": ours_s,
                    "go_inside_s": go_inside,
                    "go_process_s": go_process,
                    "jsonpatch_s": jp_s,
                    "deepdiff_s": dd_s,
                }
            )
    sync = in_sync_cost(build_items(objects, 0.0), repeat)

    def ops(count: int, seconds: float) -> str:
        return f"{count / seconds:>10,.0f}" if seconds else f"{'-':>10}"

    print(f"three-way patch creation over {n} corpus objects, JSON decoding included (objects/s)")
    print(
        f"{'objects':>10} {'changed':>8} {'reconcile':>10} {'go inside':>10} {'go process':>10} "
        f"{'jsonpatch':>10} {'deepdiff':>10} {'vs go in':>9} {'vs go proc':>10}"
    )
    for r in rows:
        k = r["count"]
        print(
            f"{r['objects']:>10} {r['changed']:>8.0%} {ops(k, r['reconcile_s'])} "
            f"{ops(k, r['go_inside_s'])} {ops(k, r['go_process_s'])} "
            f"{ops(k, r['jsonpatch_s'])} {ops(k, r['deepdiff_s'])} "
            f"{r['go_inside_s'] / r['reconcile_s']:>8.2f}x "
            f"{r['go_process_s'] / r['reconcile_s']:>9.2f}x"
        )
    ratio_one = sync["verdict_s"] / sync["decode_current_s"]
    ratio_three = sync["verdict_s"] / sync["decode_all_three_s"]
    print(
        f"in-sync verdict: {sync['verdict_s'] / n * 1e6:.1f} us/object = {ratio_one:.2f}x "
        f"an orjson decode of the live object, {ratio_three:.2f}x decoding all three documents"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "merge",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "repeat": repeat,
        "current": "manifest + simulated server defaults (not yet the real control plane)",
        "rows": rows,
        "in_sync": {
            **sync,
            "ratio_vs_decode_current": ratio_one,
            "ratio_vs_decode_three": ratio_three,
        },
    }
    (RESULTS / "merge.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    print(f"wrote {RESULTS / 'merge.json'}")
    if args.profile:
        import cProfile
        import pstats

        items = build_items(objects, 1.0)
        profiler = cProfile.Profile()
        profiler.runcall(run_ours, items)
        print("profile of reconcile at 100 % changed (top 15 by own time):")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
