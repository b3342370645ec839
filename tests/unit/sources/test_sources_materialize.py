"""Selecting and writing tree entries: the shared part of every Git backend."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconcile.errors import SourceSecurityError
from reconcile.sources._materialize import (
    TreeEntry,
    TreeWriter,
    _symlink_inside,
    check_tree_path,
    content_checksum,
    select_entries,
    tree_checksum,
)
from reconcile.sources._tree import FileFilter, Limits, blob_id


def entry(path: str, content: bytes = b"x", mode: int = 0o100644) -> TreeEntry:
    return TreeEntry(path, mode, blob_id(content), len(content))


@pytest.mark.parametrize(
    ("link", "target", "inside"),
    [
        ("a/l", b"b", True),
        ("a/l", b"../b", True),
        ("a/l", b"../../b", False),
        ("l", b"../x", False),
        ("l", b"/etc/passwd", False),
        ("a/b/l", b"./../../c/./d", True),
        ("l", b"", False),
    ],
)
def test_symlink_inside(link: str, target: bytes, inside: bool) -> None:
    assert _symlink_inside(link, target) is inside


@pytest.mark.parametrize("path", ["../x", "/abs", "a/../b", "a//b", ".git/config", "x/.GIT/hooks"])
def test_unsafe_tree_paths(path: str) -> None:
    with pytest.raises(SourceSecurityError):
        check_tree_path(path)


def test_select_with_subpath_and_nested_ignore_files() -> None:
    entries = [
        entry("app/.sourceignore", b"*.md\n"),
        entry("app/a.yaml"),
        entry("app/README.md"),
        entry("app/sub/.sourceignore", b"!KEEP.md\n"),
        entry("app/sub/KEEP.md"),
        entry("app/sub/other.md"),
        entry("other/b.yaml"),
    ]
    texts = {".sourceignore": b"*.md\n", "sub/.sourceignore": b"!KEEP.md\n"}
    kept = select_entries(entries, "app", FileFilter(), texts)
    assert [e.path for e in kept] == [".sourceignore", "a.yaml", "sub/.sourceignore", "sub/KEEP.md"]


def test_writer_limits_and_readonly(tmp_path: Path) -> None:
    entries = [
        entry("d/a", b"12345"),
        entry("d/b", b"67890", 0o100755),
        entry("l", b"d/a", 0o120000),
    ]
    with pytest.raises(SourceSecurityError, match="2 files"):
        TreeWriter(tmp_path, entries, Limits(max_files=2))
    with pytest.raises(SourceSecurityError, match="size limit"):
        TreeWriter(tmp_path, entries, Limits(max_bytes=10))
    root = tmp_path / "r"
    root.mkdir()
    writer = TreeWriter(root, entries, Limits())
    for i, content in enumerate([b"12345", b"67890", b"d/a"]):
        writer.sink(i, content)
    stats = writer.finish()
    assert (stats.files, stats.size) == (3, 13)
    assert os.readlink(root / "l") == "d/a"
    assert (root / "d/a").stat().st_mode & 0o777 == 0o444
    assert (root / "d/b").stat().st_mode & 0o777 == 0o555
    assert (root / "d").stat().st_mode & 0o777 == 0o555
    assert stats.checksum == tree_checksum(entries)
    assert stats.checksum == content_checksum(
        [("d/a", "F", b"12345"), ("d/b", "X", b"67890"), ("l", "L", b"d/a")]
    )


def test_writer_refuses_an_escaping_symlink(tmp_path: Path) -> None:
    writer = TreeWriter(tmp_path, [entry("l", b"../x", 0o120000)], Limits())
    with pytest.raises(SourceSecurityError, match="outside"):
        writer.sink(0, b"../x")
    assert not os.path.lexists(tmp_path / "l")


def test_checksum_is_order_independent_and_sensitive_to_kind() -> None:
    a, b = entry("a"), entry("b", b"y")
    assert tree_checksum([a, b]) == tree_checksum([b, a])
    assert tree_checksum([a]) != tree_checksum([entry("a", mode=0o100755)])
