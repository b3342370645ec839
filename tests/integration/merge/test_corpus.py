"""Every object of the shared corpus, with scripted edits, against the Go oracle."""

from __future__ import annotations

from pathlib import Path

import pytest

from oracle import Oracle, load_corpus_objects

from .corpus_edits import EDITS, scenarios
from .merge_harness import Case, Report, compare

pytestmark = pytest.mark.integration


def test_corpus_objects_with_scripted_edits_match_go(oracle: Oracle, corpus_dir: Path) -> None:
    objects = load_corpus_objects(corpus_dir)
    assert len(objects) > 300
    cases = [
        Case(str(obj["apiVersion"]), str(obj["kind"]), o, m, c, name=f"{where} {scenario}")
        for where, obj in objects
        for scenario, o, m, c in scenarios(obj)
    ]
    assert len(cases) == len(objects) * (2 + 2 * len(EDITS))
    report = Report()
    for start in range(0, len(cases), 200):
        compare(oracle, cases[start : start + 200], report)
    assert report.checked == len(cases)
    assert not report.disagreements, "\n".join(d[:2000] for d in report.disagreements[:3])
