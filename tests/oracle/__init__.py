"""The Go oracle: Kubernetes' own strategic/JSON merge patch code behind JSON lines.

``build()`` compiles ``main.go`` with the machine's Go into
``<reconcile cache>/oracle/<hash of the sources and Go version>/oracle`` (the cache is
``RECONCILE_CACHE_DIR``, else ``~/.cache/reconcile``)
(skipped when present); :class:`Oracle` runs it and answers batches of
requests (see ``main.go`` for the protocol). Used by the differential tests and
the merge benchmark; never shipped.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SOURCES = ("main.go", "go.mod", "go.sum")


class OracleUnavailableError(RuntimeError):
    """Go is missing or the oracle does not build."""


def cache_root() -> Path:
    """Where built oracles live: reconcile's cache (``RECONCILE_CACHE_DIR`` first).

    The same rule as :func:`reconcile.testing.cache_dir`, written out here because
    CI's setup script builds the oracle with a bare python3, before reconcile is
    installed.
    """
    explicit = os.environ.get("RECONCILE_CACHE_DIR")
    if explicit:
        return Path(explicit) / "oracle"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "reconcile" / "oracle"


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        for candidate in ("/usr/local/go/bin/go", "/usr/lib/go/bin/go"):
            if Path(candidate).exists():
                return candidate
        raise OracleUnavailableError("the Go toolchain (`go`) is not installed")
    return go


def build() -> Path:
    """The oracle binary, built on first use and cached by the hash of its sources."""
    go = _go()
    version = subprocess.run(
        [go, "version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    digest = hashlib.sha256(version.encode())
    for name in SOURCES:
        digest.update(name.encode() + b"\0" + (HERE / name).read_bytes())
    out_dir = cache_root() / digest.hexdigest()[:16]
    binary = out_dir / "oracle"
    if binary.exists():
        return binary
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f"oracle.tmp{os.getpid()}"
    env = {
        **os.environ,
        "GOFLAGS": "-mod=mod",
        "GOTOOLCHAIN": "local",
        "CGO_ENABLED": "0",
    }
    proc = subprocess.run(
        [go, "build", "-o", str(tmp), "."],
        cwd=HERE,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise OracleUnavailableError(f"go build failed:\n{proc.stderr[-4000:]}")
    tmp.replace(binary)
    return binary


class Oracle:
    """A running oracle process; :meth:`batch` sends many requests in one round trip."""

    def __init__(self, binary: Path) -> None:
        self.binary = binary
        self._proc = subprocess.Popen(
            [str(binary)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=1 << 20,
        )
        self._next = 0

    def batch(self, requests: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Answer each request (in order); each answer has ``result`` or ``error``."""
        import orjson

        proc = self._proc
        assert proc.stdin is not None
        assert proc.stdout is not None
        payload = b"".join(orjson.dumps(r) + b"\n" for r in requests)
        error: list[BaseException] = []

        def write() -> None:
            try:
                assert proc.stdin is not None
                proc.stdin.write(payload)
                proc.stdin.flush()
            except BaseException as e:  # pragma: no cover - surfaced below
                error.append(e)

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        answers = []
        for _ in requests:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"the oracle exited (status {proc.poll()})")
            answers.append(orjson.loads(line))
        writer.join()
        if error:
            raise error[0]
        return answers

    def one(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.batch([request])[0]

    def close(self) -> None:
        proc = self._proc
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> Oracle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def requests_for(op: str, cases: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"op": op, **case} for case in cases]


def load_corpus_objects(corpus: Path) -> list[tuple[str, dict[str, Any]]]:
    """Every Kubernetes object (a mapping with apiVersion and kind) of the corpus manifests.

    Returns ``(file:document, object)`` pairs. Unrendered Helm templates are
    skipped; a bare ``=`` (YAML 1.1's "value" tag) loads as the string ``"="``.
    """
    import orjson
    import yaml

    class Loader(yaml.CSafeLoader):
        pass

    def value_tag(loader: yaml.Loader, node: yaml.Node) -> str:
        return str(loader.construct_scalar(node))  # type: ignore[arg-type]

    Loader.add_constructor("tag:yaml.org,2002:value", value_tag)
    out: list[tuple[str, dict[str, Any]]] = []
    root = corpus / "manifests"
    for path in sorted(root.rglob("*")):
        if path.suffix not in (".yaml", ".yml", ".json") or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        if "templates" in path.parts and "{{" in text:
            continue
        docs = [orjson.loads(text)] if path.suffix == ".json" else yaml.load_all(text, Loader)
        for i, doc in enumerate(docs):
            if isinstance(doc, dict) and "apiVersion" in doc and "kind" in doc:
                # Through JSON, as objects reach the merge core (dates become strings).
                obj = orjson.loads(orjson.dumps(doc, default=str))
                out.append((f"{path.relative_to(root)}:{i}", obj))
    return out
