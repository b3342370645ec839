"""Status responses become typed errors from their structured parts."""

from __future__ import annotations

from typing import Any

import pytest

from reconcile.cluster._errors import error_from_status
from reconcile.cluster.kubernetes._transport import Impersonation, RetryPolicy, retry_after_of
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

REF = ObjectRef("apps/v1", "Deployment", "web", "shop")


def status(code: int, reason: str, message: str = "", causes: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "Status", "code": code, "reason": reason, "message": message}
    if causes is not None:
        body["details"] = {"causes": causes}
    return body


def test_field_manager_conflicts_are_parsed_from_causes() -> None:
    body = status(
        409,
        "Conflict",
        "Apply failed with 2 conflicts",
        [
            {
                "type": "FieldManagerConflict",
                "message": 'conflict with "hpa" using apps/v1',
                "field": ".spec.replicas",
            },
            {
                "type": "FieldManagerConflict",
                "message": 'conflict with "kubectl-edit"',
                "field": ".metadata.labels.app",
            },
        ],
    )
    err = error_from_status(409, body, ref=REF, verb="patch", resource="deployments.apps")
    assert isinstance(err, ConflictError)
    assert err.conflicts == (
        FieldConflict("hpa", ".spec.replicas"),
        FieldConflict("kubectl-edit", ".metadata.labels.app"),
    )
    assert err.ref == REF
    assert err.status == 409


def test_optimistic_lock_conflict_has_no_field_conflicts() -> None:
    err = error_from_status(409, status(409, "Conflict", "the object has been modified"))
    assert isinstance(err, ConflictError)
    assert err.conflicts == ()


def test_forbidden_names_verb_and_resource() -> None:
    err = error_from_status(
        403,
        status(403, "Forbidden", "denied"),
        verb="patch",
        resource="deployments.apps",
        namespace="shop",
    )
    assert isinstance(err, ForbiddenError)
    assert "cannot patch resource 'deployments.apps' in namespace 'shop'" in str(err)


@pytest.mark.parametrize(
    ("detail", "immutable"),
    [
        ("Invalid value: map[string]string{...}: field is immutable", True),
        ('Invalid value: []string{"10.0.0.9"}: may not change once set', True),
        ("Invalid value: -1: must be greater than or equal to 0", False),
    ],
)
def test_immutable_fields_are_detected_from_causes(detail: str, immutable: bool) -> None:
    body = status(
        422,
        "Invalid",
        "ignored: field is immutable" if not immutable else "x",
        [{"reason": "FieldValueInvalid", "message": detail, "field": "spec.selector"}],
    )
    err = error_from_status(422, body, ref=REF)
    assert isinstance(err, InvalidError)
    assert isinstance(err, ImmutableFieldError) is immutable
    assert err.path == "spec.selector"


def test_top_level_message_alone_does_not_make_an_immutable_error() -> None:
    body = status(422, "Invalid", "spec.selector: field is immutable")
    err = error_from_status(422, body)
    assert type(err) is InvalidError


@pytest.mark.parametrize("code", [429, 500, 502, 503, 504])
def test_throttling_and_server_errors_are_retryable(code: int) -> None:
    err = error_from_status(code, status(code, "TooManyRequests"), retry_after=3)
    assert isinstance(err, RetryableError)
    assert retry_after_of(err) == 3.0


@pytest.mark.parametrize("reason", ["InternalError", "ServerTimeout", "Timeout"])
def test_a_500_the_server_calls_transient_is_retryable(reason: str) -> None:
    err = error_from_status(500, status(500, reason, "etcdserver: leader changed"))
    assert isinstance(err, RetryableError)


def test_a_500_without_reason_or_retry_after_is_final() -> None:
    message = "failed to create typed patch object: .dta: field not declared in schema"
    err = error_from_status(500, {"kind": "Status", "code": 500, "message": message})
    assert type(err) is ApplyError
    assert err.status == 500
    assert "field not declared in schema" in str(err)


def test_not_found_and_others() -> None:
    assert isinstance(error_from_status(404, status(404, "NotFound")), NotFoundError)
    other = error_from_status(400, "plain text body")
    assert type(other) is ApplyError
    assert other.message == "plain text body"


def test_retry_policy_honours_retry_after_and_caps() -> None:
    policy = RetryPolicy(attempts=3, initial_delay=0.5, max_delay=4.0, max_retry_after=30.0)
    # Never sooner than Retry-After, at most a fifth later; the backoff's
    # max_delay does not cut it short, only max_retry_after does.
    for _ in range(50):
        assert 2.5 <= policy.delay(1, retry_after=2.5) <= 3.0
        assert 20.0 <= policy.delay(1, retry_after=20) <= 24.0
        assert 30.0 <= policy.delay(1, retry_after=99) <= 36.0
        assert policy.delay(1, retry_after=0) == 0.0
    for attempt in range(1, 10):
        ceiling = min(4.0, 0.5 * 2 ** (attempt - 1))
        assert ceiling / 2 <= policy.delay(attempt) <= ceiling


def test_impersonation_headers_repeat_groups() -> None:
    headers = Impersonation(user="u", groups=("a", "b"), uid="1", extra={"scopes": ["x"]}).headers()
    assert headers == [
        ("Impersonate-User", "u"),
        ("Impersonate-Group", "a"),
        ("Impersonate-Group", "b"),
        ("Impersonate-Uid", "1"),
        ("Impersonate-Extra-scopes", "x"),
    ]


def test_warning_header_texts_are_unquoted() -> None:
    from reconcile.cluster.kubernetes._transport import warning_texts

    header = r'299 - "unknown field \"spec.foo\""'
    assert warning_texts([header, " plain "]) == ('unknown field "spec.foo"', "plain")
