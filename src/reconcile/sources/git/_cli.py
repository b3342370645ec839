"""The ``git`` command-line backend (async subprocesses through anyio).

Credentials reach git through the environment only: a credential helper
defined in ``GIT_CONFIG_*`` variables reads the user name and password from
two more variables, a bearer token travels as ``http.extraHeader`` in the same
way, and ssh gets its passphrase from an askpass script that reads a variable.
Nothing secret is ever in a process's arguments (``ps`` shows arguments to
every user; ``/proc/<pid>/environ`` only to the same user).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import anyio
import anyio.to_thread
from anyio.abc import Process

from reconcile.errors import RefNotFoundError, SourceAuthError, SourceError, SourceSecurityError
from reconcile.sources.git._backend import CacheError, Connection, RemoteRefs, TreeEntry, Want

__all__ = ["CLIBackend", "run_git"]

log = logging.getLogger(__name__)

_HELPER = (
    '!f() { test "$1" = get || exit 0; '
    "printf 'username=%s\\npassword=%s\\n' "
    '"$RECONCILE_GIT_USERNAME" "$RECONCILE_GIT_PASSWORD"; }; f'
)

#: An HTTP 401/403 status in an error text (not any "401" in, say, a port number).
AUTH_STATUS = re.compile(r"(?:http|status|code|resp\w*|error)[^0-9\n]{0,12}\b40[13]\b", re.I)

_AUTH_MARKERS = (
    "authentication failed",
    "could not read username",
    "could not read password",
    "http 401",
    "http 403",
    "returned error: 401",
    "returned error: 403",
    "permission denied (publickey",
    "permission denied, please try again",
    "incorrect passphrase",
)
_HOSTKEY_MARKERS = (
    "host key verification failed",
    "no ed25519 host key is known",
    "no rsa host key is known",
    "no ecdsa host key is known",
    "host key is known for",
    "remote host identification has changed",
)
_REF_MARKERS = (
    "couldn't find remote ref",
    "not our ref",
    "no such remote ref",
    "unadvertised object",
    "remote error: upload-pack: not our ref",
)
_TIMEOUT_MARKERS = ("timed out", "operation too slow", "timeout")
_NOT_FOUND_REPO = ("repository not found", "does not appear to be a git repository", "http 404")
_CORRUPT = (
    "bad object",
    "corrupt",
    "loose object",
    "packfile",
    "unable to read",
    "not a git repository",
    "did not send all necessary objects",
    "invalid index-pack output",
    "fatal: bad revision",
    "missing blob",
    "is not a valid object",
    "object file",
    "invalid object",
    "could not parse object",
)


async def _kill(proc: Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with anyio.CancelScope(shield=True):
        await proc.wait()


async def run_git(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path | None = None,
    stdin: bytes | None = None,
    umask: int = -1,
) -> tuple[int, bytes, str]:
    """Run git in a new process group; on cancellation the whole group is killed."""
    git = shutil.which("git", path=env.get("PATH"))
    if git is None:
        raise SourceError("the git command is not installed (use the dulwich backend)")
    proc = await anyio.open_process(
        [git, *args],
        env=dict(env),
        cwd=cwd,
        stdin=-1 if stdin is not None else -3,  # PIPE / DEVNULL
        start_new_session=True,
        umask=umask,
    )
    out = bytearray()
    err = bytearray()
    try:

        async def drain(stream: object, buf: bytearray) -> None:
            async for chunk in stream:  # type: ignore[attr-defined]
                buf.extend(chunk)

        async with anyio.create_task_group() as tg:
            assert proc.stdout is not None
            assert proc.stderr is not None
            tg.start_soon(drain, proc.stdout, out)
            tg.start_soon(drain, proc.stderr, err)
            if stdin is not None:
                assert proc.stdin is not None
                await proc.stdin.send(stdin)
                await proc.stdin.aclose()
        code = await proc.wait()
    except BaseException:
        await _kill(proc)
        raise
    finally:
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                with anyio.CancelScope(shield=True):
                    await stream.aclose()
    return code, bytes(out), err.decode("utf-8", "replace")


def _base_env(extra: Mapping[str, str] = ()) -> dict[str, str]:  # type: ignore[assignment]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/nonexistent"),
        "LANG": "C",
        "LC_ALL": "C",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "/bin/false",
        "SSH_ASKPASS": "/bin/false",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_PROTOCOL_FROM_USER": "0",
        "GIT_OPTIONAL_LOCKS": "0",
        "GIT_NO_REPLACE_OBJECTS": "1",
    }
    env.update(extra)
    return env


def _config_env(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    env = {"GIT_CONFIG_COUNT": str(len(pairs))}
    for i, (key, value) in enumerate(pairs):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    return env


def classify(conn: Connection, what: str, stderr: str) -> SourceError:
    """Turn git's stderr into a typed error with the redacted URL."""
    text = conn.scrub(stderr).strip()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    detail = "; ".join(lines[-3:]) if lines else "no output"
    low = text.lower()
    if any(m in low for m in _HOSTKEY_MARKERS):
        return SourceSecurityError(
            f"{what}: the server's SSH host key is unknown or changed: {detail}", url=conn.redacted
        )
    if any(m in low for m in _AUTH_MARKERS):
        return SourceAuthError(f"{what}: authentication failed: {detail}", url=conn.redacted)
    if any(m in low for m in _REF_MARKERS):
        return RefNotFoundError(f"{what}: {detail}", url=conn.redacted)
    if any(m in low for m in _TIMEOUT_MARKERS):
        return SourceError(f"{what} timed out after {conn.timeout:g}s: {detail}", url=conn.redacted)
    if any(m in low for m in _NOT_FOUND_REPO):
        return SourceError(f"{what}: repository not found: {detail}", url=conn.redacted)
    return SourceError(f"{what} failed: {detail}", url=conn.redacted)


