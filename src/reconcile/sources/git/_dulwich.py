"""The dulwich backend: Git in pure Python (no ``git`` binary needed).

dulwich is synchronous; each operation runs in a worker thread. A timeout
abandons the thread (its socket has a timeout too, so it ends soon after).
Over SSH it runs the OpenSSH client with the same options as the CLI backend.
"""

from __future__ import annotations

import gc
import io
import os
import subprocess
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread

from reconcile.errors import RefNotFoundError, SourceAuthError, SourceError, SourceSecurityError
from reconcile.sources.git._backend import (
    CacheError,
    Connection,
    RemoteRefs,
    TreeEntry,
    Want,
)
from reconcile.sources.git._cli import AUTH_STATUS, classify

__all__ = ["DulwichBackend"]

T = TypeVar("T")


def _ssh_vendor(conn: Connection) -> Any:
    from dulwich.client import SSHVendor, SubprocessWrapper

    assert conn.ssh_command is not None
    command = list(conn.ssh_command)
    env = {**os.environ, **conn.ssh_env}

    class _Wrapper(SubprocessWrapper):
        """Closes the buffered reader it makes (dulwich's leaks it)."""

        def __init__(self, proc: subprocess.Popen[bytes]) -> None:
            # Not super().__init__: its reader would close stdout when collected.
            assert proc.stdout is not None
            assert proc.stdin is not None
            self.proc = proc
            self._reader = io.BufferedReader(proc.stdout)  # type: ignore[type-var]
            self.read = self._reader.read
            self.write = proc.stdin.write

        def close(self, timeout: int | None = 60) -> None:
            if self._reader.closed:
                return
            try:
                super().close(timeout)
            finally:
                self._reader.close()

    class _Vendor(SSHVendor):
        def __init__(self) -> None:
            self.opened: list[_Wrapper] = []

        def close_all(self) -> None:
            for wrapper in self.opened:
                wrapper.close()

        def run_command(
            self,
            host: str,
            command_: bytes | str,
            username: str | None = None,
            port: int | None = None,
            password: str | None = None,
            key_filename: str | None = None,
            ssh_command: str | None = None,
            protocol_version: int | None = None,
        ) -> Any:
            args = [*command, "-x"]
            if port:
                args += ["-p", str(port)]
            if protocol_version:
                args += ["-o", f"SetEnv GIT_PROTOCOL=version={protocol_version}"]
            target = f"{username}@{host}" if username else host
            if target.startswith("-"):
                raise SourceSecurityError("a host beginning with '-' is refused")
            cmd = command_.decode() if isinstance(command_, bytes) else command_
            proc = subprocess.Popen(
                [*args, "--", target, cmd],
                bufsize=0,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                start_new_session=True,
            )
            wrapper = _Wrapper(proc)
            self.opened.append(wrapper)
            return wrapper

    return _Vendor()


