"""RealPaths resolves exactly as os.path.realpath does."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

from reconcile.render._paths import RealPaths


def test_real_paths_match_realpath(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "f.yaml").write_text("x")
    (root / "up").symlink_to("..")
    (root / "out").symlink_to(tmp_path)
    (root / "a" / "same").symlink_to("b")
    (root / "a" / "abs").symlink_to(root / "a")
    (root / "loop").symlink_to("loop")
    paths = RealPaths(root)
    names = ["a", "b", "f.yaml", "up", "out", "same", "abs", "loop", "..", ".", "missing", "root"]
    for length in (1, 2, 3, 4):
        for parts in itertools.product(names, repeat=length):
            path = os.path.join(root, *parts)
            assert paths.real(path) == os.path.realpath(path), path
            expected = os.path.realpath(path)
            real_root = os.path.realpath(root)
            assert paths.inside(path) == (
                expected == real_root or expected.startswith(real_root + os.sep)
            )
