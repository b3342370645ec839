"""One suite, every backend, real servers: git daemon, HTTPS http-backend, sshd."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from reconcile.errors import RefNotFoundError, SourceError, SourceSecurityError
from reconcile.sources import Artifact, GitRef, Limits, LocalSource
from reconcile.sources.git import (
    Connection,
    GitBackend,
    GitSource,
    RemoteRefs,
    TreeEntry,
    Want,
    get_backend,
)

from .conftest import Transport, Upstream, git

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


class Counting:
    """A real backend that counts the calls made to it (not a mock: it delegates)."""

    def __init__(self, inner: GitBackend) -> None:
        self.inner = inner
        self.name = inner.name
        self.calls: list[str] = []

    async def ls_remote(self, conn: Connection) -> RemoteRefs:
        self.calls.append("ls_remote")
        return await self.inner.ls_remote(conn)

    async def fetch(
        self, conn: Connection, repo: Path, wants: Sequence[Want], *, depth: int | None
    ) -> None:
        self.calls.append("fetch")
        await self.inner.fetch(conn, repo, wants, depth=depth)

    async def has_commit(self, repo: Path, sha: str) -> bool:
        return await self.inner.has_commit(repo, sha)

    async def is_ancestor(self, repo: Path, ancestor: str, descendant: str) -> bool:
        return await self.inner.is_ancestor(repo, ancestor, descendant)

    async def list_tree(self, repo: Path, commit: str) -> list[TreeEntry]:
        self.calls.append("list_tree")
        return await self.inner.list_tree(repo, commit)

    async def read_blobs(
        self, repo: Path, oids: Sequence[str], sink: Callable[[int, bytes], None]
    ) -> None:
        self.calls.append("read_blobs")
        await self.inner.read_blobs(repo, oids, sink)

    async def read_object(self, repo: Path, sha: str) -> tuple[str, bytes]:
        return await self.inner.read_object(repo, sha)


def files(art: Artifact) -> dict[str, str]:
    out = {}
    for p in sorted(art.path.rglob("*")):
        if p.is_file() and not p.is_symlink():
            out[p.relative_to(art.path).as_posix()] = p.read_text()
    return out


@pytest.fixture
def daemon_url(git_daemon: int) -> Any:
    return lambda up: f"git://127.0.0.1:{git_daemon}/{up.name}.git"


# --- every transport x every backend ---------------------------------------------------


async def test_fetch_branch_then_incremental(
    upstream: Upstream, transport: Transport, backend: str, tmp_path: Path
) -> None:
    src = GitSource(
        transport.url(upstream),
        auth=transport.auth,
        backend=backend,
        cache_dir=tmp_path,
        branch="main",
    )
    first = await src.fetch()
    head1 = git("rev-parse", "HEAD", cwd=upstream.work)
    assert first.revision.commit == head1
    assert first.revision.ref == "refs/heads/main"
    assert files(first) == {"README.md": "# demo\n", "deploy/app.yaml": "kind: ConfigMap\n"}
    head2 = upstream.commit({"deploy/app.yaml": "kind: Secret\n", "README.md": None})
    second = await src.fetch()
    assert second.revision.commit == head2
    assert files(second) == {"deploy/app.yaml": "kind: Secret\n"}
    assert second.path != first.path
    # The previous artifact is still there, unchanged.
    assert files(first)["deploy/app.yaml"] == "kind: ConfigMap\n"


# --- every backend (over git://, the cheapest server) -----------------------------------


async def test_default_ref_is_remote_head(
    upstream: Upstream, daemon_url: Any, backend: str, tmp_path: Path
) -> None:
    art = await GitSource(daemon_url(upstream), backend=backend, cache_dir=tmp_path).fetch()
    assert art.revision.ref == "refs/heads/main"
    assert str(art.revision) == f"main@sha1:{art.revision.commit}"


async def test_unchanged_head_skips_the_fetch(
    upstream: Upstream, daemon_url: Any, backend: str, tmp_path: Path
) -> None:
    counting = Counting(get_backend(backend))
    src = GitSource(daemon_url(upstream), backend=counting, cache_dir=tmp_path, branch="main")
    first = await src.fetch()
    assert counting.calls == ["ls_remote", "fetch", "list_tree", "read_blobs"]
    counting.calls.clear()
    again = await src.fetch()
    assert again == first
    assert counting.calls == ["ls_remote"]
    # A new source on the same cache (a restarted process) also skips the fetch.
    counting2 = Counting(get_backend(backend))
    src2 = GitSource(daemon_url(upstream), backend=counting2, cache_dir=tmp_path, branch="main")
    assert (await src2.fetch()).checksum == first.checksum
    assert counting2.calls == ["ls_remote"]


async def test_shallow_by_default_and_full_on_request(
    upstream: Upstream, daemon_url: Any, backend: str, tmp_path: Path
) -> None:
    for i in range(3):
        upstream.commit({f"f{i}": str(i)})
    shallow = GitSource(daemon_url(upstream), backend=backend, cache_dir=tmp_path / "s")
    await shallow.fetch()
    assert (shallow.repo_path / "shallow").is_file()
    assert git("--git-dir", str(shallow.repo_path), "rev-list", "--count", "--all") == "1"
    full = GitSource(daemon_url(upstream), backend=backend, cache_dir=tmp_path / "f", depth=None)
    await full.fetch()
    assert git("--git-dir", str(full.repo_path), "rev-list", "--count", "--all") == "4"


async def test_tags_semver_commit_and_full_ref_names(
    upstream: Upstream, daemon_url: Any, backend: str, tmp_path: Path
) -> None:
    url = daemon_url(upstream)
    c1 = upstream.commit({"v": "1.0.0"})
    upstream.tag("v1.0.0")
    c2 = upstream.commit({"v": "1.1.0-rc.1"})
    upstream.tag("v1.1.0-rc.1", annotated=False)
    c3 = upstream.commit({"v": "1.1.0"})
    upstream.tag("v1.1.0")
    c4 = upstream.commit({"v": "2.0.0"})
    upstream.tag("v2.0.0")
    upstream.set_ref("refs/pull/1/head", c2)

    async def fetch(**kw: Any) -> Artifact:
        return await GitSource(url, backend=backend, cache_dir=tmp_path, **kw).fetch()

    art = await fetch(tag="v1.0.0")
    assert (art.revision.commit, art.revision.ref) == (c1, "refs/tags/v1.0.0")
    assert files(art)["v"] == "1.0.0"
    assert (await fetch(tag="v1.1.0-rc.1")).revision.commit == c2
    assert (await fetch(semver="^1.0")).revision.commit == c3
    assert (await fetch(semver=">=1.1.0-rc.0 <1.1.0")).revision.commit == c2
    assert (await fetch(semver="*")).revision.commit == c4
    pr = await fetch(name="refs/pull/1/head")
    assert (pr.revision.commit, pr.revision.ref) == (c2, "refs/pull/1/head")
    bare = await fetch(commit=c1)
    assert (bare.revision.commit, bare.revision.ref) == (c1, None)
    assert files(bare)["v"] == "1.0.0"
    on_branch = await fetch(commit=c2, branch="main")
    assert (on_branch.revision.commit, on_branch.revision.ref) == (c2, "refs/heads/main")
    # Precedence: name beats semver, tag and branch.
    both = await fetch(ref=GitRef(branch="main", tag="v1.0.0", name="refs/pull/1/head"))
    assert both.revision.commit == c2


async def test_unknown_refs_are_typed_errors(
    upstream: Upstream, daemon_url: Any, backend: str, tmp_path: Path
) -> None:
    url = daemon_url(upstream)
    upstream.branch("other")
    upstream.checkout("other")
    off_main = upstream.commit({"x": "1"})
    upstream.checkout("main")
    cases: list[dict[str, Any]] = [
        {"branch": "nope"},
        {"tag": "v9"},
        {"semver": ">=9"},
        {"name": "refs/pull/7/head"},
        {"commit": "0123456789" * 4},
        {"commit": off_main, "branch": "main"},
    ]
    for kw in cases:
        with pytest.raises(RefNotFoundError) as info:
            await GitSource(url, backend=backend, cache_dir=tmp_path, **kw).fetch()
        assert info.value.url == url, kw


async def test_subpath_and_ignore_rules(
    upstream: Upstream, daemon_url: Any, backend: str, tmp_path: Path
) -> None:
    upstream.commit(
        {
            "clusters/prod/.sourceignore": "*.md\n",
            "clusters/prod/app.yaml": "a\n",
            "clusters/prod/NOTES.md": "n\n",
            "clusters/prod/tmp/x.yaml": "x\n",
            "clusters/prod/secret.yaml": "s\n",
            "clusters/dev/app.yaml": "d\n",
        }
    )
    art = await GitSource(
        daemon_url(upstream),
        backend=backend,
        cache_dir=tmp_path,
        subpath="clusters/prod",
        ignore="tmp/\n",
        exclude=["secret.yaml"],
    ).fetch()
    assert sorted(files(art)) == [".sourceignore", "app.yaml"]
    with pytest.raises(RefNotFoundError, match="sub-path 'nope'"):
        await GitSource(
            daemon_url(upstream), backend=backend, cache_dir=tmp_path, subpath="nope"
        ).fetch()


async def test_checksum_is_the_same_for_every_backend_and_a_local_checkout(
    upstream: Upstream, daemon_url: Any, tmp_path: Path
) -> None:
    upstream.commit({"bin/run.sh": "#!/bin/sh\n"})
    os.chmod(upstream.work / "bin/run.sh", 0o700)
    # Checkout conversions must not apply: artifacts hold blobs as stored.
    upstream.commit({".gitattributes": "*.yaml text eol=crlf ident\n", "x.yaml": "a: 1\n$Id$\n"})
    upstream.symlink("deploy/link.yaml", "app.yaml")
    from reconcile.sources.git import backend_names

    sums = {}
    for name in backend_names():
        art = await GitSource(daemon_url(upstream), backend=name, cache_dir=tmp_path / name).fetch()
        sums[name] = art.checksum
        assert os.readlink(art.path / "deploy/link.yaml") == "app.yaml"
        assert os.stat(art.path / "bin/run.sh").st_mode & 0o100
        assert (art.path / "x.yaml").read_bytes() == b"a: 1\n$Id$\n"
    local = await LocalSource(upstream.work, cache_dir=tmp_path / "local").fetch()
    sums["local"] = local.checksum
    assert len(set(sums.values())) == 1, sums


async def test_old_revisions_are_garbage_collected(
    upstream: Upstream, daemon_url: Any, backend: str, tmp_path: Path
) -> None:
    src = GitSource(daemon_url(upstream), backend=backend, cache_dir=tmp_path, keep=2)
    paths = []
    for i in range(4):
        upstream.commit({"n": str(i)})
        paths.append((await src.fetch()).path)
    assert [p.exists() for p in paths] == [False, False, True, True]
    assert len([p for p in src.store.root.iterdir() if p.is_dir()]) == 2


async def test_sources_sharing_a_url_never_touch_each_others_artifacts(
    upstream: Upstream, daemon_url: Any, backend: str, tmp_path: Path
) -> None:
    # One repository, two apps: each source keeps and recycles only its own
    # artifacts, whatever the other fetches meanwhile.
    upstream.commit({"apps/a/cm.yaml": "a: 0\n", "apps/b/cm.yaml": "b: 0\n"})
    app_a = GitSource(daemon_url(upstream), backend=backend, cache_dir=tmp_path, subpath="apps/a")
    app_b = GitSource(daemon_url(upstream), backend=backend, cache_dir=tmp_path, subpath="apps/b")
    held_b = await app_b.fetch()
    for i in range(1, 5):
        upstream.commit({"apps/a/cm.yaml": f"a: {i}\n"})
        assert (await app_a.fetch()).path.joinpath("cm.yaml").read_text() == f"a: {i}\n"
    assert files(held_b) == {"cm.yaml": "b: 0\n"}
    assert app_a.store.root != app_b.store.root


async def test_an_artifact_another_source_serves_is_never_recycled(
    upstream: Upstream, daemon_url: Any, backend: str, tmp_path: Path
) -> None:
    # Two sources with one selection on one cache (two processes, say): the one
    # that keeps fetching must not collect or recycle what the other still serves.
    lagging = GitSource(daemon_url(upstream), backend=backend, cache_dir=tmp_path, keep=1)
    held = await lagging.fetch()
    before = files(held)
    busy = GitSource(daemon_url(upstream), backend=backend, cache_dir=tmp_path, keep=1)
    for i in range(3):
        upstream.commit({"deploy/app.yaml": f"kind: ConfigMap # {i}\n"})
        await busy.fetch()
    assert files(held) == before
    # Once the lagging source moves on, its old artifact is collected as usual.
    await lagging.fetch()
    upstream.commit({"deploy/app.yaml": "kind: ConfigMap # last\n"})
    await busy.fetch()
    assert not held.path.exists()


async def test_file_urls_only_when_allowed(
    upstream: Upstream, backend: str, tmp_path: Path
) -> None:
    with pytest.raises(SourceSecurityError):
        GitSource(upstream.bare.as_uri(), backend=backend, cache_dir=tmp_path)
    art = await GitSource(
        upstream.bare.as_uri(), backend=backend, cache_dir=tmp_path, allow_file=True
    ).fetch()
    assert "deploy/app.yaml" in files(art)


async def test_symlink_out_of_the_checkout_is_refused(
    upstream: Upstream, daemon_url: Any, backend: str, tmp_path: Path
) -> None:
    src = GitSource(daemon_url(upstream), backend=backend, cache_dir=tmp_path)
    good = await src.fetch()
    upstream.symlink("deploy/passwd", "../../../../etc/passwd")
    with pytest.raises(SourceSecurityError, match="outside the checkout") as info:
        await src.fetch()
    assert info.value.url == daemon_url(upstream)
    assert src.last == good
    assert len([p for p in src.store.root.iterdir() if p.is_dir()]) == 1


async def test_size_and_file_count_limits(
    upstream: Upstream, daemon_url: Any, backend: str, tmp_path: Path
) -> None:
    upstream.commit({f"many/{i}.yaml": "x" * 100 for i in range(20)})
    with pytest.raises(SourceSecurityError, match="files"):
        await GitSource(
            daemon_url(upstream), backend=backend, cache_dir=tmp_path, limits=Limits(max_files=10)
        ).fetch()
    with pytest.raises(SourceSecurityError, match="size limit"):
        await GitSource(
            daemon_url(upstream), backend=backend, cache_dir=tmp_path, limits=Limits(max_bytes=1000)
        ).fetch()


async def test_server_down_keeps_the_previous_artifact(
    upstream: Upstream, git_daemon: int, backend: str, tmp_path: Path
) -> None:
    from .conftest import _free_port

    port = _free_port()
    url = f"git://127.0.0.1:{port}/{upstream.name}.git"
    with pytest.raises(SourceError) as info:
        await GitSource(url, backend=backend, cache_dir=tmp_path, timeout=10).fetch()
    assert info.value.url == url
    assert "ls-remote" in info.value.message


async def test_corrupted_cache_heals(
    upstream: Upstream, daemon_url: Any, backend: str, tmp_path: Path
) -> None:
    src = GitSource(daemon_url(upstream), backend=backend, cache_dir=tmp_path)
    first = await src.fetch()
    objects = src.repo_path / "objects"
    damaged = 0
    for path in objects.rglob("*"):
        if path.is_file() and (path.suffix in {".pack", ".idx"} or len(path.name) == 38):
            os.chmod(path, 0o600)
            path.write_bytes(b"garbage" * 10)
            damaged += 1
    assert damaged
    head = upstream.commit({"deploy/app.yaml": "kind: Service\n"})
    art = await src.fetch()
    assert art.revision.commit == head
    assert files(art)["deploy/app.yaml"] == "kind: Service\n"
    assert files(first)["deploy/app.yaml"] == "kind: ConfigMap\n"
    # The rebuilt cache is sound.
    git("--git-dir", str(src.repo_path), "fsck", "--no-dangling")


async def test_missing_cache_objects_heal(
    upstream: Upstream, daemon_url: Any, backend: str, tmp_path: Path
) -> None:
    src = GitSource(daemon_url(upstream), backend=backend, cache_dir=tmp_path)
    await src.fetch()
    shutil.rmtree(src.repo_path / "objects")
    upstream.commit({"x": "y"})
    assert files(await src.fetch())["x"] == "y"


async def test_ref_moved_back_to_a_cached_commit_needs_no_fetch(
    upstream: Upstream, daemon_url: Any, backend: str, tmp_path: Path
) -> None:
    counting = Counting(get_backend(backend))
    src = GitSource(daemon_url(upstream), backend=counting, cache_dir=tmp_path, keep=1)
    first = await src.fetch()
    assert first.revision.commit is not None
    upstream.commit({"x": "1"})
    second = await src.fetch()
    assert not first.path.exists()  # keep=1: collected
    app = "deploy/app.yaml"
    inode = os.stat(second.path / app).st_ino
    upstream.set_ref("refs/heads/main", first.revision.commit)
    counting.calls.clear()
    back = await src.fetch()
    assert back.revision.commit == first.revision.commit
    assert back.checksum == first.checksum
    # No fetch, and no blob read: every file is linked from the previous artifact.
    assert counting.calls == ["ls_remote", "list_tree"]
    assert os.stat(back.path / app).st_ino == inode
    assert not second.path.exists()
    assert (back.path / app).read_text() == "kind: ConfigMap\n"


async def test_incremental_artifacts_share_unchanged_files(
    upstream: Upstream, daemon_url: Any, backend: str, tmp_path: Path
) -> None:
    src = GitSource(daemon_url(upstream), backend=backend, cache_dir=tmp_path)
    first = await src.fetch()
    upstream.commit({"deploy/app.yaml": "kind: Secret\n"})
    second = await src.fetch()
    assert os.stat(second.path / "README.md").st_ino == os.stat(first.path / "README.md").st_ino
    assert (
        os.stat(second.path / "deploy/app.yaml").st_ino
        != os.stat(first.path / "deploy/app.yaml").st_ino
    )
    assert (first.path / "deploy/app.yaml").read_text() == "kind: ConfigMap\n"
    assert (second.path / "deploy/app.yaml").read_text() == "kind: Secret\n"
    assert stat.S_IMODE((second.path / "deploy/app.yaml").stat().st_mode) & 0o222 == 0


def snapshot(art: Artifact) -> dict[str, tuple[str, int, bytes]]:
    """Every path of an artifact: type, permission bits, content or link target."""
    out: dict[str, tuple[str, int, bytes]] = {}
    for p in sorted(art.path.rglob("*")):
        st = os.lstat(p)
        rel = p.relative_to(art.path).as_posix()
        if stat.S_ISLNK(st.st_mode):
            out[rel] = ("l", 0, os.readlink(p).encode())
        elif stat.S_ISDIR(st.st_mode):
            out[rel] = ("d", stat.S_IMODE(st.st_mode), b"")
        else:
            out[rel] = ("f", stat.S_IMODE(st.st_mode), p.read_bytes())
    return out


async def test_retired_artifact_directories_are_recycled(
    upstream: Upstream, daemon_url: Any, backend: str, tmp_path: Path
) -> None:
    """Steady state: the directory gc would delete becomes the next artifact.

    Each result equals a build from scratch (files, modes, checksum); the
    previous artifact never changes; the retired path disappears; a new
    process (a fresh GitSource on the same cache) recycles too.
    """
    changes: list[dict[str, str | bytes | None]] = [
        {"deploy/app.yaml": "kind: Secret\n", "a/b/c.yaml": "c\n"},
        {"README.md": None, "a/b/c.yaml": None, "a/b": "now a file\n"},  # dir -> file
        {"a/b": None, "a/b/d/e.yaml": "e\n", ".sourceignore": "*.txt\n", "x.txt": "x\n"},
        {".sourceignore": None, "tools/run.sh": "#!/bin/sh\n"},  # x.txt comes back
        {"deploy/app.yaml": None, "x.txt": "y\n"},  # + run.sh loses its x bit, a symlink
        {"deploy/link.yaml": None, "deploy/z.yaml": "z\n"},
    ]
    src = GitSource(daemon_url(upstream), backend=backend, cache_dir=tmp_path / "c", keep=2)
    history = [await src.fetch()]
    for i, change in enumerate(changes):
        if i == 3:  # a new process: the listing stored beside each artifact is used
            src = GitSource(daemon_url(upstream), backend=backend, cache_dir=tmp_path / "c", keep=2)
        if i == 1:
            shutil.rmtree(upstream.work / "a/b")
        upstream.write(change)
        if i == 3:
            os.chmod(upstream.work / "tools/run.sh", 0o700)
        if i == 4:
            os.chmod(upstream.work / "tools/run.sh", 0o600)
            os.symlink("../x.txt", upstream.work / "deploy/link.yaml")
        upstream.commit({})
        previous = snapshot(history[-1])
        retired = history[-2].path if len(history) >= 2 else None
        retired_inode = os.stat(retired).st_ino if retired else None
        art = await src.fetch()
        fresh = await GitSource(
            daemon_url(upstream), backend=backend, cache_dir=tmp_path / f"fresh{i}"
        ).fetch()
        assert snapshot(art) == snapshot(fresh), change
        assert art.checksum == fresh.checksum
        assert (art.files, art.size) == (fresh.files, fresh.size)
        assert snapshot(history[-1]) == previous  # the previous artifact is untouched
        if retired is not None:
            assert not retired.exists()
            assert os.stat(art.path).st_ino == retired_inode  # the same directory, renamed
        history.append(art)
    # (Each step was compared with a fresh build above; keep=2 leaves the last two.)
    assert not history[-3].path.exists()
    assert not os.stat(history[-2].path / "tools/run.sh").st_mode & 0o100
    assert os.readlink(history[-2].path / "deploy/link.yaml") == "../x.txt"
    last = ["a/b/d/e.yaml", "deploy/z.yaml", "tools/run.sh", "x.txt"]
    assert sorted(files(history[-1])) == last
    assert len([p for p in src.store.root.iterdir() if p.is_dir()]) == 2


async def test_a_damaged_retired_artifact_is_rebuilt_not_reused(
    upstream: Upstream, daemon_url: Any, backend: str, tmp_path: Path
) -> None:
    src = GitSource(daemon_url(upstream), backend=backend, cache_dir=tmp_path, keep=2)
    first = await src.fetch()
    upstream.commit({"deploy/app.yaml": "kind: Secret\n"})
    second = await src.fetch()
    # A listing that does not match the directory: recycling fails, a full build follows.
    listing = src.store.root / f"{first.path.name}.tree"
    listing.write_bytes(listing.read_bytes() + b"F" + b"0" * 40 + b" not/there\0")
    src = GitSource(daemon_url(upstream), backend=backend, cache_dir=tmp_path, keep=2)
    upstream.commit({"README.md": "# changed\n"})
    third = await src.fetch()
    assert files(third) == {"README.md": "# changed\n", "deploy/app.yaml": "kind: Secret\n"}
    assert not first.path.exists()
    assert files(second) == {"README.md": "# demo\n", "deploy/app.yaml": "kind: Secret\n"}
    # An unreadable listing: no recycling, gc removes the directory as before.
    (src.store.root / f"{second.path.name}.tree").write_bytes(b"garbage")
    upstream.commit({"README.md": "# again\n"})
    fourth = await src.fetch()
    assert files(fourth)["README.md"] == "# again\n"
    assert not second.path.exists()
    assert files(third)["README.md"] == "# changed\n"


async def test_cli_cold_branch_fetch_skips_ls_remote(
    upstream: Upstream, daemon_url: Any, tmp_path: Path
) -> None:
    """With nothing to compare with, the CLI fetches a branch by name in one connection."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    from reconcile.sources.git._cli import CLIBackend

    class Recording(CLIBackend):
        def __init__(self) -> None:
            super().__init__()
            self.calls: list[str] = []

        async def ls_remote(self, conn: Connection) -> RemoteRefs:
            self.calls.append("ls_remote")
            return await super().ls_remote(conn)

        async def fetch_ref(
            self, conn: Connection, repo: Path, ref: str, *, depth: int | None
        ) -> str:
            self.calls.append(f"fetch_ref {ref}")
            return await super().fetch_ref(conn, repo, ref, depth=depth)

    backend = Recording()
    src = GitSource(daemon_url(upstream), backend=backend, cache_dir=tmp_path, branch="main")
    first = await src.fetch()
    assert backend.calls == ["fetch_ref refs/heads/main"]
    assert first.revision.commit == git("rev-parse", "HEAD", cwd=upstream.work)
    assert first.revision.ref == "refs/heads/main"
    # Later fetches compare first (the cheap "has HEAD moved?" check).
    backend.calls.clear()
    assert (await src.fetch()).path == first.path
    assert backend.calls == ["ls_remote"]
    with pytest.raises(RefNotFoundError) as info:
        await GitSource(
            daemon_url(upstream), backend=Recording(), cache_dir=tmp_path / "n", branch="nope"
        ).fetch()
    assert info.value.url == daemon_url(upstream)


