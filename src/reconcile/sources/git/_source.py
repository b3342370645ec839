"""GitSource: a Git repository as a source of artifacts."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import attrs

from reconcile.errors import (
    ConfigurationError,
    RefNotFoundError,
    SignatureError,
    SourceAuthError,
    SourceError,
    SourceSecurityError,
)
from reconcile.sources._artifact import Artifact, Revision
from reconcile.sources._materialize import (
    Listing,
    TreeEntry,
    TreeWriter,
    check_subpath,
    check_tree_path,
    decode_listing,
    encode_listing,
    ignore_files,
    select_entries,
)
from reconcile.sources._redact import scrub
from reconcile.sources._tree import ArtifactStore, FileFilter, Lease, Limits, remove_tree
from reconcile.sources.git._auth import HTTPSAuth, SSHAuth
from reconcile.sources.git._backend import CacheError, Connection, GitBackend, RemoteRefs, Want
from reconcile.sources.git._refs import GitRef, ResolvedRef, resolve_ref
from reconcile.sources.git._submodules import parse_gitmodules, resolve_url
from reconcile.sources.git._url import parse_remote
from reconcile.sources.git._verify import (
    SignatureVerification,
    split_commit_signature,
    split_tag_signature,
    verify_signature,
)

__all__ = ["GitSource", "backend_names", "get_backend"]

log = logging.getLogger("reconcile.sources.git")


def backend_names() -> list[str]:
    """The backends usable on this machine (``cli`` needs git, ``pygit2`` its extra).

    Example:

        >>> "dulwich" in backend_names()
        True
    """
    names = []
    if shutil.which("git"):
        names.append("cli")
    try:
        import dulwich  # noqa: F401

        names.append("dulwich")
    except ImportError:  # pragma: no cover
        pass
    try:
        import pygit2  # noqa: F401

        names.append("pygit2")
    except ImportError:
        pass
    return names


def get_backend(name: str) -> GitBackend:
    """The backend called ``name``; ``auto`` is ``cli`` where git exists, else dulwich.

    Example:

        >>> isinstance(get_backend("dulwich"), GitBackend)
        True
    """
    if name == "auto":
        name = "cli" if shutil.which("git") else "dulwich"
    if name == "cli":
        from reconcile.sources.git._cli import CLIBackend

        return CLIBackend()
    if name == "dulwich":
        from reconcile.sources.git._dulwich import DulwichBackend

        return DulwichBackend()
    if name == "pygit2":
        try:
            from reconcile.sources.git._pygit2 import Pygit2Backend
        except ImportError as exc:
            raise ConfigurationError(
                "the pygit2 backend needs the extra: pip install 'reconcile[pygit2]'"
            ) from exc
        return Pygit2Backend()
    raise ConfigurationError(f"unknown git backend {name!r} (cli, dulwich, pygit2)")


#: How deep submodules may nest (git itself has no limit; a cycle would never end).
_MAX_SUBMODULE_DEPTH = 8

_ASKPASS = '#!/bin/sh\nprintf "%s\\n" "$RECONCILE_SSH_PASSPHRASE"\n'


def _check_passphrase(key: bytes, passphrase: str | None, url: str) -> None:
    try:
        from cryptography.hazmat.primitives import serialization
    except ImportError:  # pragma: no cover - optional early check
        return
    password = passphrase.encode() if passphrase is not None else None
    try:
        if b"OPENSSH PRIVATE KEY" in key:
            serialization.load_ssh_private_key(key, password)
        else:
            serialization.load_pem_private_key(key, password)
    except TypeError as exc:
        if passphrase is None:
            raise SourceAuthError(
                "the SSH key is encrypted and no passphrase was given", url=url
            ) from None
        raise SourceAuthError(
            "the SSH key is not encrypted but a passphrase was given", url=url
        ) from exc
    except ValueError:
        raise SourceAuthError(
            "the SSH key could not be loaded (wrong passphrase or not a private key)", url=url
        ) from None
    except Exception:  # noqa: S110 - unknown key types: let ssh decide
        pass


@asynccontextmanager
async def _file_lock(path: Path, *, wait: float | None = None) -> AsyncIterator[None]:
    """An exclusive advisory lock: sources in other processes share the cache safely."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = None if wait is None else anyio.current_time() + wait
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if deadline is not None and anyio.current_time() > deadline:
                    raise SourceError(
                        f"the cache is locked by another fetch for more than {wait:g}s"
                    ) from None
                await anyio.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing releases the lock


