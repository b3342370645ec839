"""Regenerate the built-in schema table from the Kubernetes 1.37 OpenAPI definitions.

Run ``python -m reconcile.schema._generate`` (needs the ``kubernetes-validate``
wheel of the dev extra, which ships the definitions with their
``x-kubernetes-*`` extensions); it rewrites ``k8s_1_37.json`` next to this
file. ``--check`` exits 1 when the committed table is stale.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from reconcile.schema._convert import convert_definitions

__all__ = ["build_table", "main"]

VERSION = "1.37.0"
OUT = Path(__file__).with_name("k8s_1_37.json")


def _definitions_path() -> Path:
    import kubernetes_validate

    root = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    return root / f"v{VERSION}-local" / "_definitions.json"


def build_table() -> bytes:
    """The table's bytes, generated from the installed kubernetes-validate wheel."""
    path = _definitions_path()
    raw = json.loads(path.read_text(encoding="utf-8"))
    definitions: dict[str, Any] = raw.get("$defs") or raw["definitions"]
    table = convert_definitions(definitions)
    table = {"version": VERSION, "source": f"kubernetes-validate v{VERSION}-local", **table}
    return (json.dumps(table, sort_keys=True, separators=(",", ":")) + "\n").encode()


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check``, verify) the committed table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail when the table is stale")
    args = parser.parse_args(argv)
    data = build_table()
    if args.check:
        if OUT.read_bytes() != data:
            print(f"{OUT} is stale; run python -m reconcile.schema._generate", file=sys.stderr)
            return 1
        return 0
    OUT.write_bytes(data)
    print(f"wrote {OUT} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
