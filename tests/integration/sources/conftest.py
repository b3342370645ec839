"""Real git servers on loopback, started by fixtures.

- ``git daemon`` serving ``git://127.0.0.1:<port>/<repo>.git``
- ``git http-backend`` behind a TLS server (a self-signed CA made with
  ``cryptography``) at ``https://127.0.0.1:<port>/<mode>/<repo>.git``, where
  ``<mode>`` is ``open`` (no auth), ``basic`` (user ``reconciler``) or
  ``bearer``; the server can cut a response mid-body to test faults.
- OpenSSH ``sshd`` on a loopback port with key auth and a known host key.

Upstream repositories are made with the real ``git`` and signed with the real
``gpg`` and ``ssh-keygen``. Missing tools: ``skip_or_fail``.
"""

from __future__ import annotations

import base64
import datetime
import getpass
import gzip
import http.server
import ipaddress
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from reconcile.sources.git import HTTPSAuth, SSHAuth, backend_names
from reconcile.testing import skip_or_fail

BASIC_USER = "reconciler"
BASIC_PASSWORD = "pa55-w0rd-never-logged"
BEARER_TOKEN = "tok-3e1f9c5b-never-logged"
SSH_PASSPHRASE = "phrase-7a1-never-logged"
ALL_SECRETS = (BASIC_PASSWORD, BEARER_TOKEN, SSH_PASSPHRASE)


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        skip_or_fail(f"{tool} is not installed (.ci/setup.d/30-git-servers.sh installs it)")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_port(port: int, proc: subprocess.Popen[bytes] | None, what: str) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            out = proc.stderr.read().decode() if proc.stderr else ""
            pytest.fail(f"{what} exited with {proc.returncode}: {out}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"{what} did not listen on 127.0.0.1:{port}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_TERMINAL_PROMPT": "0",
}


def git(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    """Run git for test setup; fail the test with its stderr."""
    full_env = {**os.environ, **GIT_ENV, **(env or {})}
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=full_env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout.strip()


@attrs.define
class Signer:
    """Keys that sign commits and tags in the tests."""

    gnupghome: Path
    gpg_fpr: str
    gpg_public: str
    ssh_key: Path
    ssh_public: str
    #: Keys of someone else: valid, but not the signer's.
    other_gpg_public: str = ""
    other_ssh_public: str = ""

    def git_config(self, kind: str) -> tuple[list[str], dict[str, str]]:
        if kind == "gpg":
            return (
                ["-c", "gpg.format=openpgp", "-c", f"user.signingkey={self.gpg_fpr}"],
                {"GNUPGHOME": str(self.gnupghome)},
            )
        return (["-c", "gpg.format=ssh", "-c", f"user.signingkey={self.ssh_key}"], {})


@attrs.define
class Upstream:
    """A repository served by every server: a work tree pushing to a bare repo."""

    name: str
    bare: Path
    work: Path
    signer: Signer | None = None

    def write(self, files: dict[str, str | bytes | None]) -> None:
        for rel, content in files.items():
            path = self.work / rel
            if content is None:
                if path.is_symlink() or path.exists():
                    path.unlink()
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)

    def commit(
        self, files: dict[str, str | bytes | None], message: str = "change", sign: str | None = None
    ) -> str:
        """Write files (None deletes), commit, push; return the commit SHA."""
        self.write(files)
        git("add", "-A", cwd=self.work)
        extra: list[str] = []
        env: dict[str, str] = {}
        if sign is not None:
            assert self.signer is not None
            extra, env = self.signer.git_config(sign)
        git(*extra, "commit", "-q", "--allow-empty", "-m", message, *(["-S"] if sign else []),
            cwd=self.work, env=env)  # fmt: skip
        self.push()
        return git("rev-parse", "HEAD", cwd=self.work)

    def add_submodule(self, path: str, url: str, commit: str) -> str:
        """Record a submodule (gitlink + ``.gitmodules``) without cloning it; commit, push."""
        (self.work / path).mkdir(parents=True, exist_ok=True)
        git("update-index", "--add", "--cacheinfo", f"160000,{commit},{path}", cwd=self.work)
        gitmodules = self.work / ".gitmodules"
        text = gitmodules.read_text() if gitmodules.exists() else ""
        text += f'[submodule "{path}"]\n\tpath = {path}\n\turl = {url}\n'
        return self.commit({".gitmodules": text}, f"submodule {path}")

    def symlink(self, rel: str, target: str) -> str:
        path = self.work / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, path)
        return self.commit({}, f"symlink {rel}")

    def tag(self, name: str, *, annotated: bool = True, sign: str | None = None) -> str:
        extra: list[str] = []
        env: dict[str, str] = {}
        if sign is not None:
            assert self.signer is not None
            extra, env = self.signer.git_config(sign)
            git(*extra, "tag", "-s", "-m", f"release {name}", name, cwd=self.work, env=env)
        elif annotated:
            git("tag", "-a", "-m", f"release {name}", name, cwd=self.work)
        else:
            git("tag", name, cwd=self.work)
        self.push()
        return git("rev-parse", f"{name}^{{commit}}", cwd=self.work)

    def branch(self, name: str, start: str = "HEAD") -> None:
        git("branch", "-f", name, start, cwd=self.work)
        self.push()

    def checkout(self, name: str) -> None:
        git("checkout", "-q", name, cwd=self.work)

    def set_ref(self, ref: str, sha: str) -> None:
        git("update-ref", ref, sha, cwd=self.bare)

    def push(self) -> None:
        git("push", "-q", "--force", "--mirror", str(self.bare), cwd=self.work)


