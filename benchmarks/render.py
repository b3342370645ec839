"""Renderer benchmark: YAML loading against its peers, tool overhead against the bare tools.

Run: ``python -m benchmarks render`` (or ``python benchmarks/render.py``).

Side by side, interleaved in each repetition, median of the repetitions
(CPU time for the in-process YAML peers; wall time for the tools, with the
minimum beside the median, as it is steadier on a busy machine):

* plain YAML over the shared corpus and over a generated directory of
  10,000 objects: ``load_yaml`` (ours, loading only), ``YamlRenderer``
  (ours, with the directory walk and validation), PyYAML's ``CSafeLoader``
  (loading only) and ruamel.yaml's pure-Python safe loader (loading only).
  Target: ours >= 0.9x CSafeLoader's throughput.
* kustomize and helm, on every kustomization of the corpus and its chart:
  the bare tool run as a subprocess, against our renderer (tool + path
  checks + parsing + validation), wall and CPU, as the median of per-
  repetition ratios; and our own work alone (the tool's output replayed).
  Target: <= 10 % overhead.

Writes ``benchmarks/results/render-<time>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from unittest import mock

import yaml
from anyio.from_thread import BlockingPortal, start_blocking_portal
from ruamel.yaml import YAML
from ruamel.yaml.constructor import SafeConstructor

from reconcile.errors import ToolError
from reconcile.render import (
    DirectoryArtifact,
    HelmRenderer,
    KustomizeRenderer,
    Renderer,
    YamlRenderer,
    load_yaml,
)
from reconcile.render.tools import ensure_helm, ensure_kustomize, find_kustomize

REPO = Path(__file__).resolve().parent.parent
PLAIN_FOLDERS = ("argo-cd", "cert-manager", "flux", "kube-prometheus", "microservices-demo")
KUSTOMIZATIONS = (
    "flux",
    "microservices-demo/kubernetes-manifests",
    "kustomize-examples/ldap/overlays/staging",
    "kustomize-examples/wordpress",
)
CHART = "helm-metrics-server/metrics-server"


class _PyYamlValueAsString(yaml.CSafeLoader):
    """CSafeLoader that also reads YAML 1.1's bare ``=`` (the corpus needs it)."""


_PyYamlValueAsString.add_constructor(
    "tag:yaml.org,2002:value",
    lambda loader, node: loader.construct_scalar(node),  # type: ignore[arg-type]
)


class _RuamelValueAsString(SafeConstructor):
    """ruamel.yaml's safe constructor, also reading YAML 1.1's bare ``=``."""


_RuamelValueAsString.add_constructor(
    "tag:yaml.org,2002:value",
    lambda constructor, node: constructor.construct_scalar(node),
)


