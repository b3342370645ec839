"""The pure merge core.

Strategic merge patch, JSON merge patch, field sets and server-side apply
prediction, as pure functions over JSON values.

* :class:`FieldSet`, :func:`fieldset_of`, :func:`format_path`: ``managedFields[].fieldsV1``.
* :func:`predict_apply` -> :class:`ApplyPrediction`: what a server-side apply
  by a field manager would produce (object, managedFields, conflicts).
* :func:`canonical_quantity`, :func:`quantities_equal`: ``resource.Quantity``.
"""

from reconcile.merge._fieldsets import FieldSet, fieldset_of, format_path
from reconcile.merge._quantity import canonical_quantity, parse_quantity, quantities_equal
from reconcile.merge._ssa import (
    ApplyPrediction,
    apply_fieldset,
    manager_key,
    predict_apply,
    schema_for,
)

__all__ = [
    "ApplyPrediction",
    "FieldSet",
    "apply_fieldset",
    "canonical_quantity",
    "fieldset_of",
    "format_path",
    "manager_key",
    "parse_quantity",
    "predict_apply",
    "quantities_equal",
    "schema_for",
]
