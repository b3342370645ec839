"""Kubernetes ``Status`` responses to the typed errors of :mod:`reconcile.errors`.

The mapping reads the structured parts of a Status (``code``, ``reason``,
``details.causes[].type`` and ``.field``), never the top-level message.

>>> from reconcile.objects import ObjectRef
>>> ref = ObjectRef("v1", "Service", "web", "shop")
>>> status = {"kind": "Status", "code": 422, "reason": "Invalid",
...           "message": "Service \\"web\\" is invalid: spec.clusterIPs[0]: ...",
...           "details": {"causes": [{"reason": "FieldValueInvalid",
...                                   "message": "Invalid value: ...: may not change once set",
...                                   "field": "spec.clusterIPs[0]"}]}}
>>> err = error_from_status(422, status, ref=ref, verb="patch", resource="services")
>>> type(err).__name__, err.path
('ImmutableFieldError', 'spec.clusterIPs[0]')
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from reconcile.errors import (
    ApplyError,
    ConflictError,
    FieldConflict,
    ForbiddenError,
    ImmutableFieldError,
    InvalidError,
    NotFoundError,
    RetryableError,
)
from reconcile.objects import ObjectRef

__all__ = ["error_from_status", "immutable_causes", "is_retryable_status"]

_CONFLICT_MANAGER = re.compile(r'conflict with "((?:[^"\\]|\\.)*)"')

# The detail strings Kubernetes' validation attaches to a field cause when a
# field may not change (apimachinery's ValidateImmutableField and the Service,
# PersistentVolume and Job validators). They are the *cause's* detail, paired
# with its field path, not the free-form message of the Status.
_IMMUTABLE_DETAILS = (
    "field is immutable",
    "may not change once set",
    "cannot be changed",
    "is immutable",
    "updates to statefulset spec for fields other than",
    "spec: Forbidden: pod updates may not change fields",
)

_RETRYABLE = frozenset({429, 500, 502, 503, 504})
# A 500 is transient only when the server says so: by one of these reasons or
# a Retry-After. kube-apiserver answers deterministic failures it has no
# reason for (an apply that sets a field the schema does not declare) with a
# bare 500, and retrying those only delays the error.
_TRANSIENT_500_REASONS = frozenset({"InternalError", "ServerTimeout", "Timeout"})


def is_retryable_status(code: int) -> bool:
    """Whether an HTTP status is worth retrying (throttling, server errors).

    >>> is_retryable_status(429), is_retryable_status(503), is_retryable_status(422)
    (True, True, False)
    """
    return code in _RETRYABLE


def _causes(status: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    details = status.get("details")
    if not isinstance(details, Mapping):
        return []
    causes = details.get("causes")
    return [c for c in causes if isinstance(c, Mapping)] if isinstance(causes, list) else []


def immutable_causes(status: Mapping[str, Any]) -> list[str]:
    """The field paths of a 422 Status whose causes say the field may not change."""
    fields: list[str] = []
    for cause in _causes(status):
        if cause.get("reason") not in ("FieldValueInvalid", "FieldValueForbidden"):
            continue
        detail = str(cause.get("message", ""))
        if any(marker.lower() in detail.lower() for marker in _IMMUTABLE_DETAILS):
            fields.append(str(cause.get("field", "")))
    return fields


def error_from_status(
    code: int,
    status: Any,
    *,
    ref: ObjectRef | None = None,
    verb: str = "",
    resource: str = "",
    namespace: str | None = None,
    retry_after: float | None = None,
) -> ApplyError:
    """The typed error for a failed response.

    Args:
        code: the HTTP status code.
        status: the parsed body (a Kubernetes ``Status`` when the server sent one).
        ref: the object concerned.
        verb: the API verb (``get``, ``patch``, ``create``, ``update``, ``delete``, ``list``).
        resource: the resource with its group (``deployments.apps``).
        namespace: the namespace of the request.
        retry_after: seconds from a ``Retry-After`` header.
    """
    body: Mapping[str, Any] = status if isinstance(status, Mapping) else {}
    message = str(body.get("message") or (status if isinstance(status, str) else "")).strip()
    reason = str(body.get("reason") or "") or None
    details: dict[str, Any] = dict(body) if body else {"code": code, "message": message}
    if retry_after is not None:
        details.setdefault("details", {})
        if isinstance(details["details"], Mapping):
            details["details"] = {**details["details"], "retryAfterSeconds": retry_after}
    context: dict[str, Any] = {"status": code, "reason": reason, "details": details, "ref": ref}
    where = f" in namespace {namespace!r}" if namespace else ""
    if code == 409:
        conflicts = []
        for cause in _causes(body):
            if cause.get("type", cause.get("reason")) != "FieldManagerConflict":
                continue
            match = _CONFLICT_MANAGER.search(str(cause.get("message", "")))
            conflicts.append(
                FieldConflict(match.group(1) if match else "", str(cause.get("field", "")))
            )
        if conflicts:
            owners = ", ".join(f"{c.path} (owned by {c.manager!r})" for c in conflicts)
            text = f"apply conflicts with other field managers: {owners}"
            return ConflictError(text, conflicts=conflicts, **context)
        return ConflictError(message or "conflict", **context)
    if code == 404:
        return NotFoundError(message or f"{resource} not found{where}", **context)
    if code == 403:
        text = f"forbidden: cannot {verb or 'access'} resource {resource!r}{where}"
        if message:
            text += f": {message}"
        return ForbiddenError(text, **context)
    if code == 422:
        immutable = immutable_causes(body)
        if immutable:
            return ImmutableFieldError(
                f"immutable field would change: {message}", path=immutable[0], **context
            )
        causes = _causes(body)
        path = str(causes[0].get("field", "")) or None if causes else None
        return InvalidError(message or "invalid", path=path, **context)
    transient = code != 500 or retry_after is not None or reason in _TRANSIENT_500_REASONS
    if (code in _RETRYABLE and transient) or code == 0:
        text = message or f"HTTP {code}"
        if retry_after is not None:
            text += f" (retry after {retry_after:g} s)"
        return RetryableError(text, **context)
    return ApplyError(message or f"HTTP {code}", **context)
