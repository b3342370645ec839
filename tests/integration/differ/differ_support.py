"""A small, thread-safe admin client for the differ's fidelity tests.

The tests send thousands of requests; each thread keeps one TLS connection
alive, and a discovery map turns (apiVersion, kind) into resource paths.
"""

from __future__ import annotations

import http.client
import json
import ssl
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote, urlencode

from reconcile.objects import split_api_version
from reconcile.testing import ControlPlane

APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"


class Admin:
    """Synchronous admin requests with per-thread keep-alive connections."""

    def __init__(self, plane: ControlPlane) -> None:
        assert plane.pki is not None
        self.port = plane.port
        self.context = ssl.create_default_context(cafile=str(plane.pki.ca_cert))
        self.context.load_cert_chain(str(plane.pki.admin_cert), str(plane.pki.admin_key))
        self.local = threading.local()
        self.resources: dict[tuple[str, str], tuple[str, bool]] = {}
        self.pool = ThreadPoolExecutor(8)
        self.conns: list[http.client.HTTPSConnection] = []
        self.lock = threading.Lock()

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        with self.lock:
            for conn in self.conns:
                conn.close()
            self.conns.clear()

    def _conn(self) -> http.client.HTTPSConnection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = http.client.HTTPSConnection(
                "127.0.0.1", self.port, context=self.context, timeout=60
            )
            self.local.conn = conn
            with self.lock:
                self.conns.append(conn)
        return conn

    def request(
        self, method: str, path: str, body: Any = None, *, content_type: str = "application/json"
    ) -> tuple[int, Any]:
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if payload is not None:
            headers["Content-Type"] = content_type
        for attempt in range(2):
            conn = self._conn()
            try:
                conn.request(method, path, body=payload, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                break
            except (http.client.HTTPException, OSError):
                conn.close()
                self.local.conn = None
                if attempt:
                    raise
        try:
            return resp.status, (json.loads(data) if data else None)
        except ValueError:
            # Not JSON: "404 page not found" for a group version that went away
            # between listing /apis and asking it (another test deleted its CRD).
            return resp.status, data.decode("utf-8", "replace")

    def discover(self) -> None:
        groups: list[str] = ["/api/v1"]
        _, apis = self.request("GET", "/apis")
        for g in apis["groups"]:
            groups.extend(f"/apis/{v['groupVersion']}" for v in g["versions"])
        for base in groups:
            status, lst = self.request("GET", base)
            if status != 200:
                continue
            for r in lst["resources"]:
                if "/" not in r["name"]:
                    self.resources[(lst["groupVersion"], r["kind"])] = (r["name"], r["namespaced"])

    def path(self, obj: dict[str, Any], **query: Any) -> str:
        av, kind = obj["apiVersion"], obj["kind"]
        key = (av, kind)
        if key not in self.resources:
            self.discover()
        plural, namespaced = self.resources[key]
        group, version = split_api_version(av)
        base = f"/apis/{group}/{version}" if group else f"/api/{version}"
        meta = obj["metadata"]
        if namespaced:
            base += f"/namespaces/{meta['namespace']}"
        url = f"{base}/{plural}/{quote(meta['name'])}"
        q = {k: v for k, v in query.items() if v is not None}
        return url + ("?" + urlencode(q) if q else "")

    def apply(
        self, obj: dict[str, Any], manager: str, *, force: bool = False, dry_run: bool = False
    ) -> tuple[int, Any]:
        return self.request(
            "PATCH",
            self.path(
                obj,
                fieldManager=manager,
                force="true" if force else None,
                dryRun="All" if dry_run else None,
            ),
            obj,
            content_type=APPLY,
        )

    def merge_patch(self, obj: dict[str, Any], patch: Any, manager: str) -> tuple[int, Any]:
        return self.request(
            "PATCH", self.path(obj, fieldManager=manager), patch, content_type=MERGE
        )

    def create(self, obj: dict[str, Any], manager: str) -> tuple[int, Any]:
        item = self.path(obj)
        collection = item.rsplit("/", 1)[0]
        return self.request("POST", f"{collection}?fieldManager={manager}", obj)

    def patch(
        self,
        obj: dict[str, Any],
        patch: Any,
        content_type: str,
        manager: str,
        *,
        dry_run: bool = False,
    ) -> tuple[int, Any]:
        return self.request(
            "PATCH",
            self.path(obj, fieldManager=manager, dryRun="All" if dry_run else None),
            patch,
            content_type=content_type,
        )

    def get(self, obj: dict[str, Any]) -> tuple[int, Any]:
        return self.request("GET", self.path(obj))

    def namespace(self, name: str) -> None:
        status, body = self.request("POST", "/api/v1/namespaces", {"metadata": {"name": name}})
        assert status in (201, 409), body


def deployment(ns: str, name: str = "web", *, replicas: int = 2) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {"app": name, "tier": "front"},
            "annotations": {"note": "a&b<c>"},
            "finalizers": ["example.com/keep", "example.com/a"],
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "nginx:1.27",
                            "args": ["--port", "80"],
                            "ports": [
                                {"containerPort": 80, "name": "http"},
                                {"containerPort": 53, "protocol": "UDP", "name": "dns"},
                            ],
                            "env": [{"name": "B", "value": "1"}, {"name": "A", "value": "2"}],
                            "resources": {"limits": {"cpu": "1000m", "memory": "1Gi"}},
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                        },
                        {"name": "side", "image": "busybox"},
                    ],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                    "tolerations": [{"key": "k", "operator": "Exists"}],
                },
            },
        },
    }


def service(ns: str, name: str = "svc") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "selector": {"app": "web"},
            "ports": [
                {"port": 80, "targetPort": "http", "name": "http"},
                {"port": 53, "protocol": "UDP", "targetPort": 5353, "name": "dns"},
            ],
        },
    }


def configmap(ns: str, name: str = "cfg") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns, "labels": {"a": "1"}},
        "data": {"z": "1", "a": "2", "m.n": "3"},
    }
