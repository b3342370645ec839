"""Discovery and the REST mapper: kind <-> resource, and whether it is namespaced.

The aggregated discovery documents (``/api`` and ``/apis`` with
``apidiscovery.k8s.io/v2``) answer everything in two requests; an older server
is asked per group version instead. A group version that does not answer (an
aggregated API whose backend is down) is skipped and remembered as stale, not
fatal. A kind that is not found triggers one refresh (new CRDs), rate-limited.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

import anyio

from reconcile.cluster._api import ResourceInfo
from reconcile.cluster.kubernetes._transport import Transport
from reconcile.errors import ApplyError, NotFoundError, RetryableError
from reconcile.objects import split_api_version

__all__ = ["RestMapper"]

log = logging.getLogger(__name__)

_AGGREGATED = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
)


def _from_aggregated(doc: Mapping[str, Any]) -> tuple[list[ResourceInfo], set[str]]:
    infos: list[ResourceInfo] = []
    stale: set[str] = set()
    for group in doc.get("items") or ():
        name = (group.get("metadata") or {}).get("name", "")
        for version in group.get("versions") or ():
            gv = f"{name}/{version['version']}" if name else version["version"]
            if version.get("freshness") == "Stale":
                stale.add(gv)
            for res in version.get("resources") or ():
                kind = (res.get("responseKind") or {}).get("kind")
                if not kind:
                    continue
                infos.append(
                    ResourceInfo(
                        name,
                        version["version"],
                        res["resource"],
                        kind,
                        res.get("scope") == "Namespaced",
                        frozenset(res.get("verbs") or ()),
                    )
                )
    return infos, stale


def _from_resource_list(group: str, version: str, doc: Mapping[str, Any]) -> list[ResourceInfo]:
    return [
        ResourceInfo(
            group,
            version,
            res["name"],
            res["kind"],
            bool(res.get("namespaced")),
            frozenset(res.get("verbs") or ()),
        )
        for res in doc.get("resources") or ()
        if "/" not in res["name"]
    ]


class RestMapper:
    """Maps ``(apiVersion, kind)`` to the served resource, from discovery.

    Args:
        transport: where to send discovery requests.
        min_refresh_interval: seconds between two refreshes triggered by misses.

    Example:

        The applier creates and owns it::

            async with KubernetesApplier(field_manager="gitops") as applier:
                info = await applier.mapper.resource_for("apps/v1", "Deployment")
                info.path("shop", "web")        # '/apis/apps/v1/namespaces/shop/deployments/web'
    """

    def __init__(
        self,
        transport: Transport,
        *,
        min_refresh_interval: float = 2.0,
        aggregated: bool = True,
    ) -> None:
        self.transport = transport
        #: Ask the aggregated discovery documents first (else one request per group version).
        self.aggregated = aggregated
        self.min_refresh_interval = min_refresh_interval
        self._by_kind: dict[tuple[str, str, str], ResourceInfo] = {}
        self._by_group_kind: dict[tuple[str, str], list[ResourceInfo]] = {}
        self._loaded_at: float | None = None
        self._lock = anyio.Lock()
        #: Group versions that did not answer in the last refresh.
        self.stale: set[str] = set()

    def _install(self, infos: Iterable[ResourceInfo]) -> None:
        by_kind: dict[tuple[str, str, str], ResourceInfo] = {}
        by_gk: dict[tuple[str, str], list[ResourceInfo]] = {}
        for info in infos:
            by_kind.setdefault((info.group, info.version, info.kind), info)
            by_gk.setdefault((info.group, info.kind), []).append(info)
        self._by_kind, self._by_group_kind = by_kind, by_gk
        self._loaded_at = time.monotonic()

    async def refresh(self) -> None:
        """Read discovery again."""
        async with self._lock:
            await self._refresh()

    async def _refresh(self) -> None:
        infos: list[ResourceInfo] = []
        stale: set[str] = set()
        aggregated = self.aggregated
        for path in ("/api", "/apis") if aggregated else ():
            resp = await self.transport.request("GET", path, accept=_AGGREGATED, verb="discovery")
            body = resp.body if isinstance(resp.body, Mapping) else {}
            if body.get("kind") != "APIGroupDiscoveryList":
                aggregated = False
                break
            found, missing = _from_aggregated(body)
            infos.extend(found)
            stale |= missing
        if not aggregated:
            infos, stale = await self._legacy()
        self.stale = stale
        if stale:
            log.warning("discovery: group versions not answering: %s", sorted(stale))
        self._install(infos)

    async def _legacy(self) -> tuple[list[ResourceInfo], set[str]]:
        infos: list[ResourceInfo] = []
        stale: set[str] = set()
        core = await self.transport.request("GET", "/api", verb="discovery")
        versions = [("", v) for v in (core.body or {}).get("versions") or ()]
        groups = await self.transport.request("GET", "/apis", verb="discovery")
        for group in (groups.body or {}).get("groups") or ():
            versions.extend((group["name"], v["version"]) for v in group.get("versions") or ())
        for group_name, version in versions:
            path = f"/apis/{group_name}/{version}" if group_name else f"/api/{version}"
            try:
                resp = await self.transport.request_once("GET", path, verb="discovery")
            except ApplyError as exc:
                stale.add(f"{group_name}/{version}" if group_name else version)
                log.warning("discovery of %s failed: %s", path, exc)
                continue
            infos.extend(_from_resource_list(group_name, version, resp.body or {}))
        return infos, stale

    def known(self, api_version: str, kind: str) -> ResourceInfo | None:
        """The mapping if discovery has already seen it (no request)."""
        group, version = split_api_version(api_version)
        return self._by_kind.get((group, version, kind))

    async def resource_for(self, api_version: str, kind: str) -> ResourceInfo:
        """The resource serving ``kind`` at ``api_version``.

        Raises:
            RetryableError: the kind's CRD exists but is not Established yet, or
                its group is served by an aggregated API that is not answering.
            NotFoundError: the cluster does not serve the kind at that version.
        """
        info = self.known(api_version, kind)
        if info is not None:
            return info
        async with self._lock:
            info = self.known(api_version, kind)
            if info is not None:
                return info
            recent = (
                self._loaded_at is not None
                and time.monotonic() - self._loaded_at < self.min_refresh_interval
            )
            if not recent or self._loaded_at is None:
                await self._refresh()
                info = self.known(api_version, kind)
                if info is not None:
                    return info
        try:
            await self._explain_missing(api_version, kind)
        except RetryableError as exc:
            if exc.reason != "DiscoveryLag":
                raise
            # Its CRD is Established and serves the version: no longer a blind
            # miss, so refresh now even within min_refresh_interval.
            async with self._lock:
                await self._refresh()
                info = self.known(api_version, kind)
            if info is None:
                raise
            return info
        raise AssertionError("unreachable")  # pragma: no cover

    async def _explain_missing(self, api_version: str, kind: str) -> None:
        group, version = split_api_version(api_version)
        if api_version in self.stale:
            raise RetryableError(
                f"the API {api_version} serving {kind} is not answering discovery",
                reason="ServiceUnavailable",
            )
        if group and "." in group:
            service = await self._api_service(group, version)
            if service is not None:
                available = {
                    c.get("type"): (c.get("status"), c.get("message"))
                    for c in (service.get("status") or {}).get("conditions") or ()
                }
                status, message = available.get("Available", (None, None))
                if status != "True":
                    raise RetryableError(
                        f"the aggregated API {version}.{group} serving {kind} is not "
                        f"available: {message}",
                        reason="ServiceUnavailable",
                    )
            crd = await self._find_crd(group, kind)
            if crd is not None:
                conditions = {
                    c.get("type"): c.get("status")
                    for c in (crd.get("status") or {}).get("conditions") or ()
                }
                name = crd["metadata"]["name"]
                if conditions.get("Established") != "True":
                    raise RetryableError(
                        f"CustomResourceDefinition {name} is not Established yet "
                        f"(conditions: {conditions}); {kind} cannot be served",
                        reason="CRDNotEstablished",
                    )
                served = [v["name"] for v in crd["spec"].get("versions") or () if v.get("served")]
                if version not in served:
                    raise NotFoundError(
                        f"CustomResourceDefinition {name} does not serve version {version} "
                        f"(served: {', '.join(served)})",
                        status=404,
                        reason="NotFound",
                    )
                # Established a moment ago: discovery lags a little behind.
                raise RetryableError(
                    f"{kind} ({api_version}) is not in discovery yet", reason="DiscoveryLag"
                )
        others = sorted(i.api_version for i in self._by_group_kind.get((group, kind), ()))
        hint = f" (served at {', '.join(others)})" if others else ""
        raise NotFoundError(
            f"the cluster does not serve kind {kind} at {api_version}{hint}",
            status=404,
            reason="NotFound",
        )

    async def _api_service(self, group: str, version: str) -> Mapping[str, Any] | None:
        try:
            resp = await self.transport.request(
                "GET", f"/apis/apiregistration.k8s.io/v1/apiservices/{version}.{group}"
            )
        except ApplyError:
            return None
        found: Mapping[str, Any] | None = resp.body if isinstance(resp.body, Mapping) else None
        if found is not None and (found.get("spec") or {}).get("service") is None:
            return None  # a local API service (CRDs, built-ins): not aggregated
        return found

    async def _find_crd(self, group: str, kind: str) -> Mapping[str, Any] | None:
        try:
            resp = await self.transport.request(
                "GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
            )
        except ApplyError:
            return None
        for crd in (resp.body or {}).get("items") or ():
            spec = crd.get("spec") or {}
            if spec.get("group") == group and (spec.get("names") or {}).get("kind") == kind:
                found: Mapping[str, Any] = crd
                return found
        return None