def _cpu_with_children() -> float:
    """CPU seconds of this process and of its waited-for children (the tools)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _time(fn: Callable[[], object], clock: Callable[[], float] = time.perf_counter) -> float:
    started = clock()
    fn()
    return clock() - started


def _interleaved(
    peers: dict[str, Callable[[], object]],
    repeat: int,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    """Median seconds per peer; each repetition runs every peer once, in a shuffled order."""
    times: dict[str, list[float]] = {name: [] for name in peers}
    order = list(peers)
    for _ in range(repeat):
        random.shuffle(order)
        for name in order:
            times[name].append(_time(peers[name], clock))
    return {name: statistics.median(ts) for name, ts in times.items()} | {
        f"{name} min": min(ts) for name, ts in times.items()
    }


def _corpus_files(manifests: Path) -> list[Path]:
    files: list[Path] = []
    for folder in PLAIN_FOLDERS:
        files += [
            p
            for p in sorted((manifests / folder).rglob("*.yaml"))
            if p.name != "kustomization.yaml"
        ]
    return files


def _generate(directory: Path, objects: int = 10_000, per_file: int = 100) -> None:
    """A directory of realistic objects: Deployments, Services, ConfigMaps."""
    rng = random.Random(42)
    for f in range(objects // per_file):
        docs = []
        for i in range(per_file):
            n = f * per_file + i
            kind = ("Deployment", "Service", "ConfigMap")[n % 3]
            name = f"app-{n}"
            if kind == "Deployment":
                doc = {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {
                        "name": name,
                        "namespace": f"ns-{n % 20}",
                        "labels": {"app": name},
                    },
                    "spec": {
                        "replicas": rng.randint(1, 5),
                        "selector": {"matchLabels": {"app": name}},
                        "template": {
                            "metadata": {"labels": {"app": name, "tier": "web"}},
                            "spec": {
                                "containers": [
                                    {
                                        "name": "main",
                                        "image": f"registry.example.com/{name}:1.{n % 10}.0",
                                        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                                        "env": [{"name": "MODE", "value": "production"}],
                                        "resources": {
                                            "requests": {"cpu": "100m", "memory": "128Mi"},
                                            "limits": {"cpu": "1", "memory": "512Mi"},
                                        },
                                    }
                                ]
                            },
                        },
                    },
                }
            elif kind == "Service":
                doc = {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": name, "namespace": f"ns-{n % 20}"},
                    "spec": {
                        "selector": {"app": name},
                        "ports": [{"port": 80, "targetPort": 8080, "name": "http"}],
                    },
                }
            else:
                doc = {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": name, "namespace": f"ns-{n % 20}"},
                    "data": {f"key{k}": f"value {k} of {name}" for k in range(5)},
                }
            docs.append(doc)
        text = yaml.safe_dump_all(docs, sort_keys=False)
        (directory / f"objects-{f:03d}.yaml").write_text(text)


def _yaml_peers(files: list[Path], root: Path) -> dict[str, Callable[[], object]]:
    datas = [(p, p.read_bytes()) for p in files]
    ruamel_pure = YAML(typ="safe", pure=True)
    ruamel_pure.Constructor = _RuamelValueAsString

    def ours() -> int:
        return sum(len(load_yaml(d, str(p))) for p, d in datas)

    def renderer() -> int:
        return len(YamlRenderer().render_sync(DirectoryArtifact(root)))

    def pyyaml() -> int:
        return sum(
            len([x for x in yaml.load_all(d, Loader=_PyYamlValueAsString) if x is not None])
            for _, d in datas
        )

    def ruamel() -> int:
        return sum(len([x for x in ruamel_pure.load_all(d) if x is not None]) for _, d in datas)

    return {
        "reconcile load_yaml": ours,
        "reconcile YamlRenderer": renderer,
        "PyYAML CSafeLoader": pyyaml,
        "ruamel.yaml pure": ruamel,
    }


def _yaml_section(
    title: str, files: list[Path], root: Path, repeat: int, results: dict[str, Any]
) -> None:
    size = sum(p.stat().st_size for p in files)
    docs = sum(len(load_yaml(p.read_bytes(), str(p))) for p in files)
    peers = _yaml_peers(files, root)
    if title == "corpus":
        # The renderer refuses the corpus as one tree (overlapping copies are
        # duplicates): time it folder by folder.
        folders = [
            "argo-cd/install.yaml",
            "argo-cd/namespace-install.yaml",
            "cert-manager",
            "flux",
            "kube-prometheus",
            "microservices-demo/kubernetes-manifests",
            "microservices-demo/release",
        ]
        peers["reconcile YamlRenderer"] = lambda: sum(
            len(YamlRenderer(f).render_sync(DirectoryArtifact(root))) for f in folders
        )
    # In-process peers: CPU time, which other load on the machine does not inflate.
    timings = {
        k: v
        for k, v in _interleaved(peers, repeat, time.process_time).items()
        if not k.endswith(" min")
    }
    base = timings["PyYAML CSafeLoader"]
    print(f"\n## plain YAML: {title} ({len(files)} files, {docs} documents, {size / 1e6:.1f} MB)")
    print(f"{'peer':<26}{'CPU s':>10}{'MB/s':>9}{'docs/s':>10}{'x CSafeLoader':>15}")
    section: dict[str, Any] = {"files": len(files), "documents": docs, "bytes": size, "peers": {}}
    for name, seconds in timings.items():
        ratio = base / seconds
        print(
            f"{name:<26}{seconds:>10.3f}{size / seconds / 1e6:>9.1f}"
            f"{docs / seconds:>10.0f}{ratio:>15.2f}"
        )
        section["peers"][name] = {"seconds": seconds, "x_csafeloader": ratio}
    results[f"yaml:{title}"] = section


def _kustomizes() -> dict[str, list[str]]:
    tools: dict[str, list[str]] = {}
    kubectl = Path(sys.executable).parent / "kubectl"
    if kubectl.exists():
        tools["kubectl kustomize"] = [str(kubectl), "kustomize"]
    with contextlib.suppress(ToolError):
        tools["kustomize"] = [ensure_kustomize(build=False)]
    if not tools:
        tools["kustomize"] = find_kustomize()
    return tools


def _without_the_tool(
    portal: BlockingPortal,
    renderer: Renderer,
    module: str,
    output: bytes,
    artifact: DirectoryArtifact,
) -> float:
    """Our renderer's own work, CPU seconds per render: everything but the tool run.

    The tool's output is replayed; renders run back to back inside the event
    loop, so neither the patching nor the portal is counted.
    """

    async def replay(*args: object, **kwargs: object) -> bytes:
        return output

    async def renders(count: int) -> float:
        started = time.process_time()
        for _ in range(count):
            await renderer.render(artifact)
        return (time.process_time() - started) / count

    with mock.patch(f"reconcile.render.{module}.run_tool", replay):
        portal.call(renders, 3)  # warm up
        return min(portal.call(renders, 10) for _ in range(5))


def _tool_section(repeat: int, manifests: Path, results: dict[str, Any]) -> None:
    # Renderers run on one long-lived event loop, as in a reconciler.
    with start_blocking_portal() as portal:
        _tool_cases(portal, repeat, manifests, results)


def _kustomizations(manifests: Path) -> list[str]:
    """Every kustomization directory of the corpus, relative to ``manifests``."""
    return sorted(
        p.parent.relative_to(manifests).as_posix() for p in manifests.rglob("kustomization.yaml")
    )


def _paired(
    peers: dict[str, Callable[[], object]], repeat: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Wall and CPU seconds (this process and its children) per peer and repetition.

    Each repetition runs every peer once, in a shuffled order, so a ratio taken
    within a repetition compares runs made under the same load.
    """
    wall: dict[str, list[float]] = {name: [] for name in peers}
    cpu: dict[str, list[float]] = {name: [] for name in peers}
    order = list(peers)
    for _ in range(repeat):
        random.shuffle(order)
        for name in order:
            cpu_start, wall_start = _cpu_with_children(), time.perf_counter()
            peers[name]()
            wall[name].append(time.perf_counter() - wall_start)
            cpu[name].append(_cpu_with_children() - cpu_start)
    return wall, cpu


