"""The ``reconcile`` command line (install the ``cli`` extra).

Commands: ``plan``, ``diff``, ``sync``, ``run`` and ``inventory``; see
``reconcile --help``. Exit codes: 0 in sync, 2 drift found, 1 error.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``reconcile`` command."""
    try:
        import click
        import rich  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the environment
        print(
            "The reconcile CLI needs its extra: pip install 'reconcile[cli]'",
            file=sys.stderr,
        )
        return 1
    from reconcile.cli._app import cli

    try:
        code: Any = cli.main(args=argv, prog_name="reconcile", standalone_mode=False)
    except SystemExit as exc:
        code = exc.code
    except click.exceptions.Abort:
        return 1
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    return code if isinstance(code, int) else (0 if code is None else 1)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