#: Above this many changed entries, :meth:`CLIBackend.diff_tree` gives up.
DIFF_LIMIT = 256


def init_bare(repo: Path) -> None:
    """Create the bare cache repository (what ``git init --bare`` makes, without hooks).

    Written in place of a git process: the skeleton is four directories and
    two files, built aside and renamed into place.
    """
    if (repo / "HEAD").is_file() and (repo / "objects").is_dir():
        return
    try:
        repo.parent.mkdir(parents=True, exist_ok=True)
        if os.path.lexists(repo):
            shutil.rmtree(repo)
        tmp = repo.parent / f".{repo.name}.init-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        for sub in ("objects/info", "objects/pack", "refs/heads", "refs/tags"):
            (tmp / sub).mkdir(parents=True)
        (tmp / "config").write_text(
            "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = true\n"
        )
        (tmp / "HEAD").write_text("ref: refs/heads/main\n")
        os.rename(tmp, repo)
    except OSError as exc:
        raise CacheError(f"cannot create the cache repository: {exc}") from None


class CLIBackend:
    """Talks to remotes by running the ``git`` command.

    Example:

        >>> CLIBackend().name
        'cli'
    """

    name = "cli"

    def __init__(self, *, extra_env: Mapping[str, str] | None = None) -> None:
        self._extra_env = dict(extra_env or {})

    def _env(self, conn: Connection | None) -> dict[str, str]:
        config: list[tuple[str, str]] = [
            ("gc.auto", "0"),
            ("maintenance.auto", "false"),
            ("core.hooksPath", os.devnull),
            ("protocol.version", "2"),
            ("fetch.recurseSubmodules", "false"),
            ("core.symlinks", "true"),
            ("core.fsmonitor", "false"),
        ]
        extra: dict[str, str] = dict(self._extra_env)
        if conn is not None:
            scheme = conn.remote.scheme
            allowed = {"https", "http", "git", "ssh"} | ({"file"} if scheme == "file" else set())
            extra["GIT_ALLOW_PROTOCOL"] = ":".join(sorted(allowed))
            config += [("protocol.allow", "never")] + [
                (f"protocol.{p}.allow", "always") for p in sorted(allowed)
            ]
            config += [
                ("http.lowSpeedLimit", "1"),
                ("http.lowSpeedTime", str(max(1, int(conn.timeout)))),
            ]
            config.append(("credential.helper", ""))
            if conn.username is not None and conn.password is not None:
                config += [
                    ("credential.helper", _HELPER),
                    ("credential.useHttpPath", "true"),
                ]
                extra["RECONCILE_GIT_USERNAME"] = conn.username
                extra["RECONCILE_GIT_PASSWORD"] = conn.password
            if conn.bearer_token is not None:
                config.append(("http.extraHeader", f"Authorization: Bearer {conn.bearer_token}"))
            if conn.ca_file is not None:
                config.append(("http.sslCAInfo", str(conn.ca_file)))
            if conn.ssh_command is not None:
                extra["GIT_SSH_COMMAND"] = shlex.join(conn.ssh_command)
                extra["GIT_SSH_VARIANT"] = "ssh"
                extra.update(conn.ssh_env)
        extra.update(_config_env(config))
        return _base_env(extra)

    async def _git(
        self,
        conn: Connection | None,
        args: Sequence[str],
        *,
        cwd: Path | None = None,
        stdin: bytes | None = None,
    ) -> tuple[int, bytes, str]:
        return await run_git(args, env=self._env(conn), cwd=cwd, stdin=stdin)

    async def ls_remote(self, conn: Connection) -> RemoteRefs:
        """``git ls-remote --symref`` over protocol v0.

        Every ref is wanted, so v2's ref-prefix filtering saves nothing, and
        in v0 the server speaks first: one message instead of a request and
        a reply (on ``git://`` v2's extra exchange costs ~40 ms of TCP
        delayed-ACK stall; over HTTPS, one request instead of two). Fetches
        stay on v2.
        """
        code, out, err = await self._git(
            conn,
            ["-c", "protocol.version=0", "ls-remote", "--symref", "--end-of-options", conn.url],
            cwd=Path("/"),
        )
        if code != 0:
            raise classify(conn, "ls-remote", err)
        refs: dict[str, str] = {}
        symrefs: dict[str, str] = {}
        for line in out.decode("utf-8", "replace").splitlines():
            left, _, name = line.partition("\t")
            if left.startswith("ref: "):
                symrefs[name] = left[5:]
            elif name:
                refs[name] = left
        return RemoteRefs(refs, symrefs)

    async def _init(self, repo: Path) -> None:
        await anyio.to_thread.run_sync(init_bare, repo)

    async def fetch(
        self, conn: Connection, repo: Path, wants: Sequence[Want], *, depth: int | None
    ) -> None:
        """``git fetch`` the wants into the bare cache repository.

        Wants are asked for by object id (``+<sha>:<ref>``): with protocol v2
        and no tags to follow, git then skips the ref advertisement, which
        the caller's ``ls-remote`` has just made, and saves a round trip.
        Every server grants an advertised tip; one that refuses the id of a
        ref's tip means the ref moved since the ``ls-remote``: a
        :class:`SourceError` says so, and the next fetch resolves it anew.
        """
        await self._init(repo)
        by_sha = [f"+{w.sha}:{w.ref}" if w.ref else w.sha for w in wants]
        try:
            await self._fetch(conn, repo, by_sha, depth=depth)
        except RefNotFoundError as exc:
            if not all(w.ref for w in wants):
                raise
            moved = ", ".join(f"{w.ref} ({w.sha[:12]})" for w in wants)
            raise SourceError(
                f"fetch: the remote no longer has {moved}: the ref moved during the fetch; "
                f"fetch again ({exc.message})",
                url=conn.redacted,
            ) from None

    async def fetch_ref(self, conn: Connection, repo: Path, ref: str, *, depth: int | None) -> str:
        """Fetch ``ref`` by name (one connection: no ``ls-remote`` first); return its commit.

        An optional capability: the source uses it when it has nothing to
        compare the remote's ref with (an empty artifact store), so that
        asking first would only add a round trip.
        """
        await self._init(repo)
        await self._fetch(conn, repo, [f"+{ref}:{ref}"], depth=depth)
        peeled = f"{ref}^{{commit}}"
        args = [f"--git-dir={repo}", "rev-parse", "--verify", "--end-of-options", peeled]
        code, out, err = await self._git(None, args)
        if code != 0:
            raise CacheError(f"{ref} is missing after the fetch: {err.strip()}", url=conn.redacted)
        return out.decode().strip()

    async def _fetch(
        self, conn: Connection, repo: Path, refspecs: Sequence[str], *, depth: int | None
    ) -> None:
        args = [
            f"--git-dir={repo}",
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            "--no-recurse-submodules",
            "--no-auto-gc",
        ]
        if depth is not None:
            args.append(f"--depth={depth}")
        elif (repo / "shallow").exists():
            args.append("--unshallow")
        args += ["--end-of-options", conn.url, *refspecs]
        code, _, err = await self._git(conn, args)
        if code != 0:
            error = classify(conn, "fetch", err)
            low = err.lower()
            if type(error) is SourceError and any(m in low for m in _CORRUPT):
                raise CacheError(error.message, url=conn.redacted)
            raise error

    async def has_commit(self, repo: Path, sha: str) -> bool:
        """``git cat-file -e <sha>^{commit}``."""
        if not (repo / "HEAD").is_file():
            return False
        code, _, _ = await self._git(
            None, [f"--git-dir={repo}", "cat-file", "-e", f"{sha}^{{commit}}"]
        )
        return code == 0

    async def is_ancestor(self, repo: Path, ancestor: str, descendant: str) -> bool:
        """``git merge-base --is-ancestor``."""
        code, _, _ = await self._git(
            None, [f"--git-dir={repo}", "merge-base", "--is-ancestor", ancestor, descendant]
        )
        return code == 0

    async def list_tree(self, repo: Path, commit: str) -> list[TreeEntry]:
        """``git ls-tree -r -l -z``: mode, id and size of every blob."""
        code, out, err = await self._git(
            None, [f"--git-dir={repo}", "ls-tree", "-r", "-l", "-z", "--full-tree", commit]
        )
        if code != 0:
            raise CacheError(f"cannot list the tree of {commit[:12]}: {err.strip()}")
        entries: list[TreeEntry] = []
        for record in out.split(b"\0"):
            if not record:
                continue
            meta, _, path = record.partition(b"\t")
            mode, kind, oid, size = meta.split()
            if kind != b"blob":
                continue  # submodules (commit entries)
            entries.append(
                TreeEntry(
                    path.decode("utf-8", "surrogateescape"),
                    int(mode, 8),
                    oid.decode(),
                    int(size),
                )
            )
        return entries

    async def diff_tree(
        self, repo: Path, old: str, new: str
    ) -> list[tuple[str, TreeEntry | None]] | None:
        """What changed from commit ``old`` to ``new``: (path, entry or ``None`` when gone).

        ``git diff-tree -r --raw`` (no rename detection): one small process
        instead of listing the whole tree again. Sizes are unknown (-1).
        Returns ``None`` when more than :data:`DIFF_LIMIT` entries changed
        (a full listing, with sizes, is then the better deal) or when
        ``old`` is not in the cache any more.
        """
        code, out, _ = await self._git(
            None,
            [f"--git-dir={repo}", "diff-tree", "-r", "-z", "--raw", "--no-renames", old, new],
        )
        if code != 0:
            return None
        fields = out.split(b"\0")
        changes: list[tuple[str, TreeEntry | None]] = []
        for k in range(0, len(fields) - 1, 2):
            meta, raw_path = fields[k], fields[k + 1]
            parts = meta.lstrip(b":").split()
            if len(parts) != 5:
                return None
            _old_mode, new_mode, _old_oid, new_oid, _status = parts
            path = raw_path.decode("utf-8", "surrogateescape")
            mode = int(new_mode, 8)
            if mode == 0 or mode == 0o160000:  # deleted, or a submodule now
                changes.append((path, None))
            else:
                changes.append((path, TreeEntry(path, mode, new_oid.decode())))
            if len(changes) > DIFF_LIMIT:
                return None
        return changes

    async def list_gitlinks(self, repo: Path, commit: str) -> dict[str, str]:
        """Submodule entries of ``commit``'s tree: path -> commit SHA."""
        code, out, err = await self._git(
            None, [f"--git-dir={repo}", "ls-tree", "-r", "-z", "--full-tree", commit]
        )
        if code != 0:
            raise CacheError(f"cannot list the tree of {commit[:12]}: {err.strip()}")
        links: dict[str, str] = {}
        for record in out.split(b"\0"):
            meta, _, path = record.partition(b"\t")
            fields = meta.split()
            if len(fields) == 3 and fields[1] == b"commit":
                links[path.decode("utf-8", "surrogateescape")] = fields[2].decode()
        return links

    async def checkout_entries(self, repo: Path, entries: Sequence[TreeEntry], root: Path) -> None:
        """Write regular files with git's own checkout (C speed) into ``root``.

        An index holding exactly ``entries`` (already re-rooted paths) is built
        with ``update-index --index-info`` and checked out. Callers pass no
        symlinks and no ``.gitattributes``: with no attributes in the index
        and an isolated configuration, git converts nothing and writes the
        blobs as stored. Files are created read-only (umask 0222), and so are
        the directories git creates: callers create them beforehand unless
        the process may write into read-only directories (see
        :func:`~reconcile.sources._materialize.writes_into_readonly_dirs`).
        """
        index = root.parent / f".index-{root.name}"
        env = {**self._env(None), "GIT_INDEX_FILE": str(index)}
        info = b"".join(
            b"%o %s 0\t%s\0" % (e.mode, e.oid.encode(), e.path.encode("utf-8", "surrogateescape"))
            for e in entries
        )
        try:
            for args, data in (
                ([f"--git-dir={repo}", "update-index", "-z", "--index-info"], info),
                ([f"--git-dir={repo}", f"--work-tree={root}", "checkout-index", "-a", "-f"], None),
            ):
                code, _, err = await run_git(args, env=env, stdin=data, umask=0o222)
                if code != 0:
                    raise CacheError(f"checkout failed: {err.strip()}")
        finally:
            index.unlink(missing_ok=True)

    async def read_blobs(
        self, repo: Path, oids: Sequence[str], sink: Callable[[int, bytes], None]
    ) -> None:
        """Stream the blobs through one ``git cat-file --batch``, in a worker thread."""
        env = self._env(None)
        git = shutil.which("git", path=env.get("PATH")) or "git"

        def run() -> None:
            proc = subprocess.Popen(
                [git, f"--git-dir={repo}", "cat-file", "--batch"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
            )
            assert proc.stdin is not None
            assert proc.stdout is not None
            stdin = proc.stdin

            def feed() -> None:
                try:
                    for oid in oids:
                        stdin.write(oid.encode() + b"\n")
                finally:
                    stdin.close()

            writer = threading.Thread(target=feed, daemon=True)
            writer.start()
            try:
                out = proc.stdout
                for i, oid in enumerate(oids):
                    header = out.readline().split()
                    if len(header) != 3 or header[1] != b"blob":
                        raise CacheError(f"blob {oid[:12]} is missing from the cache")
                    data = out.read(int(header[2]))
                    out.read(1)
                    sink(i, data)
            finally:
                proc.kill()
                proc.wait()
                proc.stdout.close()
                writer.join()

        await anyio.to_thread.run_sync(run)

    async def read_object(self, repo: Path, sha: str) -> tuple[str, bytes]:
        """``git cat-file``: the type and raw body of an object."""
        code, out, err = await self._git(None, [f"--git-dir={repo}", "cat-file", "-t", sha])
        if code != 0:
            raise CacheError(f"object {sha[:12]} is missing: {err.strip()}")
        kind = out.decode().strip()
        code, body, err = await self._git(None, [f"--git-dir={repo}", "cat-file", kind, sha])
        if code != 0:
            raise CacheError(f"object {sha[:12]} is unreadable: {err.strip()}")
        return kind, body
