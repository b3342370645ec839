"""Every disagreement with Kubernetes' Go code ever found, as named cases.

``regressions.json`` holds the inputs and Go's answer (recorded with the oracle
in ``tests/oracle``; ``tests/integration/merge`` re-checks them against it).
Add a case here whenever the differential tests find a new disagreement.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconcile.errors import MergeError
from reconcile.merge import (
    create_three_way_json_merge_patch,
    create_three_way_merge_patch,
    create_two_way_merge_patch,
    strategic_merge_patch,
)
from reconcile.schema import for_kind, is_strategic

CASES: dict[str, dict[str, Any]] = json.loads(
    (Path(__file__).with_name("regressions.json")).read_text()
)


def run_case(case: dict[str, Any]) -> Any:
    api_version, kind, op = case["apiVersion"], case["kind"], case["op"]
    schema = for_kind(api_version, kind)
    if op == "kubectl3" and not is_strategic(api_version, kind):
        return create_three_way_json_merge_patch(
            case["original"], case["modified"], case["current"]
        )
    assert schema is not None
    if op in ("smp3", "kubectl3"):
        return create_three_way_merge_patch(
            case["original"], case["modified"], case["current"], schema
        )
    if op == "smp2":
        return create_two_way_merge_patch(case["original"], case["modified"], schema)
    if op == "smpapply":
        return strategic_merge_patch(case["current"], case["patch"], schema)
    raise AssertionError(op)


@pytest.mark.parametrize("name", sorted(CASES))
def test_regression(name: str) -> None:
    case = CASES[name]
    if case["error"]:
        with pytest.raises(MergeError):
            run_case(case)
    else:
        assert run_case(case) == case["expected"]
