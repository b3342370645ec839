"""LocalSource and the artifact tree: checksums, filters, read-only, GC, safety."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from reconcile.errors import ConfigurationError, SourceError, SourceSecurityError
from reconcile.sources import Artifact, Limits, LocalSource, Revision, Source
from reconcile.sources._tree import ArtifactStore, FileFilter, finalize_tree

pytestmark = pytest.mark.anyio


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def _listing(root: Path) -> list[str]:
    return sorted(
        p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() or p.is_symlink()
    )


async def test_plain_directory_revision_is_the_content_digest(tmp_path: Path) -> None:
    src_dir = _tree(tmp_path / "src", {"a.yaml": "a: 1\n", "sub/b.yaml": "b: 2\n"})
    source = LocalSource(src_dir, cache_dir=tmp_path / "cache")
    assert isinstance(source, Source)
    art = await source.fetch()
    assert isinstance(art, Artifact)
    assert art.revision == Revision(digest=art.checksum)
    assert art.revision.commit is None
    assert art.checksum.startswith("sha256:")
    assert art.files == 2
    assert art.size == len("a: 1\n") + len("b: 2\n")
    assert _listing(art.path) == ["a.yaml", "sub/b.yaml"]


async def test_same_content_same_checksum_different_content_new_directory(tmp_path: Path) -> None:
    src_dir = _tree(tmp_path / "src", {"a.yaml": "a: 1\n"})
    source = LocalSource(src_dir, cache_dir=tmp_path / "cache")
    first = await source.fetch()
    again = await source.fetch()
    assert again.checksum == first.checksum
    assert again.path == first.path
    (src_dir / "a.yaml").write_text("a: 2\n")
    changed = await source.fetch()
    assert changed.checksum != first.checksum
    assert changed.path != first.path
    # The older artifact is untouched by the newer fetch.
    assert (first.path / "a.yaml").read_text() == "a: 1\n"


async def test_checksum_covers_names_and_exec_bit(tmp_path: Path) -> None:
    one = _tree(tmp_path / "one", {"a": "x"})
    two = _tree(tmp_path / "two", {"b": "x"})
    three = _tree(tmp_path / "three", {"a": "x"})
    os.chmod(three / "a", 0o700)
    sums = set()
    for d in (one, two, three):
        sums.add((await LocalSource(d, cache_dir=tmp_path / f"c-{d.name}").fetch()).checksum)
    assert len(sums) == 3


async def test_artifact_is_read_only(tmp_path: Path) -> None:
    src_dir = _tree(tmp_path / "src", {"a.yaml": "a\n", "d/b.yaml": "b\n"})
    art = await LocalSource(src_dir, cache_dir=tmp_path / "cache").fetch()
    for p in [art.path, art.path / "d", art.path / "a.yaml", art.path / "d/b.yaml"]:
        assert stat.S_IMODE(p.stat().st_mode) & 0o222 == 0, p


async def test_old_artifacts_are_garbage_collected(tmp_path: Path) -> None:
    src_dir = _tree(tmp_path / "src", {"a": "0"})
    source = LocalSource(src_dir, cache_dir=tmp_path / "cache", keep=2)
    paths = []
    for i in range(4):
        (src_dir / "a").write_text(str(i))
        paths.append((await source.fetch()).path)
    assert [p.exists() for p in paths] == [False, False, True, True]


async def test_sourceignore_ignore_include_exclude(tmp_path: Path) -> None:
    src_dir = _tree(
        tmp_path / "src",
        {
            ".sourceignore": "*.md\n!KEEP.md\n/tmp/\n",
            "README.md": "",
            "KEEP.md": "",
            "tmp/x.yaml": "",
            "apps/web.yaml": "",
            "apps/web.json": "",
            "apps/.sourceignore": "*.json\n",
            "apps/secret/key.yaml": "",
            "docs/guide.txt": "",
        },
    )
    art = await LocalSource(
        src_dir,
        cache_dir=tmp_path / "cache",
        ignore=["docs/"],
        include=["*.yaml", "*.md", ".sourceignore"],
        exclude=["secret/"],
    ).fetch()
    assert _listing(art.path) == [".sourceignore", "KEEP.md", "apps/.sourceignore", "apps/web.yaml"]


async def test_subpath(tmp_path: Path) -> None:
    src_dir = _tree(tmp_path / "src", {"clusters/prod/a.yaml": "", "clusters/dev/b.yaml": ""})
    art = await LocalSource(src_dir, cache_dir=tmp_path / "c", subpath="clusters/prod").fetch()
    assert _listing(art.path) == ["a.yaml"]
    with pytest.raises(SourceError, match="sub-path 'nope'"):
        await LocalSource(src_dir, cache_dir=tmp_path / "c2", subpath="nope").fetch()
    with pytest.raises(ConfigurationError):
        LocalSource(src_dir, cache_dir=tmp_path / "c3", subpath="../etc")


async def test_symlink_inside_is_kept_outside_is_refused(tmp_path: Path) -> None:
    src_dir = _tree(tmp_path / "src", {"base/a.yaml": "a\n"})
    os.symlink("base/a.yaml", src_dir / "link.yaml")
    art = await LocalSource(src_dir, cache_dir=tmp_path / "c").fetch()
    assert os.readlink(art.path / "link.yaml") == "base/a.yaml"
    os.symlink("../../etc/passwd", src_dir / "base/evil")
    with pytest.raises(SourceSecurityError, match="outside the checkout"):
        await LocalSource(src_dir, cache_dir=tmp_path / "c2").fetch()
    (src_dir / "base/evil").unlink()
    os.symlink("/etc/passwd", src_dir / "abs")
    with pytest.raises(SourceSecurityError, match="outside the checkout"):
        await LocalSource(src_dir, cache_dir=tmp_path / "c3").fetch()


async def test_symlink_escaping_a_subpath_is_refused(tmp_path: Path) -> None:
    src_dir = _tree(tmp_path / "src", {"shared/x.yaml": "", "app/a.yaml": ""})
    os.symlink("../shared/x.yaml", src_dir / "app/x.yaml")
    with pytest.raises(SourceSecurityError):
        await LocalSource(src_dir, cache_dir=tmp_path / "c", subpath="app").fetch()


async def test_limits(tmp_path: Path) -> None:
    src_dir = _tree(tmp_path / "src", {f"f{i}": "0123456789" for i in range(5)})
    with pytest.raises(SourceSecurityError, match="limit of 4 files"):
        await LocalSource(src_dir, cache_dir=tmp_path / "c", limits=Limits(max_files=4)).fetch()
    with pytest.raises(SourceSecurityError, match="size limit of 45 bytes"):
        await LocalSource(src_dir, cache_dir=tmp_path / "c", limits=Limits(max_bytes=45)).fetch()
    art = await LocalSource(
        src_dir, cache_dir=tmp_path / "c", limits=Limits(max_files=5, max_bytes=50)
    ).fetch()
    assert art.files == 5
    # A failed fetch leaves no staging directory behind.
    assert not [p for p in (tmp_path / "c" / "local").iterdir() if p.name.startswith(".staging")]


async def test_git_working_tree(tmp_path: Path) -> None:
    work = _tree(tmp_path / "w", {"a.yaml": "a\n", ".gitignore": "build/\n"})
    env = {
        **os.environ,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@e",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@e",
    }

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=work, env=env, check=True, capture_output=True, text=True
        ).stdout.strip()

    git("init", "-q", "-b", "trunk")
    git("add", "-A")
    git("commit", "-q", "-m", "one")
    head = git("rev-parse", "HEAD")
    _tree(work, {"build/out.bin": "x"})
    source = LocalSource(work, cache_dir=tmp_path / "c")
    art = await source.fetch()
    assert art.revision == Revision(commit=head, ref="refs/heads/trunk", dirty=False)
    assert _listing(art.path) == [".gitignore", "a.yaml"]
    (work / "a.yaml").write_text("changed\n")
    dirty = await source.fetch()
    assert dirty.revision.dirty
    assert str(dirty.revision).endswith("+dirty")
    assert (dirty.path / "a.yaml").read_text() == "changed\n"


def test_file_filter_rejects_bad_patterns_as_configuration_errors() -> None:
    f = FileFilter(ignore="a\n!b\n")
    assert not f.keeps("a")
    assert f.keeps("b")
    assert not f.keeps_dir(".git")


def test_finalize_refuses_special_files(tmp_path: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    os.mkfifo(root / "pipe")
    with pytest.raises(SourceSecurityError, match="not a regular file"):
        finalize_tree(root, FileFilter(), Limits())


def test_store_keep_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        ArtifactStore(tmp_path, keep=0)


async def test_local_sources_sharing_a_cache_keep_their_own_artifacts(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = LocalSource(_tree(tmp_path / "a", {"a.yaml": "a: 0\n"}), cache_dir=cache, keep=1)
    second = LocalSource(_tree(tmp_path / "b", {"b.yaml": "b: 0\n"}), cache_dir=cache, keep=1)
    held = await second.fetch()
    for i in range(1, 4):
        (tmp_path / "a" / "a.yaml").write_text(f"a: {i}\n")
        await first.fetch()
    assert _listing(held.path) == ["b.yaml"]


def test_a_held_artifact_is_neither_collected_nor_taken(tmp_path: Path) -> None:
    # Two stores on one directory stand for two processes (or two sources with
    # the same selection): one still serves an artifact the other would collect.
    mine, theirs = ArtifactStore(tmp_path, keep=1), ArtifactStore(tmp_path, keep=1)
    for key in ("old", "new"):
        staged = mine.staging()
        _tree(staged / "tree", {"x.yaml": key})
        mine.commit(staged / "tree", key)
        mine.discard(staged)
    os.utime(tmp_path / "old", ns=(1, 1))
    lease = theirs.hold("old")
    assert lease is not None
    assert mine.gc() == []
    assert not mine.take("old", tmp_path / ".staging-taken")
    assert (tmp_path / "old" / "x.yaml").read_text() == "old"
    lease.release()
    assert mine.gc() == ["old"]
    assert theirs.hold("old") is None


def test_gc_leaves_a_staging_directory_another_builder_writes(tmp_path: Path) -> None:
    builder, collector = ArtifactStore(tmp_path), ArtifactStore(tmp_path)
    staged = builder.staging()
    (staged / "half-written.yaml").write_text("a: 1\n")
    collector.gc()
    assert (staged / "half-written.yaml").exists()
    builder.discard(staged)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    # A staging directory whose builder died (no lock held) is collected.
    (tmp_path / ".staging-dead").mkdir()
    collector.gc()
    assert not (tmp_path / ".staging-dead").exists()
