"""Client-side mode against the real server: the patch we would send, sent for real.

Each case: an object created the way ``kubectl apply`` creates it (with the
last-applied annotation), changed by another writer, then diffed against a new
desired state. When the Differ says "update", its patch is sent with
``dryRun=All`` and the server's answer must equal the Differ's predicted
object (after the server's own defaults are set aside).
"""

from __future__ import annotations

import random

import pytest

from reconcile.diff import DefaultDiffer

from .differ_support import Admin, configmap, deployment, service
from .fidelity import Outcome, _delta, _update_patch, align, content, mutate_config
from .test_fidelity import _protect, _report, secret

pytestmark = pytest.mark.integration


def _case(admin: Admin, rng: random.Random, i: int, ns: str) -> list[Outcome]:
    make = [deployment, service, configmap, secret][i % 4]
    base = make(ns, f"csa-{i}")
    differ = DefaultDiffer(mode="client-side")
    created = differ.diff(base, None)
    assert created.body is not None
    status, _body = admin.create(created.body, "kubectl-client-side-apply")
    if status != 201:
        return [Outcome(f"csa-{i}", True, f"create: {status}", skipped=True)]
    for _ in range(rng.randrange(0, 3)):
        admin.merge_patch(base, _update_patch(rng, base, _protect), "editor")
    status, live = admin.get(base)
    assert status == 200
    out = []
    finals = [
        base,
        mutate_config(rng, base, protect=_protect),
        mutate_config(rng, base, protect=_protect),
    ]
    for j, desired in enumerate(finals):
        case = f"csa-{i}-{make.__name__}/final{j}"
        verdict = differ.diff(desired, live)
        if verdict.in_sync:
            out.append(Outcome(case, True, in_sync=True))
            continue
        assert verdict.body is not None
        assert verdict.content_type is not None
        status, server = admin.patch(
            base, verdict.body, verdict.content_type, "kubectl-client-side-apply", dry_run=True
        )
        if status != 200:
            out.append(Outcome(case, True, f"patch: {status}", skipped=True))
            continue
        assert verdict.predicted is not None
        p, s = align(content(verdict.predicted), content(server), None)
        if p != s:
            out.append(Outcome(case, False, f"object: {_delta(p, s)}"))
        else:
            out.append(Outcome(case, True))
    return out


def test_client_side_patches_do_what_the_differ_predicts(admin: Admin) -> None:
    rng = random.Random(4)
    ns = "fidelity-csa"
    admin.namespace(ns)
    seeds = [(random.Random(rng.random()), i) for i in range(200)]
    results: list[Outcome] = []
    for chunk in admin.pool.map(lambda s: _case(admin, s[0], s[1], ns), seeds):
        results.extend(chunk)
    _report(results, minimum=400)
