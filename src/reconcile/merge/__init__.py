"""The pure merge core.

Strategic merge patch, JSON merge patch, field sets and server-side apply
prediction, as pure functions over JSON values.

* :class:`FieldSet` and :func:`fieldset_of`: ``managedFields[].fieldsV1``.
"""

from reconcile.merge._fieldsets import FieldSet, fieldset_of, format_path

__all__ = ["FieldSet", "fieldset_of", "format_path"]
