"""The public API is completely typed, as pyright sees it from a user's side."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reconcile.testing import skip_or_fail

REPO = Path(__file__).resolve().parents[2]


def _pyright(*args: str) -> subprocess.CompletedProcess[str]:
    here = str(Path(sys.executable).parent)
    pyright = shutil.which("pyright", path=here) or shutil.which("pyright")
    if pyright is None:
        skip_or_fail("pyright is not installed (it is in the dev extra)")
    env = {
        **os.environ,
        # pyright resolves `reconcile` through the interpreter of this virtualenv.
        "VIRTUAL_ENV": sys.prefix,
        "PATH": f"{here}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    return subprocess.run(
        [pyright, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=240,
        check=False,
    )


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    out = _pyright("--verifytypes", "reconcile", "--ignoreexternal", "--outputjson")
    try:
        parsed: dict[str, Any] = json.loads(out.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"pyright printed no report:\n{out.stdout}\n{out.stderr}")
    return parsed


def test_the_package_is_found(report: dict[str, Any]) -> None:
    completeness = report["typeCompleteness"]
    assert completeness["pyTypedPath"], completeness
    assert completeness["exportedSymbolCounts"]["withKnownType"] > 100


def test_every_public_symbol_has_a_known_type(report: dict[str, Any]) -> None:
    completeness = report["typeCompleteness"]
    problems = [
        f"{symbol['name']}: {diag['message']}"
        for symbol in completeness["symbols"]
        for diag in symbol.get("diagnostics", [])
        if diag.get("severity") == "error"
    ]
    assert problems == []
    assert completeness["completenessScore"] == 1.0


def test_the_examples_type_check_with_pyright() -> None:
    """The examples are user code: pyright (as well as mypy --strict) accepts them."""
    out = _pyright("--outputjson", "examples")
    result = json.loads(out.stdout)
    errors = [
        f"{d['file']}:{d['range']['start']['line'] + 1}: {d['message']}"
        for d in result["generalDiagnostics"]
        if d["severity"] == "error"
    ]
    assert errors == []
    assert result["summary"]["filesAnalyzed"] >= 4
