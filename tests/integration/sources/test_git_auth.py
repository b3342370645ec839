"""Auth, host keys, redaction and network faults against the real servers."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from reconcile.errors import ConfigurationError, SourceAuthError, SourceError, SourceSecurityError
from reconcile.sources.git import GitSource, HTTPSAuth, SSHAuth

from .conftest import (
    ALL_SECRETS,
    BASIC_PASSWORD,
    BASIC_USER,
    BEARER_TOKEN,
    SSH_PASSPHRASE,
    HTTPSControl,
    SSHServer,
    Upstream,
)

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

HTTPS = tuple[int, bytes, HTTPSControl]


def assert_no_secret(*texts: object) -> None:
    for text in texts:
        for secret in ALL_SECRETS:
            assert secret not in str(text), f"secret leaked into {text!r}"


def _all_argv() -> list[str]:
    """The command line of every process on the machine, as ``ps`` shows it."""
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                raw = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            out.append(raw.replace(b"\0", b" ").decode("utf-8", "replace"))
    return out


def assert_no_secret_on_disk(root: Path) -> None:
    for path in root.rglob("*"):
        assert_no_secret(path)


def https_url(https: HTTPS, upstream: Upstream, mode: str) -> str:
    return f"https://127.0.0.1:{https[0]}/{mode}/{upstream.name}.git"


@pytest.fixture
def ssh_backend(backend: str) -> str:
    if backend == "pygit2":
        pytest.skip("pygit2 refuses ssh by design (tested in test_pygit2_refuses_ssh)")
    return backend


async def test_basic_auth_with_credentials_in_the_url(
    upstream: Upstream, https: HTTPS, backend: str, tmp_path: Path
) -> None:
    url = f"https://{BASIC_USER}:{BASIC_PASSWORD}@127.0.0.1:{https[0]}/basic/{upstream.name}.git"
    src = GitSource(url, backend=backend, cache_dir=tmp_path, auth=HTTPSAuth(ca_bundle=https[1]))
    art = await src.fetch()
    assert art.revision.commit
    assert_no_secret(src.url, repr(src.__dict__), art)
    assert_no_secret_on_disk(tmp_path)


@pytest.mark.parametrize(
    ("mode", "auth"),
    [
        ("basic", HTTPSAuth(username=BASIC_USER, password="wrong-password-123")),
        ("basic", HTTPSAuth()),
        ("bearer", HTTPSAuth(bearer_token="wrong-token-123")),
        ("bearer", HTTPSAuth(username=BASIC_USER, password=BASIC_PASSWORD)),
    ],
)
async def test_wrong_or_missing_credentials(
    upstream: Upstream,
    https: HTTPS,
    backend: str,
    tmp_path: Path,
    mode: str,
    auth: HTTPSAuth,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    auth = HTTPSAuth(
        username=auth.username,
        password=auth.password,
        bearer_token=auth.bearer_token,
        ca_bundle=https[1],
    )
    url = https_url(https, upstream, mode)
    with pytest.raises(SourceAuthError) as info:
        await GitSource(url, backend=backend, cache_dir=tmp_path, auth=auth, timeout=20).fetch()
    assert info.value.url == url
    assert_no_secret(info.value, repr(info.value), info.value.__cause__, caplog.text)
    assert "wrong-password-123" not in str(info.value)
    assert "wrong-token-123" not in str(info.value)


async def test_untrusted_certificate_is_refused(
    upstream: Upstream, https: HTTPS, backend: str, tmp_path: Path
) -> None:
    url = https_url(https, upstream, "open")
    if backend == "pygit2":
        # libgit2's trust store is process-wide and other tests added the CA:
        # check the refusal in a fresh process.
        script = (
            "import anyio, sys\n"
            "from reconcile.errors import SourceError, SourceAuthError\n"
            "from reconcile.sources.git import GitSource\n"
            f"src = GitSource({url!r}, backend='pygit2', cache_dir={str(tmp_path / 'p')!r})\n"
            "try:\n    anyio.run(src.fetch)\n"
            "except SourceAuthError:\n    sys.exit(3)\n"
            "except SourceError as e:\n    print(e); sys.exit(0)\n"
            "sys.exit(4)\n"
        )
        proc = await anyio.run_process([sys.executable, "-c", script], check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert url.encode() in proc.stdout
    else:
        with pytest.raises(SourceError) as info:
            await GitSource(url, backend=backend, cache_dir=tmp_path, timeout=20).fetch()
        assert not isinstance(info.value, SourceAuthError)
        assert info.value.url == url
    # With the CA bundle (PEM bytes, text, or a file) it works.
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(https[1])
    for bundle in (https[1], https[1].decode(), ca_file):
        art = await GitSource(
            url, backend=backend, cache_dir=tmp_path, auth=HTTPSAuth(ca_bundle=bundle)
        ).fetch()
        assert art.revision.commit


async def test_credentials_never_reach_process_arguments(
    upstream: Upstream, https: HTTPS, sshd: SSHServer, tmp_path: Path
) -> None:
    """While the CLI backend runs, every process's argv on the machine is free of secrets."""
    https[2].delay = 0.5
    seen: list[str] = []
    sources = [
        GitSource(
            https_url(https, upstream, "basic"),
            backend="cli",
            cache_dir=tmp_path / "b",
            auth=HTTPSAuth(username=BASIC_USER, password=BASIC_PASSWORD, ca_bundle=https[1]),
        ),
        GitSource(
            https_url(https, upstream, "bearer"),
            backend="cli",
            cache_dir=tmp_path / "t",
            auth=HTTPSAuth(bearer_token=BEARER_TOKEN, ca_bundle=https[1]),
        ),
        GitSource(
            sshd.url(upstream),
            backend="cli",
            cache_dir=tmp_path / "s",
            auth=sshd.auth(passphrase=True),
        ),
    ]
    done = anyio.Event()

    async def scan() -> None:
        while not done.is_set():
            seen.extend(a for a in _all_argv() if "git" in a or "ssh" in a)
            await anyio.sleep(0.01)

    async with anyio.create_task_group() as tg:
        tg.start_soon(scan)
        for src in sources:
            await src.fetch()
        done.set()
    assert any("remote-https" in a or "ls-remote" in a for a in seen), "the scan saw no git"
    assert any("ssh " in a or a.startswith("/usr/bin/ssh") for a in seen), "the scan saw no ssh"
    assert_no_secret(*seen)
    assert_no_secret_on_disk(tmp_path)


