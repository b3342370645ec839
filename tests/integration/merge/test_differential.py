"""Differential tests: our merge core against Kubernetes' Go code, over generated objects."""

from __future__ import annotations

import itertools
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oracle import Oracle
from reconcile.errors import MergeError
from reconcile.merge import create_two_way_merge_patch, strategic_merge_patch
from reconcile.schema import for_kind, is_strategic

from .merge_harness import Case, Report, compare
from .merge_strategies import directive_patch, three_versions

pytestmark = pytest.mark.integration

BATCH = 8  # generated triples per example; each is checked in 6 roles
FUZZ = os.environ.get("RECONCILE_FUZZ") == "1"

settings.register_profile(
    "merge-ci",
    max_examples=450,  # x 8 triples x 6 roles = 21,600 cases
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=False,
)
settings.register_profile(
    "merge-fuzz",
    max_examples=21_000,  # x 8 x 6 = 1,008,000 cases
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


ROLES = list(itertools.permutations(range(3)))


def _cases(versions: list[tuple[Any, Any, Any]]) -> list[Case]:
    """Each generated triple in all six roles: every version is a realistic edit of the others."""
    out = []
    for triple in versions:
        ref = next((v for v in triple if v.get("kind")), triple[1])
        api_version, kind = str(ref.get("apiVersion")), str(ref.get("kind"))
        for o, m, c in ROLES:
            out.append(
                Case(api_version, kind, triple[o], triple[m], triple[c], name=f"roles {o}{m}{c}")
            )
    return out


def _check(oracle: Oracle, versions: list[tuple[Any, Any, Any]]) -> None:
    report = Report()
    compare(oracle, _cases(versions), report)
    assert not report.disagreements, "\n".join(report.disagreements[:3])


batches = st.lists(three_versions(), min_size=BATCH, max_size=BATCH)


@settings(settings.get_profile("merge-ci"))
@given(batches)
def test_generated_objects_match_go(oracle: Oracle, versions: list[tuple[Any, Any, Any]]) -> None:
    _check(oracle, versions)


@pytest.mark.slow
@pytest.mark.timeout(6 * 3600)
@pytest.mark.skipif(not FUZZ, reason="set RECONCILE_FUZZ=1 (the nox fuzz session)")
@settings(settings.get_profile("merge-fuzz"))
@given(batches)
def test_a_million_generated_objects_match_go(
    oracle: Oracle, versions: list[tuple[Any, Any, Any]]
) -> None:
    _check(oracle, versions)


def test_recorded_regressions_are_what_go_says(oracle: Oracle) -> None:
    from pathlib import Path

    import orjson

    path = Path(__file__).parents[2] / "unit" / "merge" / "regressions.json"
    cases = orjson.loads(path.read_bytes())
    answers = oracle.batch(
        [{k: v for k, v in c.items() if k not in ("expected", "error")} for c in cases.values()]
    )
    for (name, case), answer in zip(cases.items(), answers, strict=True):
        assert ("error" in answer) == case["error"], name
        if not case["error"]:
            assert answer["result"] == case["expected"], name


@st.composite
def _patched(draw: st.DrawFn) -> tuple[str, str, Any, Any] | None:
    """A live object and a patch full of directives (some invalid) for the apply direction."""
    original, modified, current = draw(three_versions())
    ref = next((v for v in (original, modified, current) if v.get("kind")), modified)
    api_version, kind = str(ref.get("apiVersion")), str(ref.get("kind"))
    schema = for_kind(api_version, kind)
    if schema is None or not is_strategic(api_version, kind):
        return None
    try:
        patch = create_two_way_merge_patch(original, modified, schema)
    except MergeError:
        return None
    return api_version, kind, current, draw(directive_patch(patch, current))


@settings(settings.get_profile("merge-ci"), max_examples=150)
@given(st.lists(_patched(), min_size=10, max_size=10))
def test_applying_patches_with_directives_matches_go(
    oracle: Oracle, cases: list[tuple[str, str, Any, Any] | None]
) -> None:
    todo = [c for c in cases if c is not None]
    answers = oracle.batch(
        [
            {"op": "smpapply", "apiVersion": a, "kind": k, "current": cur, "patch": p}
            for a, k, cur, p in todo
        ]
    )
    for (api_version, kind, current, patch), go in zip(todo, answers, strict=True):
        schema = for_kind(api_version, kind)
        assert schema is not None
        try:
            ours: Any = strategic_merge_patch(current, patch, schema)
        except MergeError as e:
            ours = e
        context = f"{api_version} {kind}\ncurrent={current!r}\npatch={patch!r}"
        if "error" in go:
            assert isinstance(ours, MergeError), f"Go fails ({go['error']}), we do not: {context}"
        else:
            assert not isinstance(ours, MergeError), f"we fail ({ours}), Go does not: {context}"
            assert ours == go["result"], context
