"""Fidelity cases: make live state on the real server, predict an apply, compare with dry-run.

A *scenario* is an initial apply by ``owner``, then writes by other managers
(merge-patch updates, applies with and without force), then several *final*
applies (a configuration, a manager, force or not). Each final apply is one
case: the prediction is compared with the server's ``dryRun=All`` answer.
"""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import attrs
import yaml

from reconcile.merge import ApplyPrediction, manager_key, predict_apply
from reconcile.merge._fieldsets import _member as member

from .differ_support import Admin

_SERVER_META = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp")


@attrs.define
class Write:
    op: str  # "update" (merge patch) or "apply"
    manager: str
    body: dict[str, Any]
    force: bool = False


@attrs.define
class Final:
    config: dict[str, Any]
    manager: str
    force: bool = False


@attrs.define
class Scenario:
    name: str
    initial: dict[str, Any]
    owner: str
    writes: list[Write]
    finals: list[Final]


@attrs.define
class Outcome:
    case: str
    ok: bool
    detail: str = ""
    skipped: bool = False
    in_sync: bool = False
    refused: bool = False


_SERVER_ANNOTATIONS = (
    "deprecated.daemonset.template.generation",
    "deployment.kubernetes.io/revision",
)


def content(obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    meta = out.get("metadata", {})
    for k in _SERVER_META:
        meta.pop(k, None)
    annotations = meta.get("annotations") or {}
    for k in _SERVER_ANNOTATIONS:
        annotations.pop(k, None)
    if "annotations" in meta and not annotations:
        del meta["annotations"]
    return out


def owners(obj: dict[str, Any]) -> dict[Any, Any]:
    return {
        manager_key(e): e.get("fieldsV1")
        for e in (obj.get("metadata", {}).get("managedFields") or [])
    }


def _owned_union(obj: dict[str, Any]) -> dict[str, Any]:
    from reconcile.merge._fieldsets import raw_union

    out: dict[str, Any] = {}
    for e in obj.get("metadata", {}).get("managedFields") or []:
        out = raw_union(out, e.get("fieldsV1") or {})
    return out


def _is_zero(v: Any) -> bool:
    return v is None or v is False or v == 0 or v == "" or v == {} or v == []


def align(predicted: Any, server: Any, owned: dict[str, Any] | None) -> tuple[Any, Any]:
    """Drop what the server adds on its own (defaults: unowned, absent from the prediction)
    and the empty values the server drops (absent from the server's answer)."""
    if isinstance(predicted, dict) and isinstance(server, dict):
        p: dict[str, Any] = {}
        s: dict[str, Any] = {}
        for k, v in predicted.items():
            if k not in server:
                if _is_zero(v):
                    continue
                p[k] = v
        for k, v in server.items():
            sub = None if owned is None else owned.get("f:" + k)
            if k not in predicted:
                if sub is None or (not member(sub) and not _has_member(sub)):
                    continue  # a default: nobody owns it
                s[k] = v
                continue
            p[k], s[k] = align(predicted[k], v, sub if sub is not None else None)
        return p, s
    if isinstance(predicted, list) and isinstance(server, list) and len(predicted) == len(server):
        pairs = [align(a, b, None) for a, b in zip(predicted, server, strict=True)]
        return [a for a, _ in pairs], [b for _, b in pairs]
    return predicted, server


def _has_member(raw: dict[str, Any]) -> bool:
    return any(member(v) or _has_member(v) for k, v in raw.items() if k != ".")


_CAUSE = re.compile(r'conflict with "([^"]*)"')


def server_conflicts(body: dict[str, Any]) -> set[tuple[str, str]]:
    out = set()
    for cause in body.get("details", {}).get("causes", []):
        m = _CAUSE.search(cause.get("message", ""))
        out.add((m.group(1) if m else "?", cause.get("field", "")))
    return out


def judge(case: str, live: dict[str, Any], final: Final, status: int, body: Any) -> Outcome:
    pred: ApplyPrediction = predict_apply(live, final.config, final.manager, force=final.force)
    if status == 409:
        mine = {(c.manager, c.path) for c in pred.conflicts}
        theirs = server_conflicts(body)
        if not pred.refused or mine != theirs:
            return Outcome(case, False, f"409 {sorted(theirs)} vs predicted {sorted(mine)}")
        return Outcome(case, True, refused=True)
    if status not in (200, 201):
        return Outcome(case, True, f"server said {status}", skipped=True)
    if pred.refused:
        return Outcome(case, False, f"predicted 409 {pred.conflicts}, server said {status}")
    assert pred.object is not None
    if owners(pred.object) != owners(body):
        return Outcome(
            case, False, f"managedFields: predicted {owners(pred.object)} server {owners(body)}"
        )
    pc, sc = align(content(pred.object), content(body), _owned_union(body))
    if pc != sc:
        return Outcome(case, False, f"object: {_delta(pc, sc)}")
    server_in_sync = content(body) == content(live) and owners(body) == owners(live)
    if pred.in_sync != server_in_sync:
        return Outcome(
            case,
            False,
            f"in-sync: predicted {pred.in_sync} server {server_in_sync}: "
            f"{_delta(content(live), content(pred.object))}",
        )
    return Outcome(case, True, in_sync=server_in_sync)


def _delta(a: Any, b: Any) -> str:
    from deepdiff import DeepDiff

    return str(DeepDiff(a, b, verbose_level=2))[:600]


def run_scenario(admin: Admin, sc: Scenario) -> list[Outcome]:
    status, body = admin.apply(sc.initial, sc.owner, force=True)
    if status not in (200, 201):
        return [Outcome(sc.name, True, f"initial apply: {status} {body}", skipped=True)]
    for w in sc.writes:
        if w.op == "update":
            status, body = admin.merge_patch(sc.initial, w.body, w.manager)
        else:
            status, body = admin.apply(w.body, w.manager, force=w.force)
        # A refused write (409/422) is part of the story: live just stays as it was.
    status, live = admin.get(sc.initial)
    assert status == 200, live
    out = []
    for i, final in enumerate(sc.finals):
        status, body = admin.apply(final.config, final.manager, force=final.force, dry_run=True)
        out.append(judge(f"{sc.name}/final{i}", live, final, status, body))
    return out


def run_all(admin: Admin, scenarios: Iterable[Scenario]) -> list[Outcome]:
    results: list[Outcome] = []
    for chunk in admin.pool.map(lambda s: run_scenario(admin, s), scenarios):
        results.extend(chunk)
    return results


# -- generators -----------------------------------------------------------------


def _skeleton(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    out = {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "metadata": {"name": meta["name"]},
    }
    if "namespace" in meta:
        out["metadata"]["namespace"] = meta["namespace"]
    return out


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Leaf-ish paths of an object (dict keys; lists whole)."""
    out: list[tuple[Any, ...]] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.append((*prefix, k))
            out.extend(_paths(v, (*prefix, k)))
    return out


def _get(obj: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        obj = obj[p]
    return obj


def _drop(obj: dict[str, Any], path: tuple[Any, ...]) -> None:
    parent = _get(obj, path[:-1])
    parent.pop(path[-1], None)


_PROTECTED = {
    ("apiVersion",),
    ("kind",),
    ("metadata",),
    ("metadata", "name"),
    ("metadata", "namespace"),
}


def mutate_config(
    rng: random.Random, obj: dict[str, Any], *, protect: Callable[[tuple[Any, ...]], bool]
) -> dict[str, Any]:
    """Drop a field, change a string/int, or add a label/annotation."""
    out = copy.deepcopy(obj)
    choice = rng.random()
    paths = [p for p in _paths(out) if p not in _PROTECTED and not protect(p)]
    if choice < 0.35 and paths:
        _drop(out, rng.choice(paths))
    elif choice < 0.7:
        leaves = [
            p
            for p in paths
            if isinstance(_get(out, p), str | int) and not isinstance(_get(out, p), bool)
        ]
        if leaves:
            p = rng.choice(leaves)
            v = _get(out, p)
            parent = _get(out, p[:-1])
            if isinstance(v, str):
                parent[p[-1]] = v + "x" if not v.isdigit() else v
            else:
                parent[p[-1]] = v + 1
    else:
        meta = out["metadata"]
        field = rng.choice(["labels", "annotations"])
        meta.setdefault(field, {})[f"k{rng.randrange(4)}"] = f"v{rng.randrange(3)}"
    return out


def load_corpus(corpus: Path) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted((corpus / "manifests").rglob("*.yaml")):
        if "helm-metrics-server" in path.parts:
            continue
        try:
            loaded = list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError:
            continue
        for doc in loaded:
            if (
                isinstance(doc, dict)
                and "apiVersion" in doc
                and "kind" in doc
                and "metadata" in doc
            ):
                docs.append(doc)
    return docs


def partial(
    rng: random.Random, base: dict[str, Any], protect: Callable[[tuple[Any, ...]], bool]
) -> dict[str, Any]:
    """A configuration with a random subset of ``base``'s fields (same values)."""
    out = _skeleton(base)
    candidates = [p for p in _paths(base) if p not in _PROTECTED and len(p) <= 4]
    for p in rng.sample(candidates, k=min(len(candidates), rng.randrange(1, 4))):
        node = out
        for part in p[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node[p[-1]] = copy.deepcopy(_get(base, p))
    return out


def _update_patch(
    rng: random.Random, base: dict[str, Any], protect: Callable[[tuple[Any, ...]], bool]
) -> dict[str, Any]:
    leaves = [
        p
        for p in _paths(base)
        if p not in _PROTECTED
        and not protect(p)
        and isinstance(_get(base, p), str | int)
        and not isinstance(_get(base, p), bool)
    ]
    if leaves and rng.random() < 0.6:
        p = rng.choice(leaves)
        v = _get(base, p)
        new: Any = v + 1 if isinstance(v, int) else (v + "y" if not v.isdigit() else v)
        patch: dict[str, Any] = {}
        node = patch
        for part in p[:-1]:
            node = node.setdefault(part, {})
        node[p[-1]] = new
        return patch
    return {"metadata": {"labels": {f"k{rng.randrange(4)}": f"e{rng.randrange(2)}"}}}


def scenario_for(
    rng: random.Random,
    name: str,
    base: dict[str, Any],
    protect: Callable[[tuple[Any, ...]], bool],
    *,
    steady: bool = False,
) -> Scenario:
    writes: list[Write] = []
    if not steady:
        for _ in range(rng.randrange(0, 4)):
            r = rng.random()
            if r < 0.5:
                writes.append(
                    Write(
                        "update", rng.choice(["editor", "hpa"]), _update_patch(rng, base, protect)
                    )
                )
            else:
                cfg = partial(rng, base, protect)
                if rng.random() < 0.5:
                    cfg = mutate_config(rng, cfg, protect=protect)
                writes.append(
                    Write("apply", rng.choice(["other", "helper"]), cfg, force=rng.random() < 0.5)
                )
    finals = [
        Final(base, "gitops"),
        Final(mutate_config(rng, base, protect=protect), "gitops"),
        Final(mutate_config(rng, base, protect=protect), "gitops", force=True),
        Final(
            partial(rng, base, protect),
            rng.choice(["gitops", "newcomer", "editor"]),
            force=rng.random() < 0.3,
        ),
    ]
    return Scenario(name, base, "gitops", writes, finals)