@attrs.define
class Servers:
    root: Path
    git_port: int | None = None
    https_port: int | None = None
    ssh_port: int | None = None
    ssh_known_hosts: str = ""
    ssh_user: str = ""
    ca_pem: bytes = b""
    https: Any = None


@pytest.fixture(scope="session")
def served_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _need("git")
    return tmp_path_factory.mktemp("served")


@pytest.fixture(scope="session")
def signer(tmp_path_factory: pytest.TempPathFactory) -> Signer:
    gpg = _need("gpg")
    keygen = _need("ssh-keygen")
    # gpg-agent's socket path must be short: use a short directory under /tmp.
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="g"))
    os.chmod(home, 0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    subprocess.run(
        [gpg, "--batch", "--passphrase", "", "--quick-gen-key", "Signer <signer@example.com>",
         "ed25519", "sign", "never"],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    out = subprocess.run(
        [gpg, "--batch", "--with-colons", "--list-secret-keys"],
        env=env, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    fpr = next(line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:"))
    public = subprocess.run(
        [gpg, "--batch", "--armor", "--export", fpr], env=env, check=True, capture_output=True,
        text=True,
    ).stdout  # fmt: skip
    other_home = Path(tempfile.mkdtemp(prefix="g"))
    os.chmod(other_home, 0o700)
    other_env = {**os.environ, "GNUPGHOME": str(other_home)}
    subprocess.run(
        [gpg, "--batch", "--passphrase", "", "--quick-gen-key", "Other <other@example.com>",
         "ed25519", "sign", "never"],
        env=other_env, check=True, capture_output=True,
    )  # fmt: skip
    other_public = subprocess.run(
        [gpg, "--batch", "--armor", "--export"], env=other_env, check=True, capture_output=True,
        text=True,
    ).stdout  # fmt: skip
    tmp = tmp_path_factory.mktemp("sshsign")
    key = tmp / "signing"
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    other = tmp / "other"
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    return Signer(
        home,
        fpr,
        public,
        key,
        (tmp / "signing.pub").read_text().strip(),
        other_gpg_public=other_public,
        other_ssh_public=(tmp / "other.pub").read_text().strip(),
    )


_counter = iter(range(1_000_000))


@pytest.fixture
def upstream_factory(served_root: Path, tmp_path: Path, signer: Signer) -> Any:
    """Make fresh upstream repositories (served by every server), each with one commit."""

    def make(files: dict[str, str | bytes | None] | None = None) -> Upstream:
        name = f"repo{next(_counter)}"
        bare = served_root / f"{name}.git"
        git("init", "-q", "--bare", "-b", "main", str(bare))
        git("config", "uploadpack.allowAnySHA1InWant", "true", cwd=bare)
        work = tmp_path / f"{name}-work"
        git("init", "-q", "-b", "main", str(work))
        up = Upstream(name, bare, work, signer)
        initial = files or {"README.md": "# demo\n", "deploy/app.yaml": "kind: ConfigMap\n"}
        up.commit(initial, "initial")
        return up

    return make


@pytest.fixture
def upstream(upstream_factory: Any) -> Upstream:
    """A fresh upstream repository with one commit on ``main``."""
    up: Upstream = upstream_factory()
    return up


# --- git daemon --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def git_daemon(served_root: Path) -> Iterator[int]:
    _need("git")
    port = _free_port()
    args = [
        "git", "daemon", "--reuseaddr", "--export-all", f"--base-path={served_root}",
        "--listen=127.0.0.1", f"--port={port}", "--informative-errors", str(served_root),
    ]  # fmt: skip
    proc = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, **GIT_ENV}
    )
    try:
        _wait_port(port, proc, "git daemon")
        yield port
    finally:
        _stop(proc)


# --- HTTPS + git http-backend ------------------------------------------------------------


def _make_tls(tmp: Path) -> tuple[bytes, Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "reconcile test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.OID_SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_file = tmp / "server.pem"
    key_file = tmp / "server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca.public_bytes(serialization.Encoding.PEM), cert_file, key_file


class HTTPSControl:
    """Knobs the tests turn on the HTTPS server (faults)."""

    def __init__(self) -> None:
        self.cut_after: int | None = None  # bytes of a pack response, then close
        self.delay: float = 0.0
        self.requests: list[str] = []
        self.auth_headers: list[str] = []
        self.lock = threading.Lock()

    def reset(self) -> None:
        self.cut_after = None
        self.delay = 0.0
        self.requests.clear()
        self.auth_headers.clear()


def _handler(root: Path, control: HTTPSControl) -> type[http.server.BaseHTTPRequestHandler]:
    backend = str(
        Path(subprocess.check_output(["git", "--exec-path"], text=True).strip())
        / "git-http-backend"
    )
    good_basic = "Basic " + base64.b64encode(f"{BASIC_USER}:{BASIC_PASSWORD}".encode()).decode()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                data = bytearray()
                while True:
                    size = int(self.rfile.readline().strip().split(b";")[0], 16)
                    if size == 0:
                        self.rfile.readline()
                        break
                    data += self.rfile.read(size)
                    self.rfile.readline()
                return bytes(data)
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _serve(self) -> None:
            path, _, query = self.path.partition("?")
            with control.lock:
                control.requests.append(self.path)
                control.auth_headers.append(self.headers.get("Authorization") or "")
            mode, _, rest = path.lstrip("/").partition("/")
            auth = self.headers.get("Authorization") or ""
            if (mode == "basic" and auth != good_basic) or (
                mode == "bearer" and auth != f"Bearer {BEARER_TOKEN}"
            ):
                self._body()
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if mode not in {"open", "basic", "bearer"}:
                self.send_error(404)
                return
            body = self._body()
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "GIT_PROJECT_ROOT": str(root),
                "GIT_HTTP_EXPORT_ALL": "1",
                "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_CONFIG_GLOBAL": os.devnull,
                "REQUEST_METHOD": self.command,
                "PATH_INFO": "/" + rest,
                "QUERY_STRING": query,
                "CONTENT_TYPE": self.headers.get("Content-Type") or "",
                "CONTENT_LENGTH": str(len(body)),
                "REMOTE_USER": BASIC_USER if mode == "basic" else "",
                "REMOTE_ADDR": "127.0.0.1",
                "GIT_PROTOCOL": self.headers.get("Git-Protocol") or "",
            }
            if control.delay:
                time.sleep(control.delay)
            proc = subprocess.run([backend], input=body, env=env, capture_output=True, check=False)
            head, _, payload = proc.stdout.partition(b"\r\n\r\n")
            status = 200
            headers: list[tuple[str, str]] = []
            for line in head.decode("latin-1").split("\r\n"):
                if not line:
                    continue
                key, _, value = line.partition(":")
                if key.lower() == "status":
                    status = int(value.strip().split()[0])
                else:
                    headers.append((key, value.strip()))
            self.send_response(status)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            cut = control.cut_after
            if cut is not None and self.command == "POST" and len(payload) > cut:
                self.close_connection = True
                self.wfile.write(payload[:cut])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

    return Handler


@pytest.fixture(scope="session")
def https_server(
    served_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[int, bytes, HTTPSControl]]:
    _need("git")
    tmp = tmp_path_factory.mktemp("tls")
    ca_pem, cert_file, key_file = _make_tls(tmp)
    control = HTTPSControl()

    class QuietServer(http.server.ThreadingHTTPServer):
        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # clients that give up (timeouts, cut connections) are expected

    server = QuietServer(("127.0.0.1", 0), _handler(served_root, control))
    server.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_file, key_file)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], ca_pem, control
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def https(
    https_server: tuple[int, bytes, HTTPSControl],
) -> Iterator[tuple[int, bytes, HTTPSControl]]:
    """The HTTPS server with its fault knobs reset after the test."""
    yield https_server
    https_server[2].reset()


