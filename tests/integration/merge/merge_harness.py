"""Compare the Python merge core with the Go oracle over batches of cases."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from oracle import Oracle
from reconcile.errors import MergeError
from reconcile.merge import (
    create_merge_patch,
    create_three_way_json_merge_patch,
    create_three_way_merge_patch,
    create_two_way_merge_patch,
    merge_patch,
    strategic_merge_patch,
)
from reconcile.schema import ANY, builtin

JSON = Any


@dataclass
class Case:
    api_version: str
    kind: str
    original: JSON
    modified: JSON
    current: JSON
    name: str = ""


@dataclass
class Report:
    checked: int = 0
    disagreements: list[str] = field(default_factory=list)

    def fail(self, case: Case, what: str, ours: Any, go: Any) -> None:
        self.disagreements.append(
            f"{what} for {case.api_version} {case.kind} {case.name}:\n"
            f"  original={case.original!r}\n  modified={case.modified!r}\n"
            f"  current={case.current!r}\n  ours={ours!r}\n  go={go!r}"
        )


def _ours(fn: Any, *args: Any) -> tuple[JSON, str | None]:
    try:
        return fn(*args), None
    except MergeError as e:
        return None, str(e)


def compare(oracle: Oracle, cases: list[Case], report: Report) -> None:
    """Three-way (as kubectl chooses), two-way, and apply of Go's patch, per case."""
    reg = builtin()
    first: list[dict[str, Any]] = []
    for c in cases:
        base = {"apiVersion": c.api_version, "kind": c.kind}
        first.append(
            {
                **base,
                "op": "kubectl3",
                "original": c.original,
                "modified": c.modified,
                "current": c.current,
            }
        )
        strategic = reg.is_strategic(c.api_version, c.kind)
        first.append(
            {
                **base,
                "op": "smp2" if strategic else "jmp2",
                "original": c.original,
                "modified": c.modified,
            }
        )
    answers = oracle.batch(first)
    second: list[dict[str, Any]] = []
    pending: list[tuple[Case, str, JSON]] = []
    for i, c in enumerate(cases):
        three, two = answers[2 * i], answers[2 * i + 1]
        strategic = reg.is_strategic(c.api_version, c.kind)
        report.checked += 1
        go_type = three.get("type")
        if go_type != ("strategic" if strategic else "merge"):
            report.fail(c, "patch type", strategic, go_type)
            continue
        schema = reg.for_kind(c.api_version, c.kind) or ANY
        if strategic:
            ours3, err3 = _ours(
                create_three_way_merge_patch, c.original, c.modified, c.current, schema
            )
            ours2, err2 = _ours(create_two_way_merge_patch, c.original, c.modified, schema)
        else:
            ours3, err3 = _ours(
                create_three_way_json_merge_patch, c.original, c.modified, c.current
            )
            ours2, err2 = _ours(create_merge_patch, c.original, c.modified)
        for what, ours, err, go in (
            ("three-way", ours3, err3, three),
            ("two-way", ours2, err2, two),
        ):
            if "error" in go:
                if err is None:
                    report.fail(c, f"{what}: Go fails, we do not", ours, go["error"])
            elif err is not None:
                report.fail(c, f"{what}: we fail, Go does not", err, go.get("result"))
            elif ours != go.get("result"):
                report.fail(c, f"{what} patch", ours, go.get("result"))
        if "error" not in three:
            gopatch = three.get("result") or {}
            base = {"apiVersion": c.api_version, "kind": c.kind}
            op = "smpapply" if strategic else "jmpapply"
            second.append({**base, "op": op, "current": c.current, "patch": gopatch})
            pending.append((c, "strategic" if strategic else "merge", gopatch))
    if not second:
        return
    applied = oracle.batch(second)
    for (c, ptype, gopatch), go in zip(pending, applied, strict=True):
        schema = reg.for_kind(c.api_version, c.kind) or ANY
        if ptype == "strategic":
            ours, err = _ours(strategic_merge_patch, c.current, gopatch, schema)
        else:
            ours, err = _ours(merge_patch, c.current, gopatch)
        if "error" in go:
            if err is None:
                report.fail(c, "apply: Go fails, we do not", ours, go["error"])
        elif err is not None:
            report.fail(c, "apply: we fail, Go does not", err, go.get("result"))
        elif ours != go.get("result"):
            report.fail(c, f"apply of {gopatch!r}", ours, go.get("result"))
