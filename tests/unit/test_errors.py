from __future__ import annotations

import pickle

from reconcile.errors import (
    ConflictError,
    DuplicateObjectError,
    FieldConflict,
    SourceError,
)
from reconcile.objects import ObjectRef, Origin


def test_error_names_origin_object_and_field() -> None:
    err = DuplicateObjectError(
        "defined twice",
        origin=Origin("b.yaml", document=1, line=3),
        other=Origin("a.yaml", line=1),
        ref=ObjectRef("v1", "ConfigMap", "cfg", "ns"),
        path="metadata.name",
    )
    assert str(err) == (
        "b.yaml:3 (document 1), ConfigMap ns/cfg, field metadata.name: defined twice"
        " (first defined at a.yaml:1 (document 0))"
    )


def test_errors_survive_pickling_with_context() -> None:
    err = ConflictError(
        "conflict", conflicts=[FieldConflict("kubectl", ".spec.replicas")], path="spec"
    )
    again = pickle.loads(pickle.dumps(err))  # noqa: S301 - our own bytes
    assert type(again) is ConflictError
    assert again.conflicts == (FieldConflict("kubectl", ".spec.replicas"),)
    assert again.status == 409
    assert str(again) == str(err)


def test_source_error_prefixes_the_redacted_url() -> None:
    err = SourceError("connection refused", url="https://git.example/repo.git")
    assert str(err) == "https://git.example/repo.git: connection refused"
