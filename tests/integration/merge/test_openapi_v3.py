"""The built-in table agrees with what a real kube-apiserver 1.37 serves at /openapi/v3."""

from __future__ import annotations

from typing import Any

import pytest

from reconcile.schema import Node, SchemaRegistry, for_kind

from .control_plane import APIServer

pytestmark = pytest.mark.integration


def _signature(node: Node, depth: int = 0) -> Any:
    if depth > 8:
        return node.kind
    out: dict[str, Any] = {
        "k": node.kind,
        "lt": node.list_type,
        "lk": node.list_map_keys,
        "mt": node.map_type,
        "q": node.quantity,
        "i": node.int_or_string,
    }
    if node.kind == "struct":
        out["f"] = {
            n: (m.patch_strategies, m.merge_key, _signature(m.node, depth + 1))
            for n, m in sorted(node.fields.items())
        }
    if node.items is not None:
        out["items"] = _signature(node.items, depth + 1)
    if node.values is not None:
        out["values"] = _signature(node.values, depth + 1)
    return out


def _diff(a: Any, b: Any, path: str = "") -> list[str]:
    if type(a) is not type(b):
        return [f"{path}: {a!r} != {b!r}"]
    if isinstance(a, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            if k not in a or k not in b:
                out.append(f"{path}.{k}: only in {'server' if k in a else 'table'}")
            else:
                out.extend(_diff(a[k], b[k], f"{path}.{k}"))
        return out
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def test_openapi_v3_of_a_real_server_agrees_with_the_table(api_server: APIServer) -> None:
    index = api_server.request("GET", "/openapi/v3")["paths"]
    learnt = 0
    problems: list[str] = []
    for path, ref in sorted(index.items()):
        if not (path.startswith("apis/") or path == "api/v1"):
            continue
        doc = api_server.request("GET", ref["serverRelativeURL"])
        reg = SchemaRegistry()
        for api_version, kind in reg.add_openapi_v3(doc):
            served = reg.for_kind(api_version, kind)
            table = for_kind(api_version, kind)
            if table is None or served is None or table.name.startswith("meta."):
                continue
            learnt += 1
            problems.extend(
                f"{api_version} {kind}{p}" for p in _diff(_signature(served), _signature(table))
            )
    assert learnt > 100
    assert not problems, "\n".join(problems[:40])
