"""Client-side apply: the patch ``kubectl apply`` (without ``--server-side``) sends.

original = the last-applied annotation of the live object, modified = the
desired object (with its new annotation), current = the live object; the
three-way patch comes from the merge core (strategic for built-in kinds,
JSON merge patch for the others), exactly as kubectl computes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from reconcile.merge import create_apply_patch
from reconcile.schema import SchemaRegistry

__all__ = ["LAST_APPLIED", "client_side_patch"]

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def last_applied(live: Mapping[str, Any]) -> dict[str, Any] | None:
    """The parsed last-applied annotation of a live object, or None."""
    raw = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    if not raw:
        return None
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def client_side_patch(
    desired: Mapping[str, Any],
    live: Mapping[str, Any],
    schemas: SchemaRegistry,
    api_version: str = "",
    kind: str = "",
) -> tuple[dict[str, Any] | None, str]:
    """The patch and its content type; the patch is None when nothing would change."""
    original = last_applied(live)
    result = create_apply_patch(original, dict(desired), dict(live), registry=schemas)
    if result.in_sync:
        return None, result.content_type
    return result.patch, result.content_type
