"""The documentation site builds with ``mkdocs build --strict`` (links, pages, references)."""

from __future__ import annotations

import ast
import html
import importlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reconcile.testing import skip_or_fail

REPO = Path(__file__).resolve().parents[2]


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent))
    if mkdocs is None:
        skip_or_fail("mkdocs is not installed (the docs extra, part of dev)")
    out = subprocess.run(
        [mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=240,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    assert (tmp_path / "site" / "reference" / "api" / "reconcile" / "index.html").is_file()
    # The examples are included from the tested files (pymdownx.snippets), not copied.
    included = {
        "quickstart": "async def main() -> None:",
        "guides/operator": "class GitSyncOperator:",
        "guides/platform": "def environment_objects(",
        "guides/testing": "async def test_the_operator_syncs_a_repository(",
    }
    for page, code in included.items():
        text = re.sub(r"<[^>]+>", "", (tmp_path / "site" / page / "index.html").read_text())
        assert html.unescape(code) in html.unescape(text), page


def _python_blocks() -> list[tuple[str, str]]:
    blocks = []
    for page in sorted((REPO / "docs").rglob("*.md")):
        for block in re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S):
            blocks.append((str(page.relative_to(REPO)), block))
    return blocks


@pytest.mark.parametrize(("page", "code"), _python_blocks())
def test_python_snippets_compile_and_their_imports_exist(page: str, code: str) -> None:
    compile(code, page, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    imports = [
        node
        for node in ast.walk(ast.parse(code))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("reconcile")
    ]
    for node in imports:
        module = importlib.import_module(str(node.module))
        for alias in node.names:
            assert hasattr(module, alias.name), f"{page}: {node.module}.{alias.name}"