def _overhead(times: dict[str, list[float]], peer: str = "ours") -> float:
    """The median, over repetitions, of peer / bare - 1 (NaN when the peer did not run)."""
    if peer not in times:
        return float("nan")
    pairs = zip(times[peer], times["bare"], strict=True)
    return statistics.median(o / b for o, b in pairs) - 1


def _tool_cases(
    portal: BlockingPortal, repeat: int, manifests: Path, results: dict[str, Any]
) -> None:
    artifact = DirectoryArtifact(manifests)
    helm = ensure_helm()
    cases: list[tuple[str, list[str], Renderer, str]] = []
    for label, kustomize in _kustomizes().items():
        verb = [] if len(kustomize) > 1 else ["build"]
        for path in _kustomizations(manifests):
            command = [
                *kustomize,
                *verb,
                str(manifests / path),
                "--load-restrictor=LoadRestrictionsRootOnly",
            ]
            renderer = KustomizeRenderer(path, kustomize=kustomize)
            cases.append((f"{label} {path}", command, renderer, "_kustomize"))
    helm_renderer = HelmRenderer(
        CHART, release_name="metrics", namespace="kube-system", kube_version="1.37.0"
    )
    helm_command = [
        helm,
        "template",
        "metrics",
        str(manifests / CHART),
        "--namespace",
        "kube-system",
        "--include-crds",
        "--kube-version",
        "1.37.0",
    ]
    cases.append((f"helm {CHART}", helm_command, helm_renderer, "_helm"))
    print("\n## tools: bare tool vs renderer (tool + checks + parse + validate), per corpus tree")
    print("ms, medians; over: median over repetitions of ours/bare - 1, each pair run under the")
    print("same load; CPU: this process and the tool together; own: the renderer with the")
    print("tool's output replayed (our work alone, CPU), and its share of the bare tool's CPU.")
    print("All peers are called through the same event loop (a blocking portal). orig:")
    print("KustomizeRenderer(origins=True), its overhead over the bare tool, wall and CPU.")
    print(
        f"{'case':<66}{'bare':>6}{'ours':>6}{'over':>6}{'bCPU':>6}{'oCPU':>6}{'over':>6}"
        f"{'own':>6}{'own/b':>7}{'orig':>6}{'oCPU':>6}"
    )
    section: dict[str, Any] = {}
    env = dict(os.environ)
    for name, command, case_renderer, module in cases:
        try:
            output = subprocess.run(command, capture_output=True, check=True, env=env).stdout
        except subprocess.CalledProcessError as exc:
            reason = exc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
            print(f"{name:<66}  the bare tool fails (broken upstream): {' '.join(reason)[:60]}")
            section[name] = {"bare_fails": True}
            continue

        async def tool(command: list[str] = command) -> None:
            subprocess.run(command, capture_output=True, check=True, env=env)  # noqa: ASYNC221

        def bare(tool: Callable[[], Awaitable[None]] = tool) -> None:
            # Through the same event loop as ours, so the difference is the renderer's work.
            portal.call(tool)

        def ours(renderer: Renderer = case_renderer) -> object:
            return portal.call(renderer.render, artifact)

        peers: dict[str, Callable[[], object]] = {"bare": bare, "ours": ours}
        if isinstance(case_renderer, KustomizeRenderer):
            with_origins = KustomizeRenderer(
                case_renderer.path, kustomize=case_renderer.kustomize, origins=True
            )

            def origins(renderer: Renderer = with_origins) -> object:
                return portal.call(renderer.render, artifact)

            peers["origins"] = origins
        # Short runs are noisier: repeat them until each peer has run about a second.
        seconds = _time(bare)
        reps = max(repeat, min(60, int(1.0 / max(seconds, 1e-3))))
        wall, cpu = _paired(peers, reps)
        own = _without_the_tool(portal, case_renderer, module, output, artifact)
        row: dict[str, Any] = {
            "wall": {k: statistics.median(v) for k, v in wall.items()},
            "cpu": {k: statistics.median(v) for k, v in cpu.items()},
            "own_cpu": own,
            "overhead_wall": _overhead(wall),
            "overhead_cpu": _overhead(cpu),
            "overhead_wall_origins": _overhead(wall, "origins"),
            "overhead_cpu_origins": _overhead(cpu, "origins"),
            "repetitions": reps,
            "own_share": own / statistics.median(cpu["bare"]),
        }
        section[name] = row
        print(
            f"{name:<66}{row['wall']['bare'] * 1e3:>6.0f}{row['wall']['ours'] * 1e3:>6.0f}"
            f"{row['overhead_wall']:>6.0%}{row['cpu']['bare'] * 1e3:>6.0f}"
            f"{row['cpu']['ours'] * 1e3:>6.0f}{row['overhead_cpu']:>6.0%}"
            f"{own * 1e3:>6.1f}{row['own_share']:>7.1%}"
            f"{row['overhead_wall_origins']:>6.0%}{row['overhead_cpu_origins']:>6.0%}"
        )
    rows = [r for r in section.values() if "own_share" in r]
    if rows:
        print(
            f"worst of {len(rows)} trees: wall {max(r['overhead_wall'] for r in rows):.0%}, "
            f"CPU {max(r['overhead_cpu'] for r in rows):.0%}, "
            f"own {max(r['own_share'] for r in rows):.1%} (target <= 10 %); "
            f"trees over 10 %: wall {sum(r['overhead_wall'] > 0.1 for r in rows)}, "
            f"CPU {sum(r['overhead_cpu'] > 0.1 for r in rows)}"
        )
    results["tools"] = section
    results["load_average"] = os.getloadavg()