# --- sshd --------------------------------------------------------------------------------


@attrs.define
class SSHServer:
    port: int
    user: str
    known_hosts: str
    key: Path
    key_with_passphrase: Path
    other_host_key_known_hosts: str

    def url(self, upstream: Upstream) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{upstream.bare}"

    def auth(self, *, passphrase: bool = False, known_hosts: str | None = None) -> SSHAuth:
        return SSHAuth(
            private_key=self.key_with_passphrase if passphrase else self.key,
            passphrase=SSH_PASSPHRASE if passphrase else None,
            known_hosts=self.known_hosts if known_hosts is None else known_hosts,
        )


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHServer]:
    sshd_bin = shutil.which("sshd") or (
        "/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else None
    )
    if sshd_bin is None:
        skip_or_fail(
            "sshd is not installed (.ci/setup.d/30-git-servers.sh installs openssh-server)"
        )
    keygen = _need("ssh-keygen")
    _need("ssh")
    tmp = tmp_path_factory.mktemp("sshd")
    for name, pw in (
        ("host", ""),
        ("other_host", ""),
        ("client", ""),
        ("client_pw", SSH_PASSPHRASE),
    ):
        subprocess.run(
            [keygen, "-q", "-t", "ed25519", "-N", pw, "-C", name, "-f", str(tmp / name)], check=True
        )
    authorized = tmp / "authorized_keys"
    authorized.write_text((tmp / "client.pub").read_text() + (tmp / "client_pw.pub").read_text())
    os.chmod(authorized, 0o600)
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    port = _free_port()
    user = getpass.getuser()
    config = tmp / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {tmp / 'host'}\n"
        f"PidFile {tmp / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {authorized}\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
        "PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n"
        f"AllowUsers {user}\nAcceptEnv GIT_PROTOCOL\nLogLevel ERROR\n"
        "PrintMotd no\nPrintLastLog no\n"
    )
    proc = subprocess.Popen(
        [sshd_bin, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        _wait_port(port, proc, "sshd")
        host_pub = " ".join((tmp / "host.pub").read_text().split()[:2])
        other_pub = " ".join((tmp / "other_host.pub").read_text().split()[:2])
        yield SSHServer(
            port=port,
            user=user,
            known_hosts=f"[127.0.0.1]:{port} {host_pub}\n",
            key=tmp / "client",
            key_with_passphrase=tmp / "client_pw",
            other_host_key_known_hosts=f"[127.0.0.1]:{port} {other_pub}\n",
        )
    finally:
        _stop(proc)


# --- transports and backends -------------------------------------------------------------


@attrs.define
class Transport:
    """How to reach an upstream: URL and auth for one server."""

    name: str
    url_for: Any
    auth: Any = None

    def url(self, upstream: Upstream) -> str:
        return str(self.url_for(upstream))


TRANSPORTS = ["git", "https-basic", "https-bearer", "ssh"]


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> Transport:
    """Each real server in turn."""
    name: str = request.param
    if name == "git":
        port = request.getfixturevalue("git_daemon")
        return Transport(name, lambda up: f"git://127.0.0.1:{port}/{up.name}.git")
    if name.startswith("https"):
        port, ca, _ = request.getfixturevalue("https")
        mode = name.split("-")[1]
        auth = (
            HTTPSAuth(username=BASIC_USER, password=BASIC_PASSWORD, ca_bundle=ca)
            if mode == "basic"
            else HTTPSAuth(bearer_token=BEARER_TOKEN, ca_bundle=ca)
        )
        return Transport(name, lambda up: f"https://127.0.0.1:{port}/{mode}/{up.name}.git", auth)
    server: SSHServer = request.getfixturevalue("sshd")
    return Transport(name, server.url, server.auth())


BACKENDS = ["cli", "dulwich", "pygit2"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each backend in turn; one absent here skips (fails in CI)."""
    name: str = request.param
    if name not in backend_names():
        skip_or_fail(f"git backend {name!r} is not available")
    return name


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect pygit2 over ssh: the backend refuses it by design (no known_hosts control)."""
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if params.get("backend") == "pygit2" and params.get("transport") == "ssh":
            dropped.append(item)
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
