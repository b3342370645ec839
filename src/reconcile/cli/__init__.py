"""The ``reconcile`` command line (install the ``cli`` extra)."""

from __future__ import annotations

import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``reconcile`` command."""
    try:
        import click  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the environment
        print(
            "The reconcile CLI needs its extra: pip install 'reconcile[cli]'",
            file=sys.stderr,
        )
        return 1
    print("reconcile: the command line arrives with the Reconciler.", file=sys.stderr)
    return 1
