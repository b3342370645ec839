"""Git source benchmark: every backend side by side with plain git, in one run.

A generated repository (10,000 files, 1,000 commits by default) is served by
``git daemon`` on loopback. For each backend:

- **cold**: ``GitSource.fetch()`` into an empty cache (ls-remote, shallow
  fetch, checkout into a new read-only directory, checksum), against plain
  ``git clone --depth 1`` (fetch + checkout);
- **incremental**: one new upstream commit, then ``GitSource.fetch()`` again,
  against plain ``git fetch --depth 1`` + ``git checkout`` in a clone (the fair
  peer: it updates one working tree in place, where each of our revisions gets
  its own immutable directory); and the object transfer alone (the backend's
  ``fetch`` step) against a bare ``git fetch``. The first update after a cold
  start (``incr1``) builds a second directory beside the first, a file
  operation per file and directory; later ones (``incr``, the steady state)
  recycle the directory that garbage collection retires and touch only what
  changed.

Run: ``python -m benchmarks sources`` (or ``python benchmarks/sources.py``);
``--files``, ``--commits``, ``--repeat``, ``--backends`` make it smaller or
larger. Prints a table with ratios to plain git and writes
``benchmarks/results/sources.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anyio

from reconcile.sources.git import (
    Connection,
    GitBackend,
    GitSource,
    RemoteRefs,
    TreeEntry,
    Want,
    get_backend,
)
from reconcile.sources.git import backend_names as available_backends

RESULTS = Path(__file__).resolve().parent / "results"
GIT_ENV = {
    **os.environ,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


def git(*args: str, cwd: Path | None = None, stdin: bytes | None = None) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=GIT_ENV, input=stdin, capture_output=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {proc.stderr.decode()}")
    return proc.stdout.decode().strip()


_HEAD = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"


def generate(bare: Path, files: int, commits: int) -> None:
    """Create the repository with ``git fast-import``: ``files`` files, ``commits`` commits."""
    git("init", "-q", "--bare", "-b", "main", str(bare))
    out: list[bytes] = []
    ts = 1_700_000_000

    def blob(text: str) -> bytes:
        data = text.encode()
        return b"data %d\n%s\n" % (len(data), data)

    for c in range(commits):
        msg = f"commit {c}".encode()
        out.append(b"commit refs/heads/main\n")
        out.append(b"committer bench <bench@example.com> %d +0000\n" % (ts + c))
        out.append(b"data %d\n%s\n" % (len(msg), msg))
        if c == 0:
            for i in range(files):
                path = f"apps/team{i % 50:02d}/svc{i // 50:03d}/config-{i}.yaml"
                content = f"{_HEAD}  name: cm-{i}\ndata:\n  k: '{i}'\n"
                out.append(b"M 100644 inline " + path.encode() + b"\n" + blob(content))
        else:
            i = (c * 7919) % files
            path = f"apps/team{i % 50:02d}/svc{i // 50:03d}/config-{i}.yaml"
            content = f"{_HEAD}  name: cm-{i}\ndata:\n  k: 'rev{c}'\n"
            out.append(b"M 100644 inline " + path.encode() + b"\n" + blob(content))
        out.append(b"\n")
    git("fast-import", "--quiet", cwd=bare, stdin=b"".join(out))
    git("repack", "-adq", cwd=bare)


def add_commit(bare: Path, work: Path, n: int) -> None:
    """One more upstream commit changing one file."""
    (work / "apps/team00/svc000/config-0.yaml").write_text(f"changed: {n}\n")
    git("commit", "-qam", f"bench change {n}", cwd=work)
    git("push", "-q", str(bare), "HEAD:main", cwd=work)


class Timing:
    """Delegates to a real backend and records how long each step took."""

    def __init__(self, inner: GitBackend) -> None:
        self.inner = inner
        self.name = inner.name
        self.times: dict[str, float] = {}
        # The optional capabilities a backend may have (the CLI has them all).
        if hasattr(inner, "checkout_entries"):
            self.checkout_entries = self._checkout_entries
        if hasattr(inner, "fetch_ref"):
            self.fetch_ref = self._fetch_ref
        if hasattr(inner, "diff_tree"):
            self.diff_tree = self._diff_tree

    async def _checkout_entries(self, repo: Path, entries: Sequence[TreeEntry], root: Path) -> None:
        await self._t("export", self.inner.checkout_entries(repo, entries, root))  # type: ignore[attr-defined]

    async def _fetch_ref(self, conn: Connection, repo: Path, ref: str, *, depth: int | None) -> str:
        sha: str = await self._t("fetch", self.inner.fetch_ref(conn, repo, ref, depth=depth))  # type: ignore[attr-defined]
        return sha

    async def _diff_tree(self, repo: Path, old: str, new: str) -> Any:
        return await self._t("export", self.inner.diff_tree(repo, old, new))  # type: ignore[attr-defined]

    async def _t(self, key: str, coro: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return await coro
        finally:
            self.times[key] = self.times.get(key, 0.0) + time.perf_counter() - t0

    async def ls_remote(self, conn: Connection) -> RemoteRefs:
        result: RemoteRefs = await self._t("ls_remote", self.inner.ls_remote(conn))
        return result

    async def fetch(
        self, conn: Connection, repo: Path, wants: Sequence[Want], *, depth: int | None
    ) -> None:
        await self._t("fetch", self.inner.fetch(conn, repo, wants, depth=depth))

    async def has_commit(self, repo: Path, sha: str) -> bool:
        return await self.inner.has_commit(repo, sha)

    async def is_ancestor(self, repo: Path, ancestor: str, descendant: str) -> bool:
        return await self.inner.is_ancestor(repo, ancestor, descendant)

    async def list_tree(self, repo: Path, commit: str) -> list[TreeEntry]:
        result: list[TreeEntry] = await self._t("export", self.inner.list_tree(repo, commit))
        return result

    async def read_blobs(
        self, repo: Path, oids: Sequence[str], sink: Callable[[int, bytes], None]
    ) -> None:
        await self._t("export", self.inner.read_blobs(repo, oids, sink))

    async def read_object(self, repo: Path, sha: str) -> tuple[str, bytes]:
        return await self.inner.read_object(repo, sha)


def _timed(fn: Any) -> float:
    os.sync()  # the previous step's writeback must not land in this measurement
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


#: Incremental fetches measured after the first one (steady state: the median).
STEADY = 3


def plain_git(url: str, bare: Path, work: Path, tmp: Path, n: int) -> dict[str, float]:
    """The fair peer: ``git clone --depth 1``, then ``git fetch`` + ``git checkout`` per commit."""
    clone = tmp / f"plain-{n}"
    cold = _timed(lambda: git("clone", "-q", "--depth", "1", "--no-tags", url, str(clone)))
    incr: list[float] = []
    fetches: list[float] = []
    for k in range(1 + STEADY):
        add_commit(bare, work, n * 100 + k)
        fetch = _timed(
            lambda: git("fetch", "-q", "--depth", "1", "--no-tags", "origin", "main", cwd=clone)
        )
        checkout = _timed(lambda: git("checkout", "-q", "--detach", "FETCH_HEAD", cwd=clone))
        incr.append(fetch + checkout)
        fetches.append(fetch)
    return {
        "cold": cold,
        "first": incr[0],
        "incremental": statistics.median(incr[1:]),
        "transfer": statistics.median(fetches[1:]),
    }


def ours(backend: str, url: str, bare: Path, work: Path, tmp: Path, n: int) -> dict[str, float]:
    """``GitSource.fetch()``: cold, the first incremental, then the steady state."""
    timing = Timing(get_backend(backend))
    cache = tmp / f"{backend}-{n}"
    src = GitSource(url, backend=timing, cache_dir=cache, branch="main", timeout=600)
    cold = _timed(lambda: anyio.run(src.fetch))
    incr: list[float] = []
    transfers: list[float] = []
    exports: list[float] = []
    for k in range(1 + STEADY):
        add_commit(bare, work, n * 100 + k)
        timing.times.clear()
        incr.append(_timed(lambda: anyio.run(src.fetch)))
        transfers.append(timing.times.get("fetch", 0.0))
        exports.append(timing.times.get("export", 0.0))
    unchanged = _timed(lambda: anyio.run(src.fetch))
    return {
        "cold": cold,
        "first": incr[0],
        "incremental": statistics.median(incr[1:]),
        "transfer": statistics.median(transfers[1:]),
        "export": statistics.median(exports[1:]),
        "unchanged": unchanged,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks sources", description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--commits", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backends", default=",".join(available_backends()))
    args = parser.parse_args(argv)
    backends = [b for b in args.backends.split(",") if b]
    if shutil.which("git") is None:
        print("git is not installed: plain git is the baseline, nothing to compare")
        return 1
    with tempfile.TemporaryDirectory(prefix="rbench-") as tmp_s:
        tmp = Path(tmp_s)
        served = tmp / "served"
        served.mkdir()
        bare = served / "bench.git"
        t0 = time.perf_counter()
        generate(bare, args.files, args.commits)
        took = time.perf_counter() - t0
        print(f"generated {args.files} files, {args.commits} commits in {took:.1f}s")
        work = tmp / "work"
        git("clone", "-q", "--depth", "1", str(bare.as_uri()), str(work))
        port = _free_port()
        daemon = subprocess.Popen(
            ["git", "daemon", "--reuseaddr", "--export-all", f"--base-path={served}",
             "--listen=127.0.0.1", f"--port={port}", str(served)],
            env=GIT_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.05)
            url = f"git://127.0.0.1:{port}/bench.git"
            runs: dict[str, list[dict[str, float]]] = {"git": [], **{b: [] for b in backends}}
            n = 0
            # Nothing is deleted until the end: mass deletions (and the discards
            # they cause) would slow down whichever measurement follows them.
            for _ in range(args.repeat):
                # Interleave the peers so that machine noise hits all of them alike.
                n += 1
                runs["git"].append(plain_git(url, bare, work, tmp, n))
                for b in backends:
                    n += 1
                    runs[b].append(ours(b, url, bare, work, tmp, n))
        finally:
            daemon.terminate()
            daemon.wait()
            from reconcile.sources._tree import remove_tree

            for child in tmp.iterdir():  # artifacts are read-only: rmtree alone fails as non-root
                remove_tree(child)
    med = {
        peer: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for peer, rs in runs.items()
    }
    base = med["git"]
    header = (
        f"{'peer':<10}{'cold s':>9}{'x git':>7}{'incr1 s':>9}{'x git':>7}{'incr s':>9}{'x git':>7}"
        f"{'xfer s':>9}{'x git':>7}{'incr x fetch':>13}{'export s':>10}{'noop s':>9}"
    )
    print(header)
    print("-" * len(header))
    for peer, m in med.items():
        print(
            f"{peer:<10}{m['cold']:>9.3f}{m['cold'] / base['cold']:>7.2f}"
            f"{m['first']:>9.3f}{m['first'] / base['first']:>7.2f}"
            f"{m['incremental']:>9.3f}{m['incremental'] / base['incremental']:>7.2f}"
            f"{m['transfer']:>9.3f}{m['transfer'] / base['transfer']:>7.2f}"
            f"{m['incremental'] / base['transfer']:>13.2f}"
            f"{m.get('export', float('nan')):>10.3f}{m.get('unchanged', float('nan')):>9.3f}"
        )
    print(
        "cold: clone/fetch+checkout into an empty cache (git: clone --depth 1). "
        "incr1: the first one-commit update after cold; incr: the steady state, median of "
        f"{STEADY} more (git: fetch --depth 1 + checkout of a working tree; ours: ls-remote, "
        "fetch, a new immutable directory, checksum). xfer: the object transfer alone. "
        "incr x fetch: incr against a bare `git fetch`. noop: fetch when HEAD did not move "
        "(one ls-remote)."
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "sources.json"
    out.write_text(
        json.dumps(
            {
                "benchmark": "sources",
                "files": args.files,
                "commits": args.commits,
                "repeat": args.repeat,
                "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
                "git": git("--version"),
                "median_seconds": med,
                "ratio_to_git": {
                    peer: {k: m[k] / base[k] for k in ("cold", "first", "incremental", "transfer")}
                    for peer, m in med.items()
                },
                "runs": runs,
            },
            indent=2,
        )
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
