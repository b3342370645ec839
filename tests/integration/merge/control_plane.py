"""A minimal etcd + kube-apiserver on loopback, for the merge tests that need real answers.

Binaries come from ``KUBEBUILDER_ASSETS`` or ``~/.cache/reconcile/k8s/1.37*/``
(where CI's ``nox -s assets`` puts them). ``reconcile.testing`` will own the
shared launcher; this one only serves OpenAPI documents and server defaults.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TOKEN = "merge-core-test-token"


def find_binaries() -> Path | None:
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    candidates = [Path(assets)] if assets else []
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "reconcile" / "k8s"
    candidates += sorted(cache.glob("1.37*"), reverse=True)
    for d in candidates:
        if (d / "kube-apiserver").is_file() and (d / "etcd").is_file():
            return d
    return None


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class APIServer:
    def __init__(self, url: str) -> None:
        self.url = url
        self._ctx = ssl.create_default_context()
        self._ctx.check_hostname = False
        self._ctx.verify_mode = ssl.CERT_NONE

    def request(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)  # noqa: S310
        req.add_header("Authorization", f"Bearer {TOKEN}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        with urllib.request.urlopen(req, context=self._ctx, timeout=30) as resp:  # noqa: S310
            raw = resp.read()
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode(errors="replace")


@contextmanager
def control_plane(bin_dir: Path, work: Path) -> Iterator[APIServer]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sa_key = work / "sa.key"
    sa_key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    (work / "tokens.csv").write_text(f'{TOKEN},admin,admin,"system:masters"\n')
    etcd_port, peer_port, api_port = _port(), _port(), _port()
    logs = (work / "etcd.log").open("wb"), (work / "apiserver.log").open("wb")
    etcd = subprocess.Popen(
        [
            str(bin_dir / "etcd"),
            f"--data-dir={work / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{etcd_port}",
            f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
            f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-cluster=default=http://127.0.0.1:{peer_port}",
            "--log-level=error",
        ],
        stdout=logs[0],
        stderr=subprocess.STDOUT,
    )
    api = subprocess.Popen(
        [
            str(bin_dir / "kube-apiserver"),
            f"--etcd-servers=http://127.0.0.1:{etcd_port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={api_port}",
            f"--cert-dir={work / 'certs'}",
            f"--token-auth-file={work / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={sa_key}",
            f"--service-account-signing-key-file={sa_key}",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--disable-admission-plugins=ServiceAccount",
            "--allow-privileged=true",
            "--endpoint-reconciler-type=none",
        ],
        stdout=logs[1],
        stderr=subprocess.STDOUT,
    )
    server = APIServer(f"https://127.0.0.1:{api_port}")
    try:
        deadline = time.monotonic() + 120
        while True:
            if api.poll() is not None or etcd.poll() is not None:
                tail = (work / "apiserver.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"the control plane exited:\n{tail}")
            try:
                server.request("GET", "/readyz")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield server
    finally:
        for proc in (api, etcd):
            proc.terminate()
        for proc in (api, etcd):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in logs:
            log.close()
