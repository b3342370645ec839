"""``python -m benchmarks [PART ...] [-- ARGS]``: run benchmarks side by side with peers.

Each ``benchmarks/<part>.py`` has ``main(argv) -> int``; it prints a table with
ratios and writes JSON under ``benchmarks/results/``. Without a part, every
benchmark runs in turn.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def parts() -> list[str]:
    """The benchmark modules in this package."""
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))


def main(argv: list[str]) -> int:
    """Run the named benchmarks (all by default) and return the worst exit code."""
    if "--" in argv:
        split = argv.index("--")
        names, rest = argv[:split], argv[split + 1 :]
    else:
        names, rest = argv, []
    available = parts()
    unknown = [n for n in names if n not in available]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; available: {available}", file=sys.stderr)
        return 2
    worst = 0
    for name in names or available:
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"== benchmarks.{name}", flush=True)
        worst = max(worst, int(module.main(rest)))
    return worst


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
