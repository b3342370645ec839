"""A real kube-apiserver and etcd on loopback, started the way envtest does.

>>> from reconcile.testing import ControlPlane
>>> with ControlPlane() as cp:                       # doctest: +SKIP
...     status, body = cp.request("GET", "/api/v1/namespaces/default")
...     assert status == 200
"""

from __future__ import annotations

import atexit
import base64
import ctypes
import http.client
import json
import logging
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from reconcile.errors import ControlPlaneError
from reconcile.testing._assets import ControlPlaneAssets, find_assets
from reconcile.testing._certs import ControlPlanePKI, make_pki

__all__ = ["ControlPlane", "ExistingCluster"]

log = logging.getLogger(__name__)

_LOG_TAIL_LINES = 30
_live: weakref.WeakSet[ControlPlane] = weakref.WeakSet()


def _stop_all_at_exit() -> None:
    for plane in list(_live):
        plane.stop()


atexit.register(_stop_all_at_exit)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago.

    Example:

        >>> 1024 <= free_port() <= 65535
        True
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    # PR_SET_PDEATHSIG: if the test process dies (even by SIGKILL), the kernel
    # kills the server too, so no run leaves orphans behind.
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)
    except OSError:
        pass


class _Server:
    """One child process with its log file."""

    def __init__(self, name: str, binary: Path, args: Sequence[str], log_path: Path) -> None:
        self.name = name
        self.binary = binary
        self.args: list[str] = list(args)
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        # Only the main thread lives as long as the process: PDEATHSIG fires when
        # the *thread* that forked exits, so worker threads must not arm it.
        in_main = threading.current_thread() is threading.main_thread()
        try:
            self.proc = subprocess.Popen(
                [str(self.binary), *self.args],
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent if in_main and os.name == "posix" else None,
            )
        except OSError as exc:
            self._log.close()
            raise ControlPlaneError(f"cannot run {self.describe()}: {exc}") from exc

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def describe(self) -> str:
        return f"{self.binary} {' '.join(self.args)}"

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def port_clash(self) -> bool:
        tail = self.log_tail(80).lower()
        return "address already in use" in tail

    def failure(self, what: str) -> ControlPlaneError:
        code = self.proc.poll() if self.proc is not None else None
        status = f" (exit code {code})" if code is not None else ""
        return ControlPlaneError(
            f"{self.name} {what}{status}.\ncommand: {self.describe()}\n"
            f"last lines of {self.log_path}:\n{self.log_tail()}"
        )


