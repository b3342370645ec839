"""Submodules (opt-in, ``recurse_submodules``) against the real servers, every backend."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from reconcile.errors import ConfigurationError, SourceAuthError, SourceError, SourceSecurityError
from reconcile.sources import HTTPSAuth
from reconcile.sources.git import GitSource

from .conftest import BASIC_PASSWORD, BASIC_USER, Transport, Upstream, git
from .test_git_backends import Counting, files

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


def pwned() -> bool:
    return os.path.exists("/tmp/reconcile-submodule-pwned")


def names_below(root: Path) -> list[str]:
    return [p.name for p in root.rglob("*")]


def bump(up: Upstream, path: str, commit: str) -> str:
    """Point the submodule at ``path`` to ``commit``; commit, push."""
    git("update-index", "--cacheinfo", f"160000,{commit},{path}", cwd=up.work)
    return up.commit({}, f"bump {path}")


@pytest.fixture
def nested(upstream_factory: Any) -> tuple[Upstream, Upstream, Upstream]:
    """super -> vendor/lib (relative URL) -> deep (relative URL)."""
    deep = upstream_factory({"deep.yaml": "deep: 1\n"})
    lib = upstream_factory({"lib.yaml": "lib: 1\n"})
    lib.add_submodule("deep", f"../{deep.name}.git", git("rev-parse", "HEAD", cwd=deep.work))
    top = upstream_factory({"app.yaml": "app: 1\n"})
    top.add_submodule("vendor/lib", f"../{lib.name}.git", git("rev-parse", "HEAD", cwd=lib.work))
    return top, lib, deep


async def test_submodules_are_checked_out_recursively_when_asked(
    nested: tuple[Upstream, Upstream, Upstream],
    transport: Transport,
    backend: str,
    tmp_path: Path,
) -> None:
    if backend == "pygit2" and transport.name == "ssh":
        pytest.skip("pygit2 refuses ssh by design (tested in test_pygit2_refuses_ssh)")
    top, lib, _deep = nested
    url = transport.url(top)
    plain = await GitSource(url, auth=transport.auth, backend=backend, cache_dir=tmp_path).fetch()
    assert sorted(files(plain)) == [".gitmodules", "app.yaml"]
    src = GitSource(
        url, auth=transport.auth, backend=backend, cache_dir=tmp_path, recurse_submodules=True
    )
    art = await src.fetch()
    assert art.path != plain.path
    assert files(art) == {
        ".gitmodules": (top.work / ".gitmodules").read_text(),
        "app.yaml": "app: 1\n",
        "vendor/lib/.gitmodules": (lib.work / ".gitmodules").read_text(),
        "vendor/lib/lib.yaml": "lib: 1\n",
        "vendor/lib/deep/deep.yaml": "deep: 1\n",
    }
    assert art.files == 5
    # A new submodule commit reaches the artifact through the superproject's gitlink.
    new_lib = lib.commit({"lib.yaml": "lib: 2\n"})
    bump(top, "vendor/lib", new_lib)
    second = await src.fetch()
    assert files(second)["vendor/lib/lib.yaml"] == "lib: 2\n"
    assert files(second)["vendor/lib/deep/deep.yaml"] == "deep: 1\n"
    assert files(art)["vendor/lib/lib.yaml"] == "lib: 1\n"  # the previous artifact is intact
    top.commit({"app.yaml": "app: 3\n"})
    third = await src.fetch()  # recycles the first directory
    assert files(third)["app.yaml"] == "app: 3\n"
    assert files(third)["vendor/lib/lib.yaml"] == "lib: 2\n"
    assert not art.path.exists()


async def test_submodules_respect_subpath_and_filters(
    nested: tuple[Upstream, Upstream, Upstream], git_daemon: int, backend: str, tmp_path: Path
) -> None:
    top, _lib, _deep = nested
    art = await GitSource(
        f"git://127.0.0.1:{git_daemon}/{top.name}.git",
        backend=backend,
        cache_dir=tmp_path,
        recurse_submodules=True,
        subpath="vendor",
        exclude=["deep/"],
    ).fetch()
    assert sorted(files(art)) == ["lib/.gitmodules", "lib/lib.yaml"]


async def _refused(
    upstream_factory: Any, sub_url: str, backend: str, tmp_path: Path, url_for: Any, **kw: Any
) -> BaseException:
    top = upstream_factory({"app.yaml": "a\n"})
    sub = upstream_factory({"x": "x\n"})
    top.add_submodule("lib", sub_url.format(sub=sub), git("rev-parse", "HEAD", cwd=sub.work))
    src = GitSource(
        url_for(top), backend=backend, cache_dir=tmp_path, recurse_submodules=True, **kw
    )
    with pytest.raises((SourceError, ConfigurationError)) as info:
        await src.fetch()
    assert src.last is None
    return info.value


@pytest.mark.parametrize(
    "sub_url",
    [
        "file://{sub.bare}",
        "{sub.bare}",
        "ext::sh -c touch% /tmp/reconcile-submodule-pwned",
        "fd::17",
        "-oProxyCommand=touch /tmp/reconcile-submodule-pwned",
        "ssh://git@127.0.0.1:1/x.git",  # ssh credentials never leave the source's host
        "git@127.0.0.1:x.git",
        "../../../../../../../../../../../../x.git",
    ],
)
async def test_unsafe_submodule_urls_are_refused(
    upstream_factory: Any, git_daemon: int, backend: str, tmp_path: Path, sub_url: str
) -> None:
    err = await _refused(
        upstream_factory,
        sub_url,
        backend,
        tmp_path,
        lambda up: f"git://127.0.0.1:{git_daemon}/{up.name}.git",
    )
    assert isinstance(err, SourceError)
    if not sub_url.startswith("../"):
        assert isinstance(err, SourceSecurityError)
        assert "submodule 'lib'" in str(err)
    assert not pwned()


async def test_file_submodules_only_when_allowed(
    upstream_factory: Any, backend: str, tmp_path: Path
) -> None:
    top = upstream_factory({"app.yaml": "a\n"})
    sub = upstream_factory({"x": "x\n"})
    top.add_submodule("lib", sub.bare.as_uri(), git("rev-parse", "HEAD", cwd=sub.work))
    art = await GitSource(
        top.bare.as_uri(),
        backend=backend,
        cache_dir=tmp_path,
        recurse_submodules=True,
        allow_file=True,
    ).fetch()
    assert files(art)["lib/x"] == "x\n"


async def test_credentials_go_only_to_the_same_host(
    upstream_factory: Any, https: tuple[int, bytes, Any], backend: str, tmp_path: Path
) -> None:
    port, ca, control = https
    auth = HTTPSAuth(username=BASIC_USER, password=BASIC_PASSWORD, ca_bundle=ca)
    top = upstream_factory({"app.yaml": "a\n"})
    same = upstream_factory({"same.yaml": "s\n"})
    other = upstream_factory({"other.yaml": "o\n"})
    top.add_submodule("same", f"../{same.name}.git", git("rev-parse", "HEAD", cwd=same.work))
    # Another host name for the same server: credentials must not follow the submodule there.
    top.add_submodule(
        "other",
        f"https://localhost:{port}/basic/{other.name}.git",
        git("rev-parse", "HEAD", cwd=other.work),
    )
    url = f"https://127.0.0.1:{port}/basic/{top.name}.git"
    control.reset()
    with pytest.raises(SourceAuthError) as info:
        await GitSource(
            url, auth=auth, backend=backend, cache_dir=tmp_path, recurse_submodules=True
        ).fetch()
    assert f"https://localhost:{port}/basic/{other.name}.git" in str(info.value)
    assert BASIC_PASSWORD not in str(info.value)
    sent = [
        a for r, a in zip(control.requests, control.auth_headers, strict=True) if other.name in r
    ]
    assert sent
    assert not any(sent), "credentials were sent to another host"
    # Anonymous access to another host works (the CA bundle, no secret, still applies).
    top.commit({".gitmodules": (top.work / ".gitmodules").read_text().replace("/basic/", "/open/")})
    art = await GitSource(
        url, auth=auth, backend=backend, cache_dir=tmp_path / "2", recurse_submodules=True
    ).fetch()
    assert files(art)["same/same.yaml"] == "s\n"
    assert files(art)["other/other.yaml"] == "o\n"


async def test_credentials_in_a_submodule_url_are_redacted(
    upstream_factory: Any, https: tuple[int, bytes, Any], backend: str, tmp_path: Path
) -> None:
    port, ca, _ = https
    secret = "embedded-s3cret-never-logged"
    top = upstream_factory({"app.yaml": "a\n"})
    sub = upstream_factory({"x": "x\n"})
    top.add_submodule(
        "lib",
        f"https://someone:{secret}@localhost:{port}/basic/{sub.name}.git",
        git("rev-parse", "HEAD", cwd=sub.work),
    )
    with pytest.raises(SourceAuthError) as info:
        await GitSource(
            f"https://127.0.0.1:{port}/open/{top.name}.git",
            auth=HTTPSAuth(ca_bundle=ca),
            backend=backend,
            cache_dir=tmp_path,
            recurse_submodules=True,
        ).fetch()
    assert secret not in str(info.value)
    assert secret not in repr(info.value)
    assert not any(secret in name for name in names_below(tmp_path))


async def test_a_backend_without_submodule_support_is_refused(
    upstream: Upstream, git_daemon: int, backend: str, tmp_path: Path
) -> None:
    from reconcile.sources.git import get_backend

    with pytest.raises(ConfigurationError, match="cannot check out submodules"):
        GitSource(
            f"git://127.0.0.1:{git_daemon}/{upstream.name}.git",
            backend=Counting(get_backend(backend)),
            cache_dir=tmp_path,
            recurse_submodules=True,
        )


async def test_a_submodule_without_url_is_a_typed_error(
    upstream_factory: Any, git_daemon: int, backend: str, tmp_path: Path
) -> None:
    top = upstream_factory({"app.yaml": "a\n"})
    sub = upstream_factory({"x": "x\n"})
    top.add_submodule("lib", f"../{sub.name}.git", git("rev-parse", "HEAD", cwd=sub.work))
    top.commit({".gitmodules": None})
    with pytest.raises(SourceError, match="submodule 'lib' has no URL"):
        await GitSource(
            f"git://127.0.0.1:{git_daemon}/{top.name}.git",
            backend=backend,
            cache_dir=tmp_path,
            recurse_submodules=True,
        ).fetch()
