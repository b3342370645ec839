"""Differential tests: our merge core against Kubernetes' Go code, over generated objects."""

from __future__ import annotations

import itertools
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oracle import Oracle

from .merge_harness import Case, Report, compare
from .merge_strategies import three_versions

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