class DulwichBackend:
    """Talks to remotes with dulwich, in worker threads.

    Example:

        >>> DulwichBackend().name
        'dulwich'
    """

    name = "dulwich"

    def _client(self, conn: Connection) -> tuple[Any, str]:
        from dulwich import client as dc

        remote = conn.remote
        if remote.scheme == "git":
            return dc.TCPGitClient(remote.host, port=remote.port), remote.path
        if remote.scheme == "ssh":
            return (
                dc.SSHGitClient(
                    remote.host,
                    port=remote.port,
                    username=remote.username,
                    vendor=_ssh_vendor(conn),
                ),
                remote.path,
            )
        if remote.scheme == "file":
            return dc.LocalGitClient(), remote.path
        import urllib3

        headers = {"User-Agent": "git/reconcile-dulwich"}
        if conn.bearer_token is not None:
            headers["Authorization"] = f"Bearer {conn.bearer_token}"
        kwargs: dict[str, Any] = {
            "timeout": urllib3.Timeout(connect=conn.timeout, read=conn.timeout),
            "retries": False,
            "headers": headers,
        }
        if remote.scheme == "https":
            kwargs["cert_reqs"] = "CERT_REQUIRED"
            if conn.ca_file is not None:
                kwargs["ca_certs"] = str(conn.ca_file)
        pool = urllib3.PoolManager(**kwargs)
        client = dc.Urllib3HttpGitClient(
            remote.url,
            pool_manager=pool,
            username=conn.username,
            password=conn.password,
            timeout=conn.timeout,
        )
        return client, ""

    async def _run(self, conn: Connection | None, what: str, fn: Callable[[], T]) -> T:
        def call() -> T:
            error: SourceError | None = None
            try:
                return fn()
            except SourceError:
                raise
            except Exception as exc:
                if conn is None:
                    error = CacheError(f"{what}: {type(exc).__name__}: {exc}")
                else:
                    error = _translate(conn, what, exc)
                # dulwich leaves protocol objects unclosed when a connection
                # fails; free them here, quietly, not at some random later point.
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ResourceWarning)
                    _drop_tracebacks(exc)
                    del exc
                    gc.collect()
            raise error

        return await anyio.to_thread.run_sync(call, abandon_on_cancel=True)

    async def ls_remote(self, conn: Connection) -> RemoteRefs:
        """``get_refs``: the advertised refs (peeled tags included)."""

        def run() -> RemoteRefs:
            client, path = self._client(conn)
            try:
                result = client.get_refs(path.encode() if path else b"")
            finally:
                _close(client)
            refs = {k.decode(): v.decode() for k, v in result.refs.items() if v is not None}
            symrefs = {k.decode(): v.decode() for k, v in result.symrefs.items()}
            return RemoteRefs(refs, symrefs)

        return await self._run(conn, "ls-remote", run)

    async def fetch(
        self, conn: Connection, repo: Path, wants: Sequence[Want], *, depth: int | None
    ) -> None:
        """``GitClient.fetch`` into the bare cache repository."""

        def run() -> None:
            from dulwich.repo import Repo

            if (repo / "HEAD").is_file() and (repo / "objects").is_dir():
                target: Any = Repo(str(repo))
            else:
                repo.mkdir(parents=True, exist_ok=True)
                target = Repo.init_bare(str(repo))
            try:
                client, path = self._client(conn)
                try:
                    shas = [w.sha.encode() for w in wants]

                    def determine_wants(refs: Any, depth: int | None = None) -> list[bytes]:
                        if depth is None:
                            return [s for s in shas if s not in target.object_store]
                        return list(shas)

                    client.fetch(
                        path.encode() if path else b"",
                        target,
                        determine_wants=determine_wants,
                        depth=depth,
                    )
                finally:
                    _close(client)
                for w in wants:
                    if w.ref is not None:
                        target.refs[w.ref.encode()] = w.sha.encode()
                for w in wants:
                    if w.sha.encode() not in target.object_store:
                        raise RefNotFoundError(
                            f"the server did not send {w.sha[:12]}", url=conn.redacted
                        )
            finally:
                target.close()

        await self._run(conn, "fetch", run)

    async def has_commit(self, repo: Path, sha: str) -> bool:
        """Whether the object store holds the commit."""
        if not (repo / "HEAD").is_file():
            return False

        def run() -> bool:
            from dulwich.repo import Repo

            with Repo(str(repo)) as r_:
                r: Any = r_
                try:
                    return bool(r[sha.encode()].type_name == b"commit")
                except KeyError:
                    return False

        return await self._run(None, "has-commit", run)

    async def is_ancestor(self, repo: Path, ancestor: str, descendant: str) -> bool:
        """Walk from ``descendant`` looking for ``ancestor``."""

        def run() -> bool:
            from dulwich.repo import Repo

            with Repo(str(repo)) as r_:
                r: Any = r_
                walker = r.get_walker(include=[descendant.encode()])
                return any(entry.commit.id == ancestor.encode() for entry in walker)

        return await self._run(None, "is-ancestor", run)

    async def list_tree(self, repo: Path, commit: str) -> list[TreeEntry]:
        """Walk the commit's tree (submodules skipped)."""

        def run() -> list[TreeEntry]:
            from dulwich.objects import S_ISGITLINK
            from dulwich.repo import Repo

            with Repo(str(repo)) as r_:
                r: Any = r_
                tree = r[commit.encode()].tree
                return [
                    TreeEntry(e.path.decode("utf-8", "surrogateescape"), e.mode, e.sha.decode())
                    for e in r.object_store.iter_tree_contents(tree)
                    if not S_ISGITLINK(e.mode)
                ]

        return await self._run(None, "list-tree", run)

    async def diff_tree(
        self, repo: Path, old: str, new: str
    ) -> list[tuple[str, TreeEntry | None]] | None:
        """What changed from commit ``old`` to ``new`` (see the CLI backend's ``diff_tree``)."""
        from reconcile.sources.git._cli import DIFF_LIMIT

        def run() -> list[tuple[str, TreeEntry | None]] | None:
            from dulwich.diff_tree import tree_changes
            from dulwich.objects import S_ISGITLINK
            from dulwich.repo import Repo

            with Repo(str(repo)) as r_:
                r: Any = r_
                try:
                    a, b = r[old.encode()].tree, r[new.encode()].tree
                except KeyError:
                    return None
                out: list[tuple[str, TreeEntry | None]] = []
                for change in tree_changes(r.object_store, a, b):
                    if change.old is not None and change.old.path is not None:
                        out.append((change.old.path.decode("utf-8", "surrogateescape"), None))
                    e = change.new
                    if e is not None and e.path is not None and not S_ISGITLINK(e.mode):
                        path = e.path.decode("utf-8", "surrogateescape")
                        out.append((path, TreeEntry(path, e.mode, e.sha.decode())))
                    if len(out) > 2 * DIFF_LIMIT:
                        return None
                return out

        return await self._run(None, "diff-tree", run)

    async def list_gitlinks(self, repo: Path, commit: str) -> dict[str, str]:
        """Submodule entries of ``commit``'s tree: path -> commit SHA."""

        def run() -> dict[str, str]:
            from dulwich.objects import S_ISGITLINK
            from dulwich.repo import Repo

            with Repo(str(repo)) as r_:
                r: Any = r_
                tree = r[commit.encode()].tree
                return {
                    e.path.decode("utf-8", "surrogateescape"): e.sha.decode()
                    for e in r.object_store.iter_tree_contents(tree, include_trees=False)
                    if S_ISGITLINK(e.mode)
                }

        return await self._run(None, "list-tree", run)

    async def read_blobs(
        self, repo: Path, oids: Sequence[str], sink: Callable[[int, bytes], None]
    ) -> None:
        """Read each blob from the object store and hand it to ``sink``."""

        def run() -> None:
            from dulwich.repo import Repo

            with Repo(str(repo)) as r_:
                r: Any = r_
                store = r.object_store
                for i, oid in enumerate(oids):
                    sink(i, bytes(store[oid.encode()].data))

        await self._run(None, "read-blobs", run)

    async def read_object(self, repo: Path, sha: str) -> tuple[str, bytes]:
        """The raw object from the object store."""

        def run() -> tuple[str, bytes]:
            from dulwich.repo import Repo

            with Repo(str(repo)) as r_:
                r: Any = r_
                obj = r[sha.encode()]
                return obj.type_name.decode(), bytes(obj.as_raw_string())

        return await self._run(None, "read-object", run)


