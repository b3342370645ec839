"""Developer sessions: ``nox`` runs lint, typecheck and tests; see README.md."""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True
# CI points this at a cache under $HOME, so clean clones reuse the virtualenvs.
nox.options.envdir = os.environ.get("RECONCILE_NOX_ENVDIR", ".nox")
nox.options.default_venv_backend = "venv"

PYTHON = "3.11"
DEV = ".[dev]"


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Unit and integration tests (starts a real control plane and git servers)."""
    session.install("-e", DEV)
    args = session.posargs or ["tests"]
    session.run("pytest", *args)


@nox.session(python=PYTHON)
def assets(session: nox.Session) -> None:
    """Find or build the control-plane binaries (kube-apiserver, etcd, controller-manager)."""
    session.install("-e", DEV)
    session.run("python", "-m", "reconcile.testing", "build", "--controller-manager")


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check, ruff format --check, and the import-linter layering contracts."""
    session.install("-e", DEV)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("lint-imports")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict over src, tests and benchmarks."""
    session.install("-e", DEV)
    session.run("mypy")


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Docstring examples, the public API's typing, and the site (mkdocs --strict, offline)."""
    session.install("-e", ".[dev,docs]")
    session.run("pytest", "--doctest-modules", "src/reconcile", "-p", "no:reconcile")
    session.run("pytest", "-q", "tests/unit/test_typing.py")
    session.run(
        "mkdocs", "build", "--strict", "--site-dir", "site", env={"NO_MKDOCS_2_WARNING": "1"}
    )


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks side by side with peers; prints tables, writes benchmarks/results/."""
    session.install("-e", DEV)
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session(python=PYTHON)
def fuzz(session: nox.Session) -> None:
    """The long property-test run (a million generated cases and more)."""
    session.install("-e", DEV)
    session.run(
        "pytest", "-m", "slow", "tests", "-p", "no:cacheprovider", env={"RECONCILE_FUZZ": "1"}
    )