# --- SSH ---------------------------------------------------------------------------------


async def test_ssh_key_with_passphrase(
    upstream: Upstream, sshd: SSHServer, ssh_backend: str, tmp_path: Path
) -> None:
    art = await GitSource(
        sshd.url(upstream), backend=ssh_backend, cache_dir=tmp_path, auth=sshd.auth(passphrase=True)
    ).fetch()
    assert art.revision.commit


async def test_ssh_wrong_passphrase(
    upstream: Upstream, sshd: SSHServer, ssh_backend: str, tmp_path: Path
) -> None:
    auth = SSHAuth(
        private_key=sshd.key_with_passphrase, passphrase="not-it-123", known_hosts=sshd.known_hosts
    )
    with pytest.raises(SourceAuthError) as info:
        await GitSource(
            sshd.url(upstream), backend=ssh_backend, cache_dir=tmp_path, auth=auth
        ).fetch()
    assert "not-it-123" not in str(info.value)
    no_pass = SSHAuth(private_key=sshd.key_with_passphrase, known_hosts=sshd.known_hosts)
    with pytest.raises(SourceAuthError):
        await GitSource(
            sshd.url(upstream), backend=ssh_backend, cache_dir=tmp_path, auth=no_pass
        ).fetch()


async def test_ssh_key_not_authorized(
    upstream: Upstream, sshd: SSHServer, ssh_backend: str, tmp_path: Path
) -> None:
    import subprocess

    key = tmp_path / "stranger"
    await anyio.run_process(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)])
    assert subprocess  # the key is real, just not in authorized_keys
    auth = SSHAuth(private_key=key, known_hosts=sshd.known_hosts)
    with pytest.raises(SourceAuthError):
        await GitSource(
            sshd.url(upstream), backend=ssh_backend, cache_dir=tmp_path, auth=auth
        ).fetch()