async def test_diff_tree_patches_a_listing_into_the_next(
    upstream: Upstream, daemon_url: Any, backend: str, tmp_path: Path
) -> None:
    from reconcile.sources.git import _cli

    src = GitSource(daemon_url(upstream), backend=backend, cache_dir=tmp_path, depth=None)
    c1 = str((await src.fetch()).revision.commit)
    upstream.commit({"README.md": None, "deploy/app.yaml": "kind: Secret\n", "new/x": "x\n"})
    os.chmod(upstream.work / "new/x", 0o700)
    upstream.symlink("link", "new/x")
    upstream.commit({"deploy/app.yaml": None})
    upstream.symlink("deploy/app.yaml", "../new/x")  # a file became a symlink
    c2 = str((await src.fetch()).revision.commit)
    impl: Any = get_backend(backend)
    before = {e.path: e for e in await impl.list_tree(src.repo_path, c1)}
    changes = await impl.diff_tree(src.repo_path, c1, c2)
    assert changes is not None
    for path, entry in changes:
        if entry is None:
            before.pop(path, None)
    for path, entry in changes:
        if entry is not None:
            before[path] = entry
    after = await impl.list_tree(src.repo_path, c2)
    assert {p: (e.mode, e.oid) for p, e in before.items()} == {
        e.path: (e.mode, e.oid) for e in after
    }
    assert await impl.diff_tree(src.repo_path, "0" * 40, c2) is None
    upstream.commit({f"many/{i}": str(i) for i in range(2 * _cli.DIFF_LIMIT + 1)})
    c3 = str((await src.fetch()).revision.commit)
    assert await impl.diff_tree(src.repo_path, c2, c3) is None  # a full listing is better
