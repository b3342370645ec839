"""The documentation site builds with ``mkdocs build --strict`` (links, pages, references)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

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
    assert (tmp_path / "site" / "guides" / "operator" / "index.html").is_file()