def _drop_tracebacks(exc: BaseException | None) -> None:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if exc.__cause__ is not None:
            _drop_tracebacks(exc.__cause__)
        exc.__traceback__ = None
        exc = exc.__context__


def _close(client: Any) -> None:
    client.close()
    vendor = getattr(client, "ssh_vendor", None)
    if vendor is not None and hasattr(vendor, "close_all"):
        vendor.close_all()


def _translate(conn: Connection, what: str, exc: Exception) -> SourceError:
    from dulwich import client as dc
    from dulwich import errors as de

    name = type(exc).__name__
    text = conn.scrub(str(exc)).strip()
    if isinstance(exc, dc.HTTPUnauthorized):
        return SourceAuthError(f"{what}: authentication failed (HTTP 401)", url=conn.redacted)
    if isinstance(exc, de.HangupException):
        stderr = "\n".join(line.decode("utf-8", "replace") for line in (exc.stderr_lines or []))
        if stderr:
            return classify(conn, what, stderr)
        return SourceError(f"{what}: the server hung up", url=conn.redacted)
    if isinstance(exc, de.GitProtocolError):
        low = text.lower()
        if AUTH_STATUS.search(low):
            return SourceAuthError(f"{what}: authentication failed: {text}", url=conn.redacted)
        if "not our ref" in low or ("not found" in low and "ref" in low):
            return RefNotFoundError(f"{what}: {text}", url=conn.redacted)
        return classify(conn, what, text)
    if isinstance(exc, de.NotGitRepository):
        return SourceError(f"{what}: repository not found", url=conn.redacted)
    if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
        return SourceError(f"{what}: {name}: {text}", url=conn.redacted)
    if "ssl" in name.lower() or "certificate" in text.lower():
        return SourceSecurityError(f"{what}: TLS verification failed: {text}", url=conn.redacted)
    try:
        import urllib3.exceptions as ue

        if isinstance(exc, ue.HTTPError):
            return SourceError(f"{what}: {name}: {text}", url=conn.redacted)
    except ImportError:  # pragma: no cover
        pass
    if isinstance(exc, (KeyError, ValueError, AssertionError)) or "pack" in text.lower():
        return CacheError(f"{what}: {name}: {text}", url=conn.redacted)
    return SourceError(f"{what}: {name}: {text}", url=conn.redacted)
