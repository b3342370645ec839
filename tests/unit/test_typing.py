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


def _verifytypes() -> dict[str, Any]:
    pyright = shutil.which("pyright", path=str(Path(sys.executable).parent)) or shutil.which(
        "pyright"
    )
    if pyright is None:
        skip_or_fail("pyright is not installed (it is in the dev extra)")
    env = {
        **os.environ,
        # pyright resolves `reconcile` through the interpreter of this virtualenv.
        "VIRTUAL_ENV": sys.prefix,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    out = subprocess.run(
        [pyright, "--verifytypes", "reconcile", "--ignoreexternal", "--outputjson"],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )
    try:
        report: dict[str, Any] = json.loads(out.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"pyright printed no report:\n{out.stdout}\n{out.stderr}")
    return report


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return _verifytypes()


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
