"""Small adapters from an Applier to narrower clients other layers declare."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconcile.cluster._api import Applier, ApplyMode
from reconcile.errors import ApplyError
from reconcile.objects import JSONObject, ObjectRef

__all__ = ["ObjectClientAdapter"]


class ObjectClientAdapter:
    """One object at a time over an Applier (the engine's ``ObjectClient``).

    ``apply`` is a forced server-side apply that returns the live object.

    Example:

        >>> import anyio
        >>> from reconcile.cluster import InMemoryCluster
        >>> client = ObjectClientAdapter(InMemoryCluster(field_manager="inventory"))
        >>> async def demo():
        ...     live = await client.apply({"apiVersion": "v1", "kind": "ConfigMap",
        ...                                "metadata": {"name": "inv", "namespace": "default"}})
        ...     await client.delete(ObjectRef("v1", "ConfigMap", "inv", "default"))
        ...     return live["metadata"]["name"], await client.get(ObjectRef("v1", "ConfigMap",
        ...                                                                 "inv", "default"))
        >>> anyio.run(demo)
        ('inv', None)
    """

    def __init__(self, applier: Applier, *, force: bool = True) -> None:
        self.applier = applier
        self.force = force

    async def get(self, ref: ObjectRef) -> JSONObject | None:
        """The live object, or None."""
        return await self.applier.get(ref)

    async def apply(self, obj: Mapping[str, Any]) -> JSONObject:
        """Server-side apply ``obj``; the live result."""
        result = await self.applier.apply(obj, mode=ApplyMode.SERVER_SIDE, force=self.force)
        result.raise_for_error()
        if result.object is None:
            raise ApplyError("the server returned no object", ref=result.ref)
        return result.object

    async def delete(self, ref: ObjectRef) -> None:
        """Delete; an absent object is not an error."""
        (await self.applier.delete(ref)).raise_for_error()
