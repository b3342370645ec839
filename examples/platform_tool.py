"""A platform tool: environments described in Python, previewed as JSON, applied on approval.

An internal platform often knows its environments as data (a database row, a
form, a YAML file of its own) rather than as a Git directory. Here each
environment is a dict; a :class:`~reconcile.render.FunctionRenderer` turns it
into objects; :meth:`Reconciler.plan` gives the preview a web UI or a chat bot
would show (``to_json()``); :meth:`Reconciler.sync` applies it once approved;
a report-only reconciler audits drift without ever writing.

Run it: ``python examples/platform_tool.py`` (against the in-memory cluster).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio

from reconcile import Applier, DriftMode, InMemoryCluster, LocalSource, Reconciler
from reconcile.render import ArtifactLike, FunctionRenderer


def environment_objects(env: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The objects of one environment: a Namespace, a quota, a config, a web Deployment."""
    ns = f"env-{env['name']}"
    labels = {"app.kubernetes.io/part-of": "platform", "platform.example.com/env": env["name"]}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}},
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "quota", "namespace": ns},
            "spec": {"hard": {"limits.cpu": env["cpu"], "limits.memory": env["memory"]}},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": ns},
            "data": {key: str(value) for key, value in env["settings"].items()},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": ns, "labels": labels},
            "spec": {
                "replicas": env["replicas"],
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": env["image"]}]},
                },
            },
        },
    ]


def reconciler_for(
    env: dict[str, Any], cluster: Applier, *, audit: bool = False, workdir: Path
) -> Reconciler:
    """A reconciler for one environment; ``audit`` makes it report drift and never write."""

    def render(artifact: ArtifactLike) -> list[dict[str, Any]]:
        return environment_objects(env)  # reads the current env: edit the dict, plan again

    # The source only stamps a revision here; the desired state is the dict.
    (workdir / "src").mkdir(parents=True, exist_ok=True)
    return Reconciler(
        f"env-{env['name']}",
        LocalSource(workdir / "src", cache_dir=workdir / "cache"),
        FunctionRenderer(render, name=f"environment {env['name']}"),
        cluster,
        drift=DriftMode.REPORT_ONLY if audit else DriftMode.SELF_HEAL,
    )


async def main() -> dict[str, Any]:
    """Preview, apply, change, preview again, and audit; returns what it printed, as data."""
    cluster = InMemoryCluster(field_manager="platform")
    env = {
        "name": "staging",
        "cpu": "4",
        "memory": "8Gi",
        "replicas": 2,
        "image": "registry.example.com/web:1.4.0",
        "settings": {"FEATURE_X": True, "LOG_LEVEL": "info"},
    }
    reconciler = reconciler_for(env, cluster, workdir=Path(tempfile.mkdtemp()))

    preview = (await reconciler.plan()).to_json()
    print(f"preview: {len(preview['creates'])} to create")
    applied = await reconciler.sync()  # the user approved
    print(f"applied: {applied.counts()}")

    env["image"] = "registry.example.com/web:1.5.0"  # a change requested in the UI
    change = (await reconciler.plan()).to_json()
    print("change:", json.dumps([c["changes"] for c in change["changes"]], sort_keys=True))

    auditor = reconciler_for(env, cluster, audit=True, workdir=Path(tempfile.mkdtemp()))
    audit = await auditor.sync()
    print(f"audit: {[str(d.ref) for d in audit.drift]} drifted, nothing written")
    return {
        "preview": preview,
        "applied": applied,
        "change": change,
        "audit": audit,
        "cluster": cluster,
    }


if __name__ == "__main__":
    anyio.run(main)