class _AdminHTTP:
    """Synchronous admin requests to the API server (readiness, fixtures)."""

    def __init__(self, host: str, port: int, pki: ControlPlanePKI) -> None:
        self.host = host
        self.port: int = port
        self.context = ssl.create_default_context(cafile=str(pki.ca_cert))
        self.context.load_cert_chain(str(pki.admin_cert), str(pki.admin_key))

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        timeout: float = 30.0,
    ) -> tuple[int, Any]:
        conn = http.client.HTTPSConnection(
            self.host, self.port, context=self.context, timeout=timeout
        )
        try:
            payload = None if body is None else json.dumps(body).encode()
            headers = {"Accept": "application/json"}
            if payload is not None:
                headers["Content-Type"] = content_type
            conn.request(method, path, body=payload, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        try:
            parsed: Any = json.loads(data) if data else None
        except ValueError:
            parsed = data.decode(errors="replace")
        return resp.status, parsed


class ControlPlane:
    """etcd + kube-apiserver (and optionally kube-controller-manager) on loopback.

    TLS everywhere, RBAC on, service-account keys, an admin kubeconfig
    (``kubeconfig``) whose user is in ``system:masters``. ``start()`` returns
    once ``/readyz`` answers 200 to the admin and namespace ``default`` exists;
    any failure stops what was started and raises :class:`ControlPlaneError`
    with the binary, its flags and the tail of its log. A port clash is retried
    on fresh ports.

    Args:
        assets: the binaries; found or built by :func:`find_assets` when omitted.
        controller_manager: also run kube-controller-manager (namespace deletion,
            garbage collection, ReplicaSets).
        workdir: where certificates, data and logs go (a temporary directory,
            removed on stop, when omitted).
        start_timeout: seconds to wait for readiness.
        apiserver_flags: extra ``--flag=value`` arguments for kube-apiserver (they
            come last, so they override the defaults above, e.g.
            ``["--max-requests-inflight=1", "--enable-priority-and-fairness=false"]``).
        etcd_fsync: run etcd production-like, syncing its write-ahead log to disk
            (under ``workdir``) on every commit. Off by default: tests run etcd
            with ``--unsafe-no-fsync``, which makes each write cheaper and so
            favours clients that send one write at a time.

    Example:

        >>> with ControlPlane() as cp:  # doctest: +SKIP
        ...     status, body = cp.request("GET", "/api/v1/namespaces/default")
        ...     print(status, cp.kubeconfig)
        200 /tmp/reconcile-cp-.../kubeconfig
    """

    def __init__(
        self,
        *,
        assets: ControlPlaneAssets | None = None,
        controller_manager: bool = False,
        workdir: Path | None = None,
        start_timeout: float = 90.0,
        apiserver_flags: Sequence[str] = (),
        etcd_fsync: bool = False,
    ) -> None:
        self._assets = assets
        self.controller_manager = controller_manager
        self._own_workdir = workdir is None
        self.workdir: Path = workdir or Path(tempfile.mkdtemp(prefix="reconcile-cp-"))
        self.start_timeout = start_timeout
        self.apiserver_flags: list[str] = list(apiserver_flags)
        self.etcd_fsync = etcd_fsync
        self.pki: ControlPlanePKI | None = None
        self.etcd: _Server | None = None
        self.apiserver: _Server | None = None
        self.kcm: _Server | None = None
        self.port: int = 0
        self.start_seconds: float | None = None
        self._http: _AdminHTTP | None = None
        self._stopped = False

    # -- public ---------------------------------------------------------------

    @property
    def assets(self) -> ControlPlaneAssets:
        """The binaries in use (found or built on first access)."""
        if self._assets is None:
            self._assets = find_assets(controller_manager=self.controller_manager)
        return self._assets

    @property
    def server(self) -> str:
        """The API server's URL."""
        return f"https://127.0.0.1:{self.port}"

    @property
    def kubeconfig(self) -> Path:
        """An admin kubeconfig for this control plane."""
        return self.workdir / "kubeconfig.yaml"

    context: str | None = "reconcile-testing"

    def start(self) -> Self:
        """Start etcd, then kube-apiserver, and wait until both are ready."""
        assets = self.assets
        began = time.monotonic()
        _live.add(self)
        try:
            self.pki = make_pki(self.workdir / "pki")
            for attempt in range(3):
                try:
                    self._start_etcd(assets)
                    self._start_apiserver(assets, began)
                    break
                except _PortClashError:
                    log.warning("port clash starting the control plane", extra={"attempt": attempt})
                    self._stop_servers()
            else:
                raise ControlPlaneError("ports kept clashing after 3 attempts")
            self._write_kubeconfig()
            if self.controller_manager:
                self._start_controller_manager(assets)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - began
        log.info(
            "control plane ready", extra={"server": self.server, "seconds": self.start_seconds}
        )
        return self

    def stop(self) -> None:
        """Stop every process started (apiserver first, etcd last) and clean up."""
        if self._stopped:
            return
        self._stopped = True
        self._stop_servers()
        _live.discard(self)
        if self._own_workdir and os.environ.get("RECONCILE_KEEP_CONTROL_PLANE") != "1":
            shutil.rmtree(self.workdir, ignore_errors=True)

    def restart_apiserver(self) -> None:
        """Stop kube-apiserver and start it again on the same port (fault tests)."""
        if self.apiserver is None:
            raise ControlPlaneError("the control plane is not running")
        self.apiserver.stop()
        self.apiserver.start()
        self._wait_apiserver(self.apiserver, time.monotonic())

    def check_healthy(self) -> None:
        """Raise :class:`ControlPlaneError` if a server has exited since start."""
        for server in (self.etcd, self.apiserver, self.kcm):
            if server is not None and not server.alive():
                raise server.failure("is no longer running")

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
    ) -> tuple[int, Any]:
        """A synchronous admin request: returns (HTTP status, parsed JSON body)."""
        if self._http is None:
            raise ControlPlaneError("the control plane is not running")
        return self._http.request(method, path, body, content_type=content_type)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- internals -------------------------------------------------------------

    def _stop_servers(self) -> None:
        for server in (self.kcm, self.apiserver, self.etcd):
            if server is not None:
                server.stop()
        self.kcm = self.apiserver = self.etcd = None

    def _start_etcd(self, assets: ControlPlaneAssets) -> None:
        client, peer = free_port(), free_port()
        data = self.workdir / f"etcd-{client}"
        args = [
            f"--name=reconcile-{client}",
            f"--data-dir={data}",
            f"--listen-client-urls=http://127.0.0.1:{client}",
            f"--advertise-client-urls=http://127.0.0.1:{client}",
            f"--listen-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-cluster=reconcile-{client}=http://127.0.0.1:{peer}",
            f"--unsafe-no-fsync={'false' if self.etcd_fsync else 'true'}",
            "--log-level=warn",
        ]
        self.etcd = _Server("etcd", assets.etcd, args, self.workdir / "etcd.log")
        self.etcd.start()
        self._etcd_url = f"http://127.0.0.1:{client}"
        deadline = time.monotonic() + self.start_timeout
        delay = 0.05
        while True:
            if not self.etcd.alive():
                if self.etcd.port_clash():
                    raise _PortClashError
                raise self.etcd.failure("exited during start")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", client, timeout=2)
                conn.request("GET", "/health")
                resp = conn.getresponse()
                body = resp.read()
                conn.close()
                if resp.status == 200 and b'"true"' in body:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise self.etcd.failure(f"was not healthy within {self.start_timeout:.0f} s")
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)

    def _start_apiserver(self, assets: ControlPlaneAssets, began: float) -> None:
        assert self.pki is not None
        pki = self.pki
        self.port = free_port()
        args = [
            f"--etcd-servers={self._etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.port}",
            "--endpoint-reconciler-type=none",
            f"--cert-dir={self.workdir / 'apiserver-certs'}",
            f"--tls-cert-file={pki.serving_cert}",
            f"--tls-private-key-file={pki.serving_key}",
            f"--client-ca-file={pki.ca_cert}",
            "--authorization-mode=RBAC",
            f"--service-account-issuer=https://127.0.0.1:{self.port}/",
            f"--service-account-key-file={pki.service_account_pub}",
            f"--service-account-signing-key-file={pki.service_account_key}",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--allow-privileged=true",
            "--disable-admission-plugins=ServiceAccount",
            *self.apiserver_flags,
        ]
        self.apiserver = _Server(
            "kube-apiserver", assets.kube_apiserver, args, self.workdir / "kube-apiserver.log"
        )
        self.apiserver.start()
        self._http = _AdminHTTP("127.0.0.1", self.port, pki)
        self._wait_apiserver(self.apiserver, began)

    def _wait_apiserver(self, server: _Server, began: float) -> None:
        assert self._http is not None
        deadline = began + self.start_timeout
        delay = 0.1
        ready = False
        while True:
            if not server.alive():
                if server.port_clash():
                    raise _PortClashError
                raise server.failure("exited during start")
            try:
                if not ready:
                    status, _ = self._http.request("GET", "/readyz", timeout=5)
                    ready = status == 200
                if ready:
                    status, _ = self._http.request("GET", "/api/v1/namespaces/default", timeout=5)
                    if status == 200:
                        return
            except (OSError, http.client.HTTPException):
                pass
            if time.monotonic() > deadline:
                what = "namespace default did not appear" if ready else "/readyz did not answer 200"
                raise server.failure(f"was not ready within {self.start_timeout:.0f} s: {what}")
            time.sleep(delay)
            delay = min(delay * 1.5, 1.0)

    def _write_kubeconfig(self) -> None:
        assert self.pki is not None

        def b64(path: Path) -> str:
            return base64.b64encode(path.read_bytes()).decode()

        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "reconcile-testing",
                    "cluster": {
                        "server": self.server,
                        "certificate-authority-data": b64(self.pki.ca_cert),
                    },
                }
            ],
            "users": [
                {
                    "name": "reconcile-admin",
                    "user": {
                        "client-certificate-data": b64(self.pki.admin_cert),
                        "client-key-data": b64(self.pki.admin_key),
                    },
                }
            ],
            "contexts": [
                {
                    "name": "reconcile-testing",
                    "context": {"cluster": "reconcile-testing", "user": "reconcile-admin"},
                }
            ],
            "current-context": "reconcile-testing",
        }
        # JSON is valid YAML, and every kubeconfig reader accepts it.
        self.kubeconfig.write_text(json.dumps(config, indent=2))
        self.kubeconfig.chmod(0o600)

    def _start_controller_manager(self, assets: ControlPlaneAssets) -> None:
        assert self.pki is not None
        if assets.kube_controller_manager is None:
            raise ControlPlaneError("kube-controller-manager was requested but not found")
        port = free_port()
        kubeconfig = str(self.kubeconfig)
        args = [
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={port}",
            f"--cert-dir={self.workdir / 'kcm-certs'}",
            f"--service-account-private-key-file={self.pki.service_account_key}",
            f"--root-ca-file={self.pki.ca_cert}",
            f"--cluster-signing-cert-file={self.pki.ca_cert}",
            f"--cluster-signing-key-file={self.pki.ca_key}",
        ]
        self.kcm = _Server(
            "kube-controller-manager",
            assets.kube_controller_manager,
            args,
            self.workdir / "kube-controller-manager.log",
        )
        self.kcm.start()
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE  # its self-signed serving cert, on loopback
        deadline = time.monotonic() + self.start_timeout
        while True:
            if not self.kcm.alive():
                raise self.kcm.failure("exited during start")
            try:
                conn = http.client.HTTPSConnection("127.0.0.1", port, context=insecure, timeout=2)
                conn.request("GET", "/healthz")
                resp = conn.getresponse()
                resp.read()
                conn.close()
                if resp.status == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass
            if time.monotonic() > deadline:
                raise self.kcm.failure(f"was not healthy within {self.start_timeout:.0f} s")
            time.sleep(0.25)


