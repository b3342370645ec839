"""Commit and tag signatures, made with the real gpg and ssh-keygen, on every backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from reconcile.errors import ConfigurationError, SignatureError
from reconcile.sources.git import GitSource, SignatureVerification

from .conftest import Signer, Upstream

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
def daemon_url(git_daemon: int) -> Any:
    return lambda up: f"git://127.0.0.1:{git_daemon}/{up.name}.git"


def trust(
    signer: Signer, *, gpg: bool = True, ssh: bool = True, **kw: Any
) -> SignatureVerification:
    return SignatureVerification(
        openpgp_keys=[signer.gpg_public] if gpg else [signer.other_gpg_public],
        ssh_keys=[signer.ssh_public] if ssh else [signer.other_ssh_public],
        **kw,
    )


@pytest.mark.parametrize("kind", ["gpg", "ssh"])
async def test_signed_head_is_accepted(
    upstream: Upstream, signer: Signer, daemon_url: Any, backend: str, tmp_path: Path, kind: str
) -> None:
    sha = upstream.commit({"signed": kind}, sign=kind)
    art = await GitSource(
        daemon_url(upstream), backend=backend, cache_dir=tmp_path, verify=trust(signer)
    ).fetch()
    assert art.revision.commit == sha


@pytest.mark.parametrize("kind", ["gpg", "ssh"])
async def test_untrusted_or_unsigned_head_gives_no_artifact(
    upstream: Upstream, signer: Signer, daemon_url: Any, backend: str, tmp_path: Path, kind: str
) -> None:
    url = daemon_url(upstream)
    src = GitSource(url, backend=backend, cache_dir=tmp_path, verify=trust(signer))
    upstream.commit({"signed": kind}, sign=kind)
    good = await src.fetch()
    # Signed, but by a key that is not trusted.
    untrusted = GitSource(
        url,
        backend=backend,
        cache_dir=tmp_path / "u",
        verify=trust(signer, gpg=False, ssh=False),
    )
    with pytest.raises(SignatureError, match="trusted") as info:
        await untrusted.fetch()
    assert info.value.url == url
    assert not untrusted.store.root.exists() or not any(
        p.is_dir() for p in untrusted.store.root.iterdir()
    )
    # A new unsigned commit on top: refused, and the signed artifact stays.
    upstream.commit({"unsigned": "yes"})
    with pytest.raises(SignatureError, match="not signed"):
        await src.fetch()
    assert src.last == good
    assert [p.name for p in src.store.root.iterdir() if p.is_dir()] == [good.path.name]


async def test_tampered_signature_is_rejected(
    upstream: Upstream, signer: Signer, daemon_url: Any, backend: str, tmp_path: Path
) -> None:
    """A signature copied onto another commit does not verify."""
    from .conftest import git

    upstream.commit({"a": "1"}, sign="gpg")
    raw = git("cat-file", "commit", "HEAD", cwd=upstream.work)
    forged = raw.replace("\n\nchange", "\n\nforged change", 1) + "\n"
    proc = await anyio.run_process(
        ["git", "hash-object", "-t", "commit", "-w", "--stdin"],
        cwd=upstream.bare,
        input=forged.encode(),
    )
    sha = proc.stdout.decode().strip()
    upstream.set_ref("refs/heads/forged", sha)
    with pytest.raises(SignatureError, match=r"bad signature|invalid"):
        await GitSource(
            daemon_url(upstream),
            backend=backend,
            cache_dir=tmp_path,
            branch="forged",
            verify=trust(signer),
        ).fetch()


@pytest.mark.parametrize("kind", ["gpg", "ssh"])
async def test_tag_and_both_modes(
    upstream: Upstream, signer: Signer, daemon_url: Any, backend: str, tmp_path: Path, kind: str
) -> None:
    url = daemon_url(upstream)
    upstream.commit({"v": "1"})  # unsigned commit
    upstream.tag("v1.0.0", sign=kind)
    upstream.commit({"v": "2"}, sign=kind)
    upstream.tag("v2.0.0", sign=kind)
    upstream.tag("v3.0.0")  # annotated, unsigned
    upstream.tag("v4.0.0", annotated=False)

    async def fetch(tag: str, mode: str) -> Any:
        return await GitSource(
            url,
            backend=backend,
            cache_dir=tmp_path,
            tag=tag,
            verify=trust(signer, mode=mode),
        ).fetch()

    assert (await fetch("v1.0.0", "tag")).revision.ref == "refs/tags/v1.0.0"
    with pytest.raises(SignatureError, match="not signed"):
        await fetch("v1.0.0", "both")  # the commit itself is unsigned
    assert (await fetch("v2.0.0", "both")).revision.ref == "refs/tags/v2.0.0"
    with pytest.raises(SignatureError, match="not signed"):
        await fetch("v3.0.0", "tag")
    with pytest.raises(SignatureError, match="annotated tag"):
        await fetch("v4.0.0", "tag")
    # semver picks v3.0.0 (unsigned) over the signed ones: refused.
    with pytest.raises(SignatureError):
        await GitSource(
            url, backend=backend, cache_dir=tmp_path, semver=">=1", verify=trust(signer, mode="tag")
        ).fetch()


def test_verification_needs_keys() -> None:
    with pytest.raises(ConfigurationError):
        SignatureVerification()
    with pytest.raises(ConfigurationError):
        SignatureVerification(mode="all", ssh_keys=["ssh-ed25519 AAAA"])  # type: ignore[arg-type, list-item, unused-ignore]
