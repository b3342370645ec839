"""The Differ: decides drift and presents it (unified YAML, structured changes, JSON, HTML).

* :class:`Differ` is the protocol (a plug point); :class:`DefaultDiffer` the
  implementation: server-side mode predicts a server-side apply locally,
  client-side mode computes the patch ``kubectl apply`` would send.
* :class:`ObjectDiff` is the verdict on one object: ``in_sync``, ``action``
  (``create``, ``update``, ``prune``, ``none``), the body to send, the predicted
  object, :class:`FieldChange` entries, conflicts, and presentations:
  :meth:`~ObjectDiff.unified_diff` (Secret values masked),
  :meth:`~ObjectDiff.to_json` and ``_repr_html_`` for notebooks.

Example:

    >>> from reconcile.diff import DefaultDiffer
    >>> live = {"apiVersion": "v1", "kind": "ConfigMap",
    ...         "metadata": {"name": "c", "managedFields": [
    ...             {"manager": "gitops", "operation": "Apply", "apiVersion": "v1",
    ...              "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:a": {}}}}]},
    ...         "data": {"a": "1"}}
    >>> d = DefaultDiffer(manager="gitops").diff(
    ...     {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
    ...      "data": {"a": "2"}}, live)
    >>> print(d.unified_diff())
    --- live/ConfigMap c
    +++ desired/ConfigMap c
    @@ -1,6 +1,6 @@
     apiVersion: v1
     data:
    -  a: '1'
    +  a: '2'
     kind: ConfigMap
     metadata:
       name: c
    <BLANKLINE>
"""

from reconcile.diff._differ import (
    APPLY_CONTENT_TYPE,
    LAST_APPLIED,
    DefaultDiffer,
    Differ,
    DifferStatistics,
)
from reconcile.diff._objectdiff import (
    Action,
    FieldChange,
    Mode,
    ObjectDiff,
    field_changes,
    mask_secret,
)

__all__ = [
    "APPLY_CONTENT_TYPE",
    "LAST_APPLIED",
    "Action",
    "DefaultDiffer",
    "Differ",
    "DifferStatistics",
    "FieldChange",
    "Mode",
    "ObjectDiff",
    "field_changes",
    "mask_secret",
]