def main(argv: list[str]) -> int:
    """Run the renderer benchmark; print tables; write JSON under benchmarks/results/."""
    parser = argparse.ArgumentParser(prog="benchmarks render", description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="repetitions per peer (median)")
    parser.add_argument(
        "--corpus",
        type=Path,
        default=Path(os.environ.get("RECONCILE_CORPUS", REPO.parent / "shared" / "corpus")),
    )
    parser.add_argument("--objects", type=int, default=10_000, help="generated objects")
    parser.add_argument("--no-tools", action="store_true", help="skip kustomize and helm")
    parser.add_argument("--no-yaml", action="store_true", help="skip the plain YAML sections")
    args = parser.parse_args(argv)
    manifests = args.corpus / "manifests"
    results: dict[str, Any] = {
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "repeat": args.repeat,
    }
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"# render benchmark (median of {args.repeat}, peers interleaved; load average {load})")
    if not manifests.is_dir():
        print(f"corpus not found at {args.corpus}: skipping it (set RECONCILE_CORPUS)")
    elif not args.no_yaml:
        _yaml_section("corpus", _corpus_files(manifests), manifests, args.repeat, results)
    if not args.no_yaml:
        with tempfile.TemporaryDirectory(prefix="reconcile-bench-") as tmp:
            root = Path(tmp)
            _generate(root, args.objects)
            files = sorted(root.glob("*.yaml"))
            _yaml_section(f"generated {args.objects} objects", files, root, args.repeat, results)
    if not args.no_tools and manifests.is_dir():
        _tool_section(args.repeat, manifests, results)
    out = REPO / "benchmarks" / "results" / f"render-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
