"""Plain JSON requests to the session's real API server, for the merge tests.

The control plane itself is ``reconcile.testing``'s (the ``control_plane``
fixture); this adapter only turns its (status, body) answers into values and
errors, and maps kinds to collection paths through discovery.
"""

from __future__ import annotations

from typing import Any

from reconcile.testing import ControlPlane


class HTTPStatusError(Exception):
    """The API server answered with an error status."""

    def __init__(self, code: int, body: Any) -> None:
        self.code = code
        self.body = body
        super().__init__(f"HTTP {code}: {body}")


class APIServer:
    """JSON requests as the control plane's admin; errors raise HTTPStatusError."""

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane

    def request(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> Any:
        status, data = self.plane.request(method, path, body, content_type=content_type)
        if status >= 400:
            raise HTTPStatusError(status, data)
        return data


class Discovery:
    """Kind -> (collection path template, namespaced), from the server's discovery."""

    def __init__(self, server: APIServer) -> None:
        self.server = server
        self._by_gv: dict[str, dict[str, tuple[str, bool]]] = {}

    def resource(self, api_version: str, kind: str) -> tuple[str, bool] | None:
        table = self._by_gv.get(api_version)
        if table is None:
            base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
            try:
                listing = self.server.request("GET", base)
            except Exception:
                listing = {"resources": []}
            table = {
                r["kind"]: (f"{base}/{r['name']}", bool(r["namespaced"]))
                for r in listing.get("resources", [])
                if "/" not in r["name"]
            }
            self._by_gv[api_version] = table
        return table.get(kind)

    def forget(self, api_version: str) -> None:
        self._by_gv.pop(api_version, None)

    def create(self, obj: dict[str, Any], namespace: str) -> dict[str, Any] | None:
        """Create ``obj`` and return the live object, or None when the kind is not served."""
        found = self.resource(obj["apiVersion"], obj["kind"])
        if found is None:
            return None
        base, namespaced = found
        if namespaced:
            prefix, _, plural = base.rpartition("/")
            url = f"{prefix}/namespaces/{namespace}/{plural}"
        else:
            url = base
        result: dict[str, Any] = self.server.request("POST", url, obj)
        return result
