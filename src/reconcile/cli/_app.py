"""The click application behind ``reconcile`` (imports only the public ``reconcile`` API)."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import anyio
import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

import reconcile

#: Exit codes scripts can rely on.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_DRIFT = 2

_GIT_URL = re.compile(r"^(?:[a-z+]+://|git@|[\w.-]+@[\w.-]+:)")
_COLOURS = {
    "created": "green",
    "configured": "blue",
    "unchanged": "dim",
    "pruned": "magenta",
    "drifted": "yellow",
    "conflict": "red",
    "failed": "red",
    "skipped": "dim",
    "released": "cyan",
}
_HEALTH = {"Current": "green", "InProgress": "yellow", "Failed": "red", "NotFound": "red"}


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "reconcile" / "sources"


def _source(source: str, ref: str | None, subpath: str) -> reconcile.Source:
    if _GIT_URL.match(source):
        options: dict[str, Any] = {}
        if ref:
            if re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", ref):
                options["commit"] = ref
            elif ref.startswith("refs/"):
                options["name"] = ref
            elif ref.startswith("tag:"):
                options["tag"] = ref.removeprefix("tag:")
            elif ref.startswith("semver:"):
                options["semver"] = ref.removeprefix("semver:")
            else:
                options["branch"] = ref.removeprefix("branch:")
        return reconcile.GitSource(
            source,
            cache_dir=_cache_dir(),
            subpath=subpath,
            allow_file=source.startswith("file://"),
            **options,
        )
    if ref:
        raise click.UsageError("--ref applies to git sources only")
    path = Path(source)
    if not path.exists():
        raise click.BadParameter(f"no such directory: {source}", param_hint="SOURCE")
    return reconcile.LocalSource(path, cache_dir=_cache_dir(), subpath=subpath)


def _renderer(kind: str, namespace: str, name: str) -> reconcile.Renderer:
    if kind == "kustomize":
        return reconcile.KustomizeRenderer()
    if kind == "helm":
        return reconcile.HelmRenderer(".", release_name=name, namespace=namespace)
    return reconcile.YamlRenderer()


def _applier(target: str, kubeconfig: str | None, context: str | None, manager: str) -> Any:
    if target == "memory":
        return reconcile.InMemoryCluster(field_manager=manager)
    return reconcile.KubernetesApplier(
        field_manager=manager, kubeconfig=kubeconfig, context=context
    )


class Options:
    """What every command shares."""

    def __init__(self, **kw: Any) -> None:
        self.kw = kw
        self.console = Console(highlight=False, stderr=False, no_color=kw.get("no_color", False))
        self.json = kw["output"] == "json"

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["kw"][name]
        except KeyError:
            raise AttributeError(name) from None

    def reconciler(self, *observers: Callable[[str, Any], None]) -> reconcile.Reconciler:
        name = self.name or (Path(self.source.rstrip("/")).name or "reconcile")
        name = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or "reconcile"
        return reconcile.Reconciler(
            name,
            _source(self.source, self.ref, self.path),
            _renderer(self.renderer, self.namespace, name),
            _applier(self.target, self.kubeconfig, self.context, self.field_manager),
            namespace=self.namespace,
            prune=self.prune,
            allow_empty=self.allow_empty,
            drift=reconcile.DriftMode(self.drift),
            wait=self.wait,
            health_timeout=self.timeout,
            interval=self.interval,
            events=self.target != "memory",
            observers=observers,
        )


def _common(fn: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.argument("source"),
        click.option("--ref", help="git: a branch, tag:<t>, semver:<range>, refs/... or a commit"),
        click.option("--path", default="", help="a sub-path of the source holding the manifests"),
        click.option(
            "--renderer",
            type=click.Choice(["yaml", "kustomize", "helm"]),
            default="yaml",
            show_default=True,
        ),
        click.option(
            "--target",
            type=click.Choice(["memory", "kube"]),
            default="memory",
            show_default=True,
            help="the embedded in-memory cluster, or a real one through a kubeconfig",
        ),
        click.option("--kubeconfig", type=click.Path(dir_okay=False), help="implies --target kube"),
        click.option("--context", help="the kubeconfig context (implies --target kube)"),
        click.option("--namespace", "-n", default="default", show_default=True),
        click.option("--name", help="the reconciler's name (default: the source's directory)"),
        click.option("--field-manager", default="reconcile", show_default=True),
        click.option("--prune/--no-prune", default=True, show_default=True),
        click.option("--allow-empty", is_flag=True, help="let an empty render prune everything"),
        click.option(
            "--drift",
            type=click.Choice(["self-heal", "report-only"]),
            default="self-heal",
            show_default=True,
        ),
        click.option("--wait/--no-wait", default=False, help="wait for every object to be Current"),
        click.option("--timeout", type=float, default=120.0, show_default=True),
        click.option("--interval", type=float, default=300.0, show_default=True),
        click.option(
            "--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True
        ),
        click.option("--no-color", is_flag=True),
        click.option("-v", "--verbose", count=True),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _make(kw: dict[str, Any]) -> Options:
    if kw.get("kubeconfig") or kw.get("context"):
        kw["target"] = "kube"
    level = logging.WARNING - 10 * min(kw.get("verbose", 0), 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    return Options(**kw)


def _fail(opts: Options, exc: BaseException) -> NoReturn:
    if opts.json:
        click.echo(json.dumps({"error": str(exc), "type": type(exc).__name__}))
    else:
        Console(stderr=True, highlight=False).print(f"[red]error:[/red] {exc}", markup=True)
    sys.exit(EXIT_ERROR)


def _print_diff(console: Console, text: str) -> None:
    for line in text.splitlines():
        style = None
        if line.startswith(("+++", "---")):
            style = "bold"
        elif line.startswith("+"):
            style = "green"
        elif line.startswith("-"):
            style = "red"
        elif line.startswith("@@"):
            style = "cyan"
        console.print(Text(line, style=style or ""))


def _show_plan(console: Console, p: reconcile.ReconcilePlan, *, diffs: bool = True) -> None:
    console.rule(f"plan at {p.revision}")
    console.print(
        f"{len(p.creates)} to create, {len(p.changes)} to change, {len(p.prunes)} to prune, "
        f"{len(p.unchanged)} unchanged, {len(p.conflicts)} conflicts"
    )
    for d in p.creates:
        console.print(Text(f"+ create {d.ref}", style="green"))
    for d in p.changes:
        console.print(Text(f"~ change {d.ref} ({len(d.changes)} fields)", style="blue"))
    for r in p.prunes:
        console.print(Text(f"- prune  {r}", style="magenta"))
    for r, msg in p.conflicts:
        console.print(Text(f"! conflict {r}: {msg}", style="red"))
    if diffs:
        for d in (*p.creates, *p.changes):
            _print_diff(console, d.unified_diff())


def _show_result(console: Console, r: reconcile.SyncResult) -> None:
    table = Table(title=f"sync of {r.name} at {r.revision}", title_justify="left")
    table.add_column("object")
    table.add_column("outcome")
    table.add_column("health")
    table.add_column("message", overflow="fold")
    for o in r.outcomes:
        health = Text("")
        if o.health is not None:
            health = Text(str(o.health), style=_HEALTH.get(o.health.status.value, ""))
        table.add_row(
            str(o.ref),
            Text(o.outcome.value, style=_COLOURS.get(o.outcome.value, "")),
            health,
            o.message,
        )
    console.print(table)
    for c in r.conditions:
        style = "green" if (c.type == "Ready") == (c.status == "True") else "yellow"
        if c.type == "Stalled" and c.status == "True":
            style = "red"
        console.print(Text(f"{c.type}={c.status} ({c.reason}): {c.message}", style=style))
    console.print(f"inventory ({len(r.inventory)} objects):")
    for ref in sorted(r.inventory, key=str):
        console.print(f"  {ref}")
    phases = ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in r.durations.items())
    console.print(Text(f"time: {phases}", style="dim"))


def _sync_exit(r: reconcile.SyncResult, *, wait: bool = False) -> int:
    if r.error is not None or r.stalled or r.failed:
        return EXIT_ERROR
    if wait and not r.dry_run and not r.ready:
        return EXIT_ERROR  # --wait: every object had to become Current in time
    if (r.dry_run and r.drift) or any(o.outcome is reconcile.Outcome.DRIFTED for o in r.outcomes):
        return EXIT_DRIFT
    return EXIT_OK


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(reconcile.__version__, prog_name="reconcile")
def cli() -> None:
    """Make a Kubernetes cluster match what a Git repository (or a directory) declares.

    Exit codes: 0 in sync (or synced), 2 drift found (plan, diff, dry run,
    report-only), 1 error.
    """


def _plan_command(kw: dict[str, Any], *, diffs: bool) -> int:
    opts = _make(kw)

    async def go() -> reconcile.ReconcilePlan:
        async with opts.reconciler() as r:
            return await r.plan()

    try:
        p = anyio.run(go)
    except reconcile.ReconcileError as exc:
        _fail(opts, exc)
    if opts.json:
        click.echo(json.dumps(p.to_json(), indent=2, default=str))
    else:
        _show_plan(opts.console, p, diffs=diffs)
    return EXIT_OK if p.in_sync else EXIT_DRIFT


@cli.command()
@_common
def plan(**kw: Any) -> None:
    """Show what a sync would create, change and prune (no writes)."""
    sys.exit(_plan_command(kw, diffs=False))


@cli.command()
@_common
def diff(**kw: Any) -> None:
    """Show the plan with a coloured diff of every object that would change."""
    sys.exit(_plan_command(kw, diffs=True))


@cli.command()
@click.option("--dry-run", is_flag=True, help="compute everything, write nothing")
@_common
def sync(dry_run: bool, **kw: Any) -> None:
    """One pass: plan (with diffs), apply in stages, check health, prune, show the inventory."""
    opts = _make(kw)
    console = opts.console

    async def go() -> tuple[reconcile.ReconcilePlan | None, reconcile.SyncResult]:
        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            transient=True,
            disable=opts.json,
        )
        task = progress.add_task("preparing", total=None)

        def observe(what: str, value: Any) -> None:
            if what == "phase":
                progress.update(task, description=str(value))
            elif what == "planned":
                progress.update(task, total=int(value), completed=0)
            elif what == "object":
                progress.advance(task)

        async with opts.reconciler(observe) as r:
            p: reconcile.ReconcilePlan | None = None
            if not opts.json:
                try:
                    p = await r.plan()
                except reconcile.ReconcileError:
                    p = None  # the sync reports the error with its conditions
                if p is not None:
                    _show_plan(console, p)
            with progress:
                result = await r.sync(dry_run=dry_run)
            return p, result

    try:
        _, result = anyio.run(go)
    except reconcile.ReconcileError as exc:
        _fail(opts, exc)
    if opts.json:
        click.echo(json.dumps(result.to_json(), indent=2, default=str))
    else:
        _show_result(console, result)
        if opts.target == "memory" and result.reconciling:
            console.print(
                Text(
                    "note: the in-memory cluster runs no controllers, so workloads "
                    "(Deployments, Pods...) stay InProgress there; use --kubeconfig "
                    "for a real cluster.",
                    style="dim",
                )
            )
    sys.exit(_sync_exit(result, wait=opts.wait))


@cli.command()
@click.option("--passes", type=int, default=None, help="stop after this many passes")
@click.option("--webhook-port", type=int, default=None, help="receive push webhooks on this port")
@click.option(
    "--webhook-secret-env",
    default="RECONCILE_WEBHOOK_SECRET",
    show_default=True,
    help="the environment variable holding the webhook's HMAC secret",
)
@_common
def run(passes: int | None, webhook_port: int | None, webhook_secret_env: str, **kw: Any) -> None:
    """Reconcile continuously: on the interval, on new revisions, webhooks and changes."""
    opts = _make(kw)
    console = opts.console
    last: list[reconcile.SyncResult] = []

    def report(result: reconcile.SyncResult) -> None:
        last[:] = [result]
        if opts.json:
            click.echo(json.dumps(result.to_json(), default=str))
        else:
            ready = result.condition("Ready")
            style = "green" if result.ready else ("red" if result.stalled else "yellow")
            console.print(
                Text(
                    f"{result.revision}: {result.counts()} "
                    f"Ready={ready.status if ready else '?'} "
                    f"({ready.reason if ready else ''}) {ready.message if ready else ''}",
                    style=style,
                )
            )

    async def go() -> None:
        r = opts.reconciler()
        r.callbacks.append(report)
        async with r, anyio.create_task_group() as tg:
            if webhook_port is not None:
                secret = os.environ.get(webhook_secret_env)
                if not secret:
                    raise click.UsageError(f"set {webhook_secret_env} to the webhook's secret")
                await tg.start(
                    lambda task_status: r.serve_webhook(
                        secret.encode(), port=webhook_port, task_status=task_status
                    )
                )
            await r.run(max_passes=passes)
            tg.cancel_scope.cancel()

    try:
        anyio.run(go)
    except KeyboardInterrupt:
        pass
    except reconcile.ReconcileError as exc:
        _fail(opts, exc)
    sys.exit(_sync_exit(last[0]) if last else EXIT_OK)


@cli.command()
@_common
def inventory(**kw: Any) -> None:
    """List what the reconciler owns, as recorded in its ApplySet parent in the cluster."""
    opts = _make(kw)

    async def go() -> frozenset[reconcile.ObjectRef]:
        async with opts.reconciler() as r:
            return (await r.store.load()).members

    try:
        members = anyio.run(go)
    except reconcile.ReconcileError as exc:
        _fail(opts, exc)
    if opts.json:
        click.echo(
            json.dumps(
                [
                    {
                        "apiVersion": m.api_version,
                        "kind": m.kind,
                        "name": m.name,
                        "namespace": m.namespace,
                    }
                    for m in sorted(members, key=str)
                ],
                indent=2,
            )
        )
    else:
        if not members:
            opts.console.print("the inventory is empty (nothing synced to this target yet)")
        for m in sorted(members, key=str):
            opts.console.print(str(m))
    sys.exit(EXIT_OK)
