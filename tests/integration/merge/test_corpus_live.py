"""The corpus comparison again, with ``current`` as a real kube-apiserver returns it.

Every corpus object is created on a real API server (so ``current`` carries
the server's defaults, uid, resourceVersion, managedFields), then the scripted
edits are compared with the Go oracle as in ``test_corpus.py``.
"""

from __future__ import annotations

import copy
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from oracle import Oracle, load_corpus_objects

from .control_plane import APIServer, Discovery, HTTPStatusError
from .corpus_edits import scenarios
from .merge_harness import Case, Report, compare

pytestmark = pytest.mark.integration

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
SKIP_KINDS = ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "APIService")


def _namespace_for(where: str) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", where.split(":")[0].lower())
    return "c-" + name[-55:].strip("-")


Triple = tuple[str, dict[str, Any], dict[str, Any]]


def live_objects(
    server: APIServer, corpus: Path, *, annotate: bool = False
) -> tuple[list[Triple], list[str]]:
    """(where, desired, live) for every corpus object the server accepts, and the refusals."""
    disco = Discovery(server)
    objects = load_corpus_objects(corpus)
    # CRDs first, so that their custom resources can be created.
    objects.sort(key=lambda p: p[1]["kind"] != "CustomResourceDefinition")
    namespaces: set[str] = set()
    names: set[tuple[str, str]] = set()
    out: list[Triple] = []
    refused: list[str] = []
    for where, obj in objects:
        if obj["kind"] in SKIP_KINDS or obj["kind"].endswith("List"):
            continue
        desired = copy.deepcopy(obj)
        md = desired.setdefault("metadata", {})
        ns = _namespace_for(where)
        found = disco.resource(desired["apiVersion"], desired["kind"])
        if found is None:
            continue
        if found[1]:
            md["namespace"] = ns
            if ns not in namespaces:
                server.request(
                    "POST",
                    "/api/v1/namespaces",
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
                )
                namespaces.add(ns)
        else:
            md.pop("namespace", None)
            key = (desired["kind"], md.get("name", ""))
            if key in names:
                md["name"] = f"{md.get('name', 'x')}-{len(names)}"
            names.add((desired["kind"], md["name"]))
        body = desired
        if annotate:  # as kubectl creates it: with the last-applied configuration
            body = copy.deepcopy(desired)
            body["metadata"].setdefault("annotations", {})[LAST_APPLIED] = json.dumps(desired)
        try:
            live = disco.create(body, ns)
        except HTTPStatusError as e:  # refused by validation: not a merge question
            refused.append(f"{where} {desired['kind']}: HTTP {e.code}")
            continue
        if live is None:
            continue
        if desired["kind"] == "CustomResourceDefinition":
            disco.forget(f"{desired['spec']['group']}/{desired['spec']['versions'][0]['name']}")
            time.sleep(0.05)
        out.append((where, desired, live))
    return out, refused


def test_corpus_with_live_current_matches_go(
    oracle: Oracle, api_server: APIServer, corpus_dir: Path
) -> None:
    triples, refused = live_objects(api_server, corpus_dir)
    assert len(triples) > 250, refused
    cases = [
        Case(str(d["apiVersion"]), str(d["kind"]), o, m, live, name=f"{where} {scenario}")
        for where, d, live in triples
        for scenario, o, m, _ in scenarios(d)
    ]
    report = Report()
    for start in range(0, len(cases), 200):
        compare(oracle, cases[start : start + 200], report)
    assert report.checked == len(cases)
    assert not report.disagreements, "\n".join(x[:2000] for x in report.disagreements[:3])