class GitSource:
    """A Git repository as a :class:`~reconcile.sources.Source`.

    Args:
        url: ``https://``, ``http://``, ``git://``, ``ssh://`` or scp-like
            ``user@host:path``; ``file://`` and local paths only with
            ``allow_file``. Credentials in the URL are moved out of it.
        ref: what to fetch; or give ``branch``, ``tag``, ``semver``, ``name``,
            ``commit`` directly (see :class:`GitRef` for precedence).
        auth: :class:`HTTPSAuth` or :class:`SSHAuth`. SSH always needs one
            (its ``known_hosts`` is mandatory).
        backend: ``auto`` (git if installed, else dulwich), ``cli``,
            ``dulwich``, ``pygit2``, or a :class:`GitBackend` instance.
        cache_dir: where the cache repository and artifacts live; paths are
            derived from a hash of the credential-free URL.
        subpath: a directory inside the repository to use as the artifact root.
        ignore: extra gitignore lines applied at the root (see :class:`FileFilter`).
        include: patterns of files to keep (all when empty).
        exclude: patterns of files to drop.
        verify: signature verification; ``None`` for none.
        depth: history depth to fetch (1, shallow, by default; ``None`` for all).
        timeout: seconds for each network operation.
        allow_file: accept ``file://`` URLs and local paths.
        allow_insecure_http: accept credentials over plain ``http://``.
        limits: size and file-count limits of an artifact.
        keep: how many artifact directories to keep (the newest ones).
        recurse_submodules: check out submodules, recursively, into the
            artifact (Flux's ``recurseSubmodules``). Their URLs obey the same
            rules as ``url`` (``allow_file``; no command-running transports);
            ``auth`` is used only for submodules on the same scheme, host and
            port as ``url``, other hosts are reached anonymously (a CA bundle
            still applies). Off by default: submodule entries are left out.

    Example:

        >>> src = GitSource("https://git.example.com/org/repo.git", tag="v1.0.0",
        ...                 cache_dir="/tmp/cache", backend="dulwich")
        >>> src.ref.describe(), src.url
        ('tag v1.0.0', 'https://git.example.com/org/repo.git')
    """

    def __init__(
        self,
        url: str,
        *,
        cache_dir: str | os.PathLike[str],
        ref: GitRef | None = None,
        branch: str | None = None,
        tag: str | None = None,
        semver: str | None = None,
        name: str | None = None,
        commit: str | None = None,
        auth: HTTPSAuth | SSHAuth | None = None,
        backend: str | GitBackend = "auto",
        subpath: str = "",
        ignore: str | Sequence[str] = (),
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        verify: SignatureVerification | None = None,
        depth: int | None = 1,
        timeout: float = 60.0,
        allow_file: bool = False,
        allow_insecure_http: bool = False,
        limits: Limits | None = None,
        keep: int = 2,
        recurse_submodules: bool = False,
    ) -> None:
        self._remote = parse_remote(url, allow_file=allow_file)
        self._allow_file = allow_file
        self._allow_insecure_http = allow_insecure_http
        self._cache_dir = Path(cache_dir)
        self.recurse_submodules = recurse_submodules
        given = [branch, tag, semver, name, commit]
        if ref is not None and any(v is not None for v in given):
            raise ConfigurationError("give either ref= or branch/tag/semver/name/commit, not both")
        self.ref: GitRef = ref or GitRef(
            branch=branch, tag=tag, semver=semver, name=name, commit=commit
        )
        self.auth = auth
        self.backend: GitBackend = get_backend(backend) if isinstance(backend, str) else backend
        if subpath.startswith(("/", "-")) or ".." in Path(subpath).parts:
            raise ConfigurationError(f"subpath must be relative and stay inside: {subpath!r}")
        self.subpath: str = subpath.strip("/")
        self._filter_args = (ignore, tuple(include), tuple(exclude))
        self.verify = verify
        if depth is not None and depth < 1:
            raise ConfigurationError("depth must be at least 1, or None for full history")
        self.depth = depth
        if timeout <= 0:
            raise ConfigurationError("timeout must be positive")
        self.timeout = timeout
        self.limits: Limits = limits or Limits()
        scheme = self._remote.scheme
        if scheme == "ssh" and not isinstance(auth, SSHAuth):
            raise ConfigurationError("ssh remotes need SSHAuth (a key and known_hosts)")
        if isinstance(auth, SSHAuth) and scheme != "ssh":
            raise ConfigurationError(f"SSHAuth given for a {scheme}:// remote")
        if isinstance(auth, HTTPSAuth) and scheme not in {"https", "http"}:
            raise ConfigurationError(f"HTTPSAuth given for a {scheme}:// remote")
        has_creds = self._remote.password is not None or (
            isinstance(auth, HTTPSAuth) and (auth.password or auth.bearer_token)
        )
        if scheme == "http" and has_creds and not allow_insecure_http:
            raise SourceSecurityError(
                "credentials over plain http:// are refused (allow_insecure_http)",
                url=self._remote.redacted,
            )
        if scheme == "ssh" and self.backend.name == "pygit2":
            raise ConfigurationError(
                "the pygit2 backend cannot verify SSH host keys against known_hosts; "
                "use the cli or dulwich backend for ssh:// remotes"
            )
        if scheme == "git" and auth is not None:
            raise ConfigurationError("git:// remotes do not authenticate")
        if recurse_submodules and not hasattr(self.backend, "list_gitlinks"):
            raise ConfigurationError(
                f"the {self.backend.name} backend cannot check out submodules "
                "(recurse_submodules needs a backend with list_gitlinks)"
            )
        url_key = f"{self._remote.url}\0{self.backend.name}"
        digest = hashlib.sha256(url_key.encode()).hexdigest()[:32]
        base = Path(cache_dir) / "git" / digest
        self.repo_path: Path = base / "repo.git"
        # Sources of one URL share the fetched objects, but each selection
        # (sub-path, filters, submodules, verification) keeps, recycles and
        # collects its own artifacts: one app's fetch never touches another's.
        self.store: ArtifactStore = ArtifactStore(
            base / "artifacts" / self._selection_digest(), keep=keep
        )
        self._lock = anyio.Lock()
        self._last: Artifact | None = None
        self._lease: Lease | None = None
        # What each artifact directory holds (also stored beside it, for restarts).
        self._listings: dict[str, Listing] = {}
        # The last full tree listed (commit, path -> entry): the next one is derived
        # from it by a diff when the backend can (a one-commit change lists one entry).
        self._tree: tuple[str, dict[str, TreeEntry]] | None = None

    @property
    def url(self) -> str:
        """The URL with credentials redacted."""
        return self._remote.redacted

    @property
    def last(self) -> Artifact | None:
        """The artifact the last successful :meth:`fetch` returned."""
        return self._last

    def _secrets(self) -> list[str]:
        out = [self._remote.password] if self._remote.password else []
        if self.auth is not None:
            out += self.auth.secrets()
        return [s for s in out if s]

    def _error(self, exc: BaseException, what: str) -> SourceError:
        text = scrub(f"{type(exc).__name__}: {exc}", self._secrets())
        return SourceError(f"{what}: {text}", url=self.url)

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        remote = self._remote
        auth = self.auth
        tmp = Path(tempfile.mkdtemp(prefix="rcg-"))
        try:
            os.chmod(tmp, 0o700)
            username, password, bearer, ca_file = remote.username, remote.password, None, None
            ssh_command: tuple[str, ...] | None = None
            ssh_env: dict[str, str] = {}
            if isinstance(auth, HTTPSAuth):
                if auth.username is not None:
                    username, password = auth.username, auth.password
                bearer = auth.bearer_token
                pem = auth.ca_pem()
                if pem is not None:
                    ca_file = tmp / "ca.pem"
                    ca_file.write_bytes(pem)
            if isinstance(auth, SSHAuth):
                key = auth.key_bytes()
                _check_passphrase(key, auth.passphrase, self.url)
                key_file = tmp / "id"
                fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(key if key.endswith(b"\n") else key + b"\n")
                known = tmp / "known_hosts"
                known.write_text(auth.known_hosts_text())
                user = auth.user or remote.username or "git"
                if user.startswith("-"):
                    raise SourceSecurityError(
                        "an SSH user beginning with '-' is refused", url=self.url
                    )
                if user != remote.username:
                    netloc = f"{user}@{remote.host}" + (f":{remote.port}" if remote.port else "")
                    remote = attrs.evolve(remote, url=f"ssh://{netloc}{remote.path}", username=user)
                ssh = shutil.which("ssh") or "ssh"
                cmd = [
                    ssh, "-F", os.devnull, "-i", str(key_file),
                    "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
                    "-o", f"UserKnownHostsFile={known}", "-o", f"GlobalKnownHostsFile={os.devnull}",
                    "-o", "StrictHostKeyChecking=yes", "-o", "UpdateHostKeys=no",
                    "-o", "CheckHostIP=no", "-o", "PasswordAuthentication=no",
                    "-o", "KbdInteractiveAuthentication=no",
                    "-o", "PreferredAuthentications=publickey",
                    "-o", f"ConnectTimeout={max(1, int(self.timeout))}",
                    "-o", "ServerAliveInterval=10", "-o", "ServerAliveCountMax=3",
                    "-o", "ControlMaster=no", "-o", "ControlPath=none",
                ]  # fmt: skip
                if auth.passphrase is not None:
                    askpass = tmp / "askpass"
                    askpass.write_text(_ASKPASS)
                    os.chmod(askpass, 0o700)
                    ssh_env = {
                        "SSH_ASKPASS": str(askpass),
                        "SSH_ASKPASS_REQUIRE": "force",
                        "DISPLAY": ":0",
                        "RECONCILE_SSH_PASSPHRASE": auth.passphrase,
                    }
                    cmd += ["-o", "NumberOfPasswordPrompts=1"]
                else:
                    cmd += ["-o", "BatchMode=yes"]
                ssh_command = tuple(cmd)
            yield Connection(
                remote=remote,
                timeout=self.timeout,
                username=username,
                password=password,
                bearer_token=bearer,
                ca_file=ca_file,
                ssh_command=ssh_command,
                ssh_env=ssh_env,
                secrets=tuple(self._secrets()),
            )
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    async def _network(self, what: str, coro: object) -> object:
        # Backends apply ``timeout`` to their own sockets and transfers and end
        # cleanly; this outer deadline, a little later, is the backstop that
        # cancels (and kills) whatever did not.
        try:
            with anyio.fail_after(self.timeout + max(1.0, self.timeout / 4)):
                return await coro  # type: ignore[misc]
        except TimeoutError:
            raise SourceError(f"{what} timed out after {self.timeout:g}s", url=self.url) from None

    async def ls_remote(self) -> RemoteRefs:
        """The refs the remote advertises (one round trip; no objects)."""
        async with self._connection() as conn:
            return await self._ls_remote(conn)

    async def _ls_remote(self, conn: Connection) -> RemoteRefs:
        result = await self._network("ls-remote", self.backend.ls_remote(conn))
        assert isinstance(result, RemoteRefs)
        return result

    def _file_filter(self) -> FileFilter:
        ignore, include, exclude = self._filter_args
        return FileFilter(ignore=ignore, include=include, exclude=exclude)

    def _selection_digest(self) -> str:
        h = hashlib.sha256(self.subpath.encode())
        h.update(b"\0" + self._file_filter().fingerprint().encode())
        h.update(b"\0submodules" if self.recurse_submodules else b"\0")
        h.update(b"\0" + repr(self.verify).encode())
        return h.hexdigest()[:16]

    def _key(self, resolved: ResolvedRef, file_filter: FileFilter) -> str:
        # Everything that decides an artifact's content or its acceptance is in
        # its name: an artifact verified under one policy (and for one tag
        # object) is never reused under another.
        h = hashlib.sha256(self.subpath.encode())
        if self.recurse_submodules:
            h.update(b"\0submodules")
        if self.verify is not None:
            h.update(repr(self.verify).encode())
            if self.verify.mode in {"tag", "both"}:
                h.update((resolved.tag_object or "").encode())
        return f"{resolved.commit}-{h.hexdigest()[:8]}{file_filter.fingerprint()}"

    def _existing(self, key: str, resolved: ResolvedRef) -> Artifact | None:
        meta = self.store.meta(key)
        if meta is None:
            return None
        last = self._last
        if (
            last is not None
            and last.path == self.store.path(key)
            and last.revision.ref == resolved.ref
        ):
            return last
        return Artifact(
            revision=Revision(commit=resolved.commit, ref=resolved.ref),
            path=self.store.path(key),
            checksum=str(meta["checksum"]),
            files=int(meta["files"]),  # type: ignore[call-overload]
            size=int(meta["size"]),  # type: ignore[call-overload]
        )

    async def fetch(self) -> Artifact:
        """Fetch the ref's current commit and return its artifact.

        When the remote's ref still points at the commit of an artifact already
        built (one ``ls-remote`` round trip tells), that artifact is returned
        without fetching. Raises a :class:`~reconcile.errors.SourceError`
        subclass on failure; artifacts returned earlier stay intact.
        """
        async with self._lock, _file_lock(self.repo_path.parent / ".lock"):
            try:
                return await self._fetch()
            except SourceError:
                raise
            except (OSError, ValueError, RuntimeError) as exc:
                raise self._error(exc, "fetch failed") from None

    async def _fetch(self) -> Artifact:
        file_filter = self._file_filter()
        async with self._connection() as conn:
            ref = self.ref
            fetch_ref: Any = getattr(self.backend, "fetch_ref", None)
            if ref.commit is not None and ref.branch is None:
                resolved = ResolvedRef(None, ref.commit)
            elif (
                fetch_ref is not None
                and ref.branch is not None
                and ref == GitRef(branch=ref.branch)
                and self.store.newest() is None
            ):
                # Nothing to compare the branch with: fetch it by name at once (one round
                # trip fewer than ls-remote, then fetch).
                name = f"refs/heads/{ref.branch}"
                try:
                    sha = await self._network(
                        "fetch", fetch_ref(conn, self.repo_path, name, depth=self.depth)
                    )
                except CacheError:
                    await anyio.to_thread.run_sync(remove_tree, self.repo_path)
                    sha = await self._network(
                        "fetch", fetch_ref(conn, self.repo_path, name, depth=self.depth)
                    )
                resolved = ResolvedRef(name, str(sha))
            else:
                refs = await self._ls_remote(conn)
                resolved = resolve_ref(ref, refs.refs, refs.symrefs, url=self.url)
            if (
                self.verify is not None
                and self.verify.mode in {"tag", "both"}
                and resolved.tag_object is None
            ):
                raise SignatureError(
                    f"{ref.describe()} is not an annotated tag; cannot verify a tag signature",
                    url=self.url,
                )
            key = self._key(resolved, file_filter)
            existing = self._existing(key, resolved)
            if existing is not None:
                log.debug("%s: %s unchanged, fetch skipped", self.url, existing.revision)
                self.store.touch(key)
                self._lease_current(key)
                self._last = existing
                return existing
            for attempt in (0, 1):
                try:
                    artifact = await self._build(conn, resolved, file_filter, key)
                    break
                except CacheError as exc:
                    log.warning("%s: cache unusable (%s); fetching it anew", self.url, exc.message)
                    await anyio.to_thread.run_sync(remove_tree, self.repo_path)
                    if attempt == 1:
                        raise SourceError(
                            f"the cache could not be rebuilt: {exc.message}", url=self.url
                        ) from None
            log.info("%s: fetched %s (%s)", self.url, artifact.revision, artifact.checksum)
            self._last = artifact
            return artifact

    async def _ensure_objects(self, conn: Connection, resolved: ResolvedRef) -> None:
        backend, repo = self.backend, self.repo_path
        want_tag = resolved.tag_object is not None and self.verify is not None
        if (
            await backend.has_commit(repo, resolved.commit)
            and not want_tag
            and resolved.ref is None
        ):
            return
        if resolved.ref is None:
            # A bare commit: ask for it directly, else fetch every branch in full.
            try:
                await self._network(
                    "fetch", backend.fetch(conn, repo, [Want(resolved.commit)], depth=self.depth)
                )
            except (CacheError, SourceAuthError, SourceSecurityError):
                raise
            except SourceError as exc:
                # Servers may refuse unadvertised objects: fetch every branch instead.
                log.debug("%s: direct fetch of %s refused (%s)", self.url, resolved.commit, exc)
                refs = await self._ls_remote(conn)
                heads = [
                    Want(sha, name)
                    for name, sha in refs.refs.items()
                    if name.startswith("refs/heads/")
                ]
                await self._network("fetch", backend.fetch(conn, repo, heads, depth=None))
            if not await backend.has_commit(repo, resolved.commit):
                raise RefNotFoundError(f"commit {resolved.commit} not found", url=self.url)
            return
        if (
            self.ref.commit is None
            and not want_tag
            and await backend.has_commit(repo, resolved.commit)
        ):
            return  # e.g. a branch moved back to a commit already in the cache
        local = resolved.ref if resolved.ref.startswith("refs/") else "refs/reconcile/HEAD"
        sha = resolved.tag_object or resolved.commit
        if self.ref.commit is not None:
            # commit on a branch: fetch the branch tip with history, then check ancestry.
            refs = await self._ls_remote(conn)
            tip = refs.refs[resolved.ref]
            await self._network("fetch", backend.fetch(conn, repo, [Want(tip, local)], depth=None))
            if not await backend.has_commit(repo, resolved.commit) or not await backend.is_ancestor(
                repo, resolved.commit, tip
            ):
                raise RefNotFoundError(
                    f"commit {resolved.commit} is not on branch {self.ref.branch!r}", url=self.url
                )
            return
        want = Want(sha, local) if resolved.ref.startswith("refs/") else Want(sha, None)
        if resolved.ref == "HEAD":
            want = Want(sha, None)
        await self._network("fetch", backend.fetch(conn, repo, [want], depth=self.depth))
        if not await backend.has_commit(repo, resolved.commit):
            raise CacheError(f"commit {resolved.commit[:12]} missing after fetch", url=self.url)

    async def _verify(self, resolved: ResolvedRef) -> None:
        policy = self.verify
        if policy is None:
            return
        if policy.mode in {"tag", "both"}:
            assert resolved.tag_object is not None
            kind, raw = await self.backend.read_object(self.repo_path, resolved.tag_object)
            if kind != "tag":
                raise SignatureError(f"{resolved.ref} is not an annotated tag", url=self.url)
            payload, sig = split_tag_signature(raw)
            try:
                await verify_signature(payload, sig, policy, what=f"tag {resolved.ref}")
            except SignatureError as exc:
                raise SignatureError(exc.message, url=self.url) from None
        if policy.mode in {"head", "both"}:
            kind, raw = await self.backend.read_object(self.repo_path, resolved.commit)
            payload, sig = split_commit_signature(raw)
            try:
                await verify_signature(payload, sig, policy, what=f"commit {resolved.commit[:12]}")
            except SignatureError as exc:
                raise SignatureError(exc.message, url=self.url) from None

    def _lease_current(self, key: str) -> None:
        """Lease artifact ``key`` as this source's current one, releasing the last.

        While leased, no store on this cache directory (another source with
        the same selection, another process) collects or recycles it.
        """
        lease = self.store.hold(key)
        if self._lease is not None:
            self._lease.release()
        self._lease = lease

    def _listing(self, key: str) -> Listing | None:
        got = self._listings.get(key)
        if got is None:
            data = self.store.listing(key)
            if data is None:
                return None
            try:
                got = decode_listing(data)
            except ValueError:
                return None
            self._listings[key] = got
        return got

    def _recycle(self, key: str, root: Path, writer: TreeWriter) -> list[int] | None:
        """Reuse the directory of an artifact that gc would remove next, if any.

        Its path disappears at once; only the entries that differ are then
        replaced, so a one-commit change costs a few file operations instead
        of one per file and directory. Returns the entries left to write, or
        ``None`` (nothing to recycle) for a build from scratch.
        """
        for name in reversed(self.store.doomed(protect=[key])):
            old = self._listing(name)
            if old is None:
                continue
            if not self.store.take(name, root):
                continue  # another source or process still serves it
            self._listings.pop(name, None)
            try:
                return writer.recycle(old)
            except OSError as exc:
                log.debug("%s: artifact %s not reusable (%s)", self.url, name, exc)
                remove_tree(root)
                return None
        return None

    async def _write(
        self,
        writer: TreeWriter,
        selected: Sequence[TreeEntry],
        root: Path,
        todo: list[int],
        origin: dict[str, Path],
    ) -> None:
        """Write entries ``todo``: link what the newest artifact has, write the rest.

        ``origin`` maps the paths (relative to the repository root) of
        submodule files to the cache repository holding their blobs.
        """
        if origin:
            prefix = f"{self.subpath}/" if self.subpath else ""
            groups: dict[Path, list[int]] = {}
            for i in todo:
                groups.setdefault(origin.get(prefix + selected[i].path, self.repo_path), []).append(
                    i
                )
            for repo, part in groups.items():
                await self._write_from(repo, writer, selected, root, part)
            return
        await self._write_from(self.repo_path, writer, selected, root, todo)

    async def _write_from(
        self,
        repo: Path,
        writer: TreeWriter,
        selected: Sequence[TreeEntry],
        root: Path,
        todo: list[int],
    ) -> None:
        backend = self.backend
        reuse: list[int] = []
        rest: list[int] = []
        prev_key = self.store.newest()
        prev = self._listing(prev_key) if prev_key is not None else None
        prev_root = self.store.path(prev_key) if prev_key is not None else None
        for i in todo:
            e = selected[i]
            if prev is not None and e.kind != "L" and prev.get(e.path) == (e.kind, e.oid):
                reuse.append(i)
            else:
                rest.append(i)
        if reuse:
            assert prev_root is not None

            def link_all() -> None:
                base = str(prev_root)
                for i in reuse:
                    writer.link(i, f"{base}/{selected[i].path}")

            await anyio.to_thread.run_sync(link_all)
        # Optional capability: the CLI backend writes files with git itself.
        checkout: Any = getattr(backend, "checkout_entries", None)
        native: list[int] = []
        if checkout is not None:
            native = [
                i
                for i in rest
                if selected[i].kind != "L"
                and selected[i].size >= 0
                and selected[i].path.rpartition("/")[2] != ".gitattributes"
            ]
        if native:
            if not writer.sealed_dirs:
                # git creates directories under umask 0222: unwritable unless made here.
                await anyio.to_thread.run_sync(writer.prepare_dirs, native)
            await checkout(repo, [selected[i] for i in native], root)
            writer.written_by_others(native, sealed=True)
            skip = set(native)
            rest = [i for i in rest if i not in skip]
        if rest:
            await backend.read_blobs(
                repo, [selected[i].oid for i in rest], lambda j, data: writer.sink(rest[j], data)
            )

    def _submodule_source(self, url: str, path: str) -> GitSource:
        """A source for the submodule at ``path``, under this source's rules."""
        try:
            remote = parse_remote(url, allow_file=self._allow_file)
        except SourceSecurityError as exc:
            raise SourceSecurityError(f"submodule {path!r}: {exc.message}", url=exc.url) from None
        top = self._remote
        same = (remote.scheme, remote.host, remote.port) == (top.scheme, top.host, top.port)
        auth: HTTPSAuth | SSHAuth | None = None
        if same:
            auth = self.auth
            if auth is None and top.password is not None and remote.password is None:
                auth = HTTPSAuth(username=top.username, password=top.password)
        elif (
            remote.scheme == "https"
            and isinstance(self.auth, HTTPSAuth)
            and self.auth.ca_bundle is not None
        ):
            auth = HTTPSAuth(ca_bundle=self.auth.ca_bundle)  # a CA is no secret
        if remote.scheme == "ssh" and not isinstance(auth, SSHAuth):
            raise SourceSecurityError(
                f"submodule {path!r} is on another SSH host than the source; "
                "credentials are used only for the source's own host",
                url=remote.redacted,
            )
        if isinstance(auth, SSHAuth) and remote.scheme != "ssh":
            auth = None
        if isinstance(auth, HTTPSAuth) and remote.scheme not in {"https", "http"}:
            auth = None
        return GitSource(
            url,
            cache_dir=self._cache_dir,
            auth=auth,
            backend=self.backend,
            depth=self.depth,
            timeout=self.timeout,
            allow_file=self._allow_file,
            allow_insecure_http=self._allow_insecure_http,
            limits=self.limits,
        )

    async def _fetch_commit(self, sha: str) -> None:
        """Make commit ``sha`` present in the cache repository (fetching it if needed)."""
        lock = self.repo_path.parent / ".lock"
        async with (
            self._lock,
            _file_lock(lock, wait=self.timeout),
            self._connection() as conn,
        ):
            for attempt in (0, 1):
                try:
                    await self._ensure_objects(conn, ResolvedRef(None, sha))
                    return
                except CacheError as exc:
                    await anyio.to_thread.run_sync(remove_tree, self.repo_path)
                    if attempt == 1:
                        raise SourceError(
                            f"the cache could not be rebuilt: {exc.message}", url=self.url
                        ) from None

    async def _submodule_entries(
        self,
        repo: Path,
        commit: str,
        entries: Sequence[TreeEntry],
        prefix: str,
        base_url: str,
        chain: tuple[Path, ...],
        origin: dict[str, Path],
    ) -> list[TreeEntry]:
        """The files of the submodules of ``commit`` (recursively), paths from the top.

        ``entries`` are ``commit``'s own files (relative to its root, for
        ``.gitmodules``); the submodules' files are recorded in ``origin``
        with the cache repository that holds them.
        """
        list_gitlinks: Any = getattr(self.backend, "list_gitlinks")  # noqa: B009 - checked in __init__
        links: dict[str, str] = await list_gitlinks(repo, commit)
        if not links:
            return []
        if len(chain) > _MAX_SUBMODULE_DEPTH:
            raise SourceError(
                f"submodules nest deeper than {_MAX_SUBMODULE_DEPTH} levels at {prefix!r}",
                url=self.url,
            )
        modules: dict[str, str] = {}
        gitmodules = next((e for e in entries if e.path == ".gitmodules" and e.kind != "L"), None)
        if gitmodules is not None:
            got: dict[int, bytes] = {}
            await self.backend.read_blobs(repo, [gitmodules.oid], got.__setitem__)
            modules = parse_gitmodules(got[0], where=f"{prefix}.gitmodules")
        wanted = f"{self.subpath}/" if self.subpath else ""
        out: list[TreeEntry] = []
        for path, sha in sorted(links.items()):
            full = f"{prefix}{path}"
            check_tree_path(full, url=self.url)
            if wanted and not (f"{full}/".startswith(wanted) or wanted.startswith(f"{full}/")):
                continue  # outside the sub-path: not needed
            url = modules.get(path)
            if url is None:
                raise SourceError(
                    f"submodule {full!r} has no URL in {prefix}.gitmodules", url=self.url
                )
            child = self._submodule_source(resolve_url(url, base_url), full)
            if child.repo_path in chain:
                raise SourceError(f"submodule {full!r} contains itself", url=self.url)
            await child._fetch_commit(sha)
            sub_entries = await self.backend.list_tree(child.repo_path, sha)
            for e in sub_entries:
                rel = f"{full}/{e.path}"
                out.append(TreeEntry(rel, e.mode, e.oid, e.size))
                origin[rel] = child.repo_path
            out += await self._submodule_entries(
                child.repo_path,
                sha,
                sub_entries,
                f"{full}/",
                child._remote.url,
                (*chain, child.repo_path),
                origin,
            )
        return out

    async def _list_tree(self, commit: str) -> list[TreeEntry]:
        """The files of ``commit``: a diff from the last listing when possible."""
        diff_tree: Any = getattr(self.backend, "diff_tree", None)
        last = self._tree
        if diff_tree is not None and last is not None and last[0] != commit:
            changes = await diff_tree(self.repo_path, last[0], commit)
            if changes is not None:
                tree = dict(last[1])
                for path, entry in changes:  # removals first: a path may go and come back
                    if entry is None:
                        tree.pop(path, None)
                for path, entry in changes:
                    if entry is not None:
                        tree[path] = entry
                self._tree = (commit, tree)
                return list(tree.values())
        entries = await self.backend.list_tree(self.repo_path, commit)
        self._tree = (commit, {e.path: e for e in entries})
        return entries

    async def _build(
        self, conn: Connection, resolved: ResolvedRef, file_filter: FileFilter, key: str
    ) -> Artifact:
        await self._ensure_objects(conn, resolved)
        await self._verify(resolved)
        backend, repo, url = self.backend, self.repo_path, self.url
        entries = await self._list_tree(resolved.commit)
        origin: dict[str, Path] = {}
        if self.recurse_submodules:
            entries = entries + await self._submodule_entries(
                repo, resolved.commit, entries, "", self._remote.url, (repo,), origin
            )
        check_subpath(entries, self.subpath, url=url, commit=resolved.commit)
        texts: dict[str, bytes] = {}
        ignores = ignore_files(entries, self.subpath) if file_filter.ignore_file else []
        cut = len(self.subpath) + 1 if self.subpath else 0
        for source_repo in {origin.get(e.path, repo) for e in ignores}:
            mine = [e for e in ignores if origin.get(e.path, repo) == source_repo]
            got: dict[int, bytes] = {}
            await backend.read_blobs(source_repo, [e.oid for e in mine], got.__setitem__)
            texts.update({mine[i].path[cut:]: data for i, data in got.items()})
        selected = select_entries(entries, self.subpath, file_filter, texts, url=url)
        self.store.root.mkdir(parents=True, exist_ok=True)
        staged = self.store.staging()
        try:
            root = staged / "tree"
            writer = TreeWriter(root, selected, self.limits, url=url)
            todo = await anyio.to_thread.run_sync(self._recycle, key, root, writer)
            if todo is None:
                root.mkdir()
                writer = TreeWriter(root, selected, self.limits, url=url)
                todo = list(range(len(selected)))
            await self._write(writer, selected, root, todo, origin)
            stats = await anyio.to_thread.run_sync(writer.finish)
            listing = {e.path: (e.kind, e.oid) for e in selected}
            meta: dict[str, object] = {
                "checksum": stats.checksum,
                "files": stats.files,
                "size": stats.size,
                "commit": resolved.commit,
            }
            final = await anyio.to_thread.run_sync(
                lambda: self.store.commit(
                    root, key, meta, sealed=True, listing=encode_listing(selected)
                )
            )
        finally:
            await anyio.to_thread.run_sync(self.store.discard, staged)
        self._lease_current(key)
        self.store.gc(protect=[key])
        self._listings = {k: v for k, v in self._listings.items() if self.store.exists(k)}
        self._listings[key] = listing
        return Artifact(
            revision=Revision(commit=resolved.commit, ref=resolved.ref),
            path=final,
            checksum=stats.checksum,
            files=stats.files,
            size=stats.size,
        )
