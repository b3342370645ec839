"""The pure merge core: strategic and JSON merge patch, field sets, server-side apply.

Pure functions over JSON values (``dict``, ``list``, ``str``, ``int``,
``float``, ``bool``, ``None``), identical in result to Kubernetes' Go code:

* :func:`create_two_way_merge_patch`, :func:`create_three_way_merge_patch` and
  :func:`strategic_merge_patch` (apply) take a :class:`reconcile.schema.Node`
  for the object's kind (:func:`reconcile.schema.for_kind`).
* :func:`create_merge_patch`, :func:`create_three_way_json_merge_patch` and
  :func:`merge_patch` are RFC 7386 JSON merge patch.
* :func:`create_apply_patch` picks between them as ``kubectl apply`` does.
* :class:`FieldSet`, :func:`fieldset_of`, :func:`format_path`: ``managedFields[].fieldsV1``.
* :func:`predict_apply` -> :class:`ApplyPrediction`: what a server-side apply
  by a field manager would produce (object, managedFields, conflicts).
* :func:`normalize`, :class:`IgnoreRule`, :func:`apply_ignore_rules`: what is not drift.
* :func:`canonical_quantity`, :func:`quantities_equal`: ``resource.Quantity``.

Invalid input raises :class:`reconcile.errors.MergeError` whose ``path`` names
the field. Arguments are never modified.

Example:

    >>> from reconcile.merge import create_apply_patch
    >>> last = {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 2}}
    >>> desired = {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 3}}
    >>> live = {**last, "spec": {"replicas": 2, "revisionHistoryLimit": 10}}
    >>> create_apply_patch(last, desired, live)
    ApplyPatch(type='strategic', patch={'spec': {'replicas': 3}})
    >>> create_apply_patch(last, last, live).in_sync
    True
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

from reconcile.errors import MergeError
from reconcile.merge._fieldsets import FieldSet, fieldset_of, format_path
from reconcile.merge._jsonmerge import (
    create_merge_patch,
    create_three_way_json_merge_patch,
    merge_patch,
)
from reconcile.merge._normalize import (
    SERVER_ANNOTATIONS,
    SERVER_METADATA,
    IgnoreRule,
    apply_ignore_rules,
    normalize,
)
from reconcile.merge._quantity import canonical_quantity, parse_quantity, quantities_equal
from reconcile.merge._ssa import (
    ApplyPrediction,
    apply_fieldset,
    manager_key,
    predict_apply,
    schema_for,
)
from reconcile.merge._strategic import (
    create_three_way_merge_patch,
    create_two_way_merge_patch,
    strategic_merge_patch,
)
from reconcile.schema import SchemaRegistry, builtin

__all__ = [
    "SERVER_ANNOTATIONS",
    "SERVER_METADATA",
    "ApplyPatch",
    "ApplyPrediction",
    "FieldSet",
    "IgnoreRule",
    "apply_fieldset",
    "apply_ignore_rules",
    "canonical_quantity",
    "create_apply_patch",
    "create_merge_patch",
    "create_three_way_json_merge_patch",
    "create_three_way_merge_patch",
    "create_two_way_merge_patch",
    "fieldset_of",
    "format_path",
    "manager_key",
    "merge_patch",
    "normalize",
    "parse_quantity",
    "predict_apply",
    "quantities_equal",
    "schema_for",
    "strategic_merge_patch",
]

_CONTENT_TYPES = {
    "strategic": "application/strategic-merge-patch+json",
    "merge": "application/merge-patch+json",
}


class ApplyPatch(NamedTuple):
    """A patch with its type: ``"strategic"`` or ``"merge"`` (JSON merge patch).

    Example:

        >>> ApplyPatch("merge", {"spec": {"size": 2}}).content_type
        'application/merge-patch+json'
        >>> ApplyPatch("strategic", {}).in_sync
        True
    """

    type: Literal["strategic", "merge"]
    patch: dict[str, Any]

    @property
    def content_type(self) -> str:
        """The HTTP ``Content-Type`` to send the patch with."""
        return _CONTENT_TYPES[self.type]

    @property
    def in_sync(self) -> bool:
        """True when the patch is empty: nothing to change."""
        return not self.patch


def create_apply_patch(
    original: dict[str, Any] | None,
    modified: dict[str, Any],
    current: dict[str, Any] | None,
    *,
    registry: SchemaRegistry | None = None,
) -> ApplyPatch:
    """The patch ``kubectl apply`` (client-side) would send, and its type.

    ``original`` is the last applied configuration, ``modified`` the desired
    object, ``current`` the live one. Kinds of client-go's scheme get a
    strategic merge patch from their schema; custom resources (and CRDs,
    APIServices) a three-way JSON merge patch.

    Raises:
        MergeError: ``modified`` has no apiVersion/kind, or a patch cannot be made.

    Example:

        >>> last = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "1", "b": "2"}}
        >>> desired = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "1"}}
        >>> create_apply_patch(last, desired, last)  # b was removed from Git
        ApplyPatch(type='strategic', patch={'data': {'b': None}})
    """
    if type(modified) is not dict:
        raise MergeError("the modified object is not a JSON object")
    api_version, kind = modified.get("apiVersion"), modified.get("kind")
    if type(api_version) is not str or type(kind) is not str:
        raise MergeError("the modified object needs apiVersion and kind", path="apiVersion")
    reg = registry if registry is not None else builtin()
    if reg.is_strategic(api_version, kind):
        schema = reg.for_kind(api_version, kind)
        assert schema is not None
        return ApplyPatch(
            "strategic", create_three_way_merge_patch(original, modified, current, schema)
        )
    return ApplyPatch("merge", create_three_way_json_merge_patch(original, modified, current))