@pytest.mark.parametrize("known", ["unknown", "changed"])
async def test_unknown_or_changed_host_key_is_refused(
    upstream: Upstream, sshd: SSHServer, ssh_backend: str, tmp_path: Path, known: str
) -> None:
    known_hosts = (
        "# no key for this host\n" if known == "unknown" else sshd.other_host_key_known_hosts
    )
    url = sshd.url(upstream)
    with pytest.raises(SourceSecurityError, match="host key") as info:
        await GitSource(
            url, backend=ssh_backend, cache_dir=tmp_path, auth=sshd.auth(known_hosts=known_hosts)
        ).fetch()
    assert info.value.url == url


async def test_pygit2_refuses_ssh(upstream: Upstream, sshd: SSHServer, tmp_path: Path) -> None:
    pytest.importorskip("pygit2")
    with pytest.raises(ConfigurationError, match="known_hosts"):
        await GitSource(
            sshd.url(upstream), backend="pygit2", cache_dir=tmp_path, auth=sshd.auth()
        ).fetch()


# --- faults ------------------------------------------------------------------------------


async def test_connection_cut_mid_fetch_then_heals(
    upstream: Upstream, https: HTTPS, backend: str, tmp_path: Path
) -> None:
    url = https_url(https, upstream, "open")
    src = GitSource(url, backend=backend, cache_dir=tmp_path, auth=HTTPSAuth(ca_bundle=https[1]))
    first = await src.fetch()
    head = upstream.commit({"big.bin": os.urandom(200_000)})
    https[2].cut_after = 5_000
    with pytest.raises(SourceError) as info:
        await src.fetch()
    assert info.value.url == url
    assert src.last == first
    assert (first.path / "deploy/app.yaml").is_file()
    https[2].cut_after = None
    art = await src.fetch()
    assert art.revision.commit == head
    assert (art.path / "big.bin").stat().st_size == 200_000


async def test_timeout_on_a_stalled_server(
    upstream: Upstream, https: HTTPS, backend: str, tmp_path: Path
) -> None:
    url = https_url(https, upstream, "open")
    https[2].delay = 3.0
    with anyio.fail_after(15):
        with pytest.raises(SourceError) as info:
            await GitSource(
                url,
                backend=backend,
                cache_dir=tmp_path,
                auth=HTTPSAuth(ca_bundle=https[1]),
                timeout=1,
            ).fetch()
    assert info.value.url == url
    assert "timed out" in info.value.message.lower(), info.value.message


async def test_errors_name_the_redacted_url(
    upstream: Upstream, https: HTTPS, backend: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"https://{BASIC_USER}:{BASIC_PASSWORD}@127.0.0.1:{https[0]}/basic/{upstream.name}.git"
    src = GitSource(
        url, backend=backend, cache_dir=tmp_path, auth=HTTPSAuth(ca_bundle=https[1]), branch="nope"
    )
    with pytest.raises(SourceError) as info:
        await src.fetch()
    # Credentials leave the URL: it is shown (and hashed for the cache) without them.
    redacted = f"https://127.0.0.1:{https[0]}/basic/{upstream.name}.git"
    assert info.value.url == redacted
    assert str(info.value).startswith(redacted)
    assert_no_secret(info.value, caplog.text)
    await GitSource(
        url, backend=backend, cache_dir=tmp_path, auth=HTTPSAuth(ca_bundle=https[1])
    ).fetch()
    assert_no_secret(caplog.text)
    assert redacted in caplog.text


def _unused(*_: Any) -> None:
    """Keep SSH_PASSPHRASE imported for assert_no_secret's list."""
    assert SSH_PASSPHRASE in ALL_SECRETS
