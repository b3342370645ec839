"""The generated schema table against the Go types Kubernetes' strategic merge patch reads.

The table comes from the OpenAPI definitions; Go's strategic merge patch reads
the ``patchStrategy`` and ``patchMergeKey`` struct tags of the k8s.io/api
types. The oracle walks those types by reflection; both must agree on every
field of every kind, and on which kinds kubectl patches strategically.
"""

from __future__ import annotations

from typing import Any

import pytest

from oracle import Oracle
from reconcile.schema import Node, builtin, for_kind, is_strategic

pytestmark = pytest.mark.integration


def _ours(
    node: Node, prefix: str = "", depth: int = 0, out: dict[str, Any] | None = None
) -> dict[str, Any]:
    out = {} if out is None else out
    if depth > 12:
        return out
    if node.kind == "struct":
        for name, meta in node.fields.items():
            path = f"{prefix}.{name}" if prefix else name
            out[path] = (",".join(meta.patch_strategies), meta.merge_key or "", meta.node.kind)
            _ours(meta.node, path, depth + 1, out)
    elif node.kind == "list" and node.items is not None:
        _ours(node.items, prefix + "[]", depth + 1, out)
    elif node.kind == "map" and node.values is not None:
        _ours(node.values, prefix + "*", depth + 1, out)
    return out


def _parent(path: str) -> str:
    cut = max(path.rfind("."), 0)
    return path[:cut]


def test_every_kind_and_field_agrees_with_the_go_types(oracle: Oracle) -> None:
    go_kinds = {k for k in oracle.one({"op": "kinds"})["result"] if "__internal" not in k}
    ours = {f"{a} {k}" for a, k in builtin().kinds()}
    # Kinds kubectl patches strategically are exactly the built-in kinds of client-go's
    # scheme. (DeleteOptions and WatchEvent are listed for every group in the OpenAPI,
    # also for groups client-go does not register; nobody applies them.)
    for key in sorted(ours):
        api_version, kind = key.split(" ", 1)
        node = for_kind(api_version, kind)
        if node is not None and node.name.startswith("meta."):
            continue
        assert is_strategic(api_version, kind) == (key in go_kinds), key
    checked = 0
    problems: list[str] = []
    for key in sorted(ours & go_kinds):
        api_version, kind = key.split(" ", 1)
        node = for_kind(api_version, kind)
        assert node is not None
        go = oracle.one({"op": "meta", "apiVersion": api_version, "kind": kind})["result"]
        mine = _ours(node)
        for path, meta in go.items():
            parent = _parent(path)
            if parent and parent not in mine and "." in path:
                continue  # below a type the schema treats as a scalar (Quantity, Time, ...)
            if path not in mine:
                if parent == "" or mine.get(parent, ("", "", ""))[2] == "struct":
                    problems.append(f"{key}: {path} is missing from the schema")
                continue
            strategy, merge_key, _ = mine[path]
            if (strategy, merge_key) != (meta.get("strategy", ""), meta.get("mergeKey", "")):
                problems.append(f"{key}: {path}: ours {strategy!r}/{merge_key!r}, Go {meta}")
            checked += 1
        for path in mine:
            if path not in go and _parent(path) in go:
                problems.append(f"{key}: {path} is not a field of the Go type")
    assert not problems, "\n".join(problems[:30])
    assert checked > 20_000