class _PortClashError(Exception):
    pass


class ExistingCluster:
    """The cluster of the current kubeconfig (``USE_EXISTING_CLUSTER=1``).

    Has the parts of :class:`ControlPlane`'s interface that tests use
    (``kubeconfig``, ``context``, ``check_healthy``, ``stop``); nothing is started
    or stopped.

    Example:

        >>> cluster = ExistingCluster()  # doctest: +SKIP
        >>> cluster.kubeconfig  # doctest: +SKIP
        PosixPath('/home/me/.kube/config')
    """

    start_seconds: float | None = None

    def __init__(self, kubeconfig: Path | None = None, context: str | None = None) -> None:
        env = os.environ.get("KUBECONFIG", "")
        first = env.split(os.pathsep)[0] if env else ""
        self.kubeconfig: Path = kubeconfig or Path(first or Path.home() / ".kube" / "config")
        self.context = context
        if not self.kubeconfig.is_file():
            raise ControlPlaneError(
                f"USE_EXISTING_CLUSTER is set but there is no kubeconfig at {self.kubeconfig}"
            )

    def check_healthy(self) -> None:
        """Nothing to check: the cluster is not ours."""

    def stop(self) -> None:
        """Nothing to stop: the cluster is not ours."""


def env_flag(name: str, environ: Mapping[str, str] = os.environ) -> bool:
    """True when the environment variable is set to a true value."""
    return environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}
