"""Selecting and writing tree entries: the shared part of every Git backend."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile.errors import SourceSecurityError
from reconcile.sources._materialize import (
    TreeEntry,
    TreeWriter,
    _symlink_inside,
    check_tree_path,
    content_checksum,
    decode_listing,
    encode_listing,
    select_entries,
    tree_checksum,
)
from reconcile.sources._tree import FileFilter, Limits, blob_id, remove_tree


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


# --- recycling a retired artifact directory ---------------------------------------------

_PATHS = ["a", "a/x", "a/y", "a/c/x", "b", "b/x", "b/c/d/x", "c", "x", "y"]
_CONTENTS = [b"1", b"2", b"x", b"y"]  # symlinks get a sibling name: always inside


def _tree(draw: st.DrawFn) -> list[TreeEntry]:
    chosen = draw(st.sets(st.sampled_from(_PATHS)))
    # A path cannot be a file and a directory at once: drop files that others nest under.
    valid = sorted(p for p in chosen if not any(q.startswith(p + "/") for q in chosen))
    out = []
    for p in valid:
        mode = draw(st.sampled_from([0o100644, 0o100755, 0o120000]))
        content = draw(st.sampled_from(_CONTENTS))
        out.append(entry(p, content, mode))
    return out


trees = st.composite(_tree)


def _contents(e: TreeEntry) -> bytes:
    return next(c for c in _CONTENTS if blob_id(c) == e.oid)


def _listing(entries: list[TreeEntry]) -> dict[str, tuple[str, str]]:
    return {e.path: (e.kind, e.oid) for e in entries}


def _snapshot(root: Path) -> dict[str, tuple[str, int, bytes]]:
    """Every path below root: (type, permission bits, content or link target)."""
    out: dict[str, tuple[str, int, bytes]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            st_ = os.lstat(p)
            if stat.S_ISLNK(st_.st_mode):
                out[rel] = ("l", 0, os.readlink(p).encode())
            elif stat.S_ISDIR(st_.st_mode):
                out[rel] = ("d", stat.S_IMODE(st_.st_mode), b"")
            else:
                out[rel] = ("f", stat.S_IMODE(st_.st_mode), p.read_bytes())
    return out


@settings(max_examples=150, deadline=None)
@given(old=trees(), new=trees())
def test_recycled_directory_equals_a_fresh_build(
    tmp_path_factory: pytest.TempPathFactory, old: list[TreeEntry], new: list[TreeEntry]
) -> None:
    base = tmp_path_factory.mktemp("recycle")
    # The retired artifact, sealed as the store leaves it, and a live one sharing its inodes.
    retired = base / "retired"
    w = TreeWriter(retired, old, Limits())
    retired.mkdir()
    for i, e in enumerate(old):
        w.sink(i, _contents(e))
    w.finish()
    live = base / "live"
    live.mkdir()
    for e in old:
        (live / e.path).parent.mkdir(parents=True, exist_ok=True)
        os.link(retired / e.path, live / e.path, follow_symlinks=False)
    live_before = _snapshot(live)
    os.chmod(retired, 0o755)  # noqa: S103 - ArtifactStore.take does this before handing it over
    # Recycle it into `new`, then write what is left.
    writer = TreeWriter(retired, new, Limits())
    todo = writer.recycle(_listing(old))
    assert sorted(todo) == [
        i for i, e in enumerate(new) if _listing(old).get(e.path) != (e.kind, e.oid)
    ]
    for i in todo:
        writer.sink(i, _contents(new[i]))
    stats = writer.finish()
    fresh = base / "fresh"
    f = TreeWriter(fresh, new, Limits())
    fresh.mkdir()
    for i, e in enumerate(new):
        f.sink(i, _contents(e))
    fresh_stats = f.finish()
    assert _snapshot(retired) == _snapshot(fresh)
    assert stats == fresh_stats
    # Files shared with a live artifact were replaced, never written into.
    assert _snapshot(live) == live_before
    for root in (retired, fresh, live):
        remove_tree(root)


def test_recycle_refuses_a_directory_that_does_not_match(tmp_path: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    (root / "a").write_text("1")
    writer = TreeWriter(root, [entry("b", b"2")], Limits())
    with pytest.raises(FileNotFoundError, match="gone"):
        writer.recycle({"a": ("F", blob_id(b"1")), "gone": ("F", blob_id(b"2"))})


def test_listing_round_trip_and_damage() -> None:
    entries = [entry("a/b c", b"1"), entry("x", b"2", 0o100755), entry("l", b"x", 0o120000)]
    assert decode_listing(encode_listing(entries)) == _listing(entries)
    assert decode_listing(b"") == {}
    with pytest.raises(ValueError, match="truncated"):
        decode_listing(encode_listing(entries)[:-3])
    with pytest.raises(ValueError, match="damaged"):
        decode_listing(b"Qabc x\0")
