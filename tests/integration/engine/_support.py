"""A minimal ObjectClient over kubernetes-asyncio's DynamicClient, for the tests."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import attrs
import orjson
from kubernetes_asyncio.dynamic import DynamicClient

from reconcile.objects import JSONObject, ObjectRef
from reconcile.testing import ControlPlane, ExistingCluster, cache_dir, skip_or_fail

FIELD_MANAGER = "reconcile-tests"


class KubeStatusError(Exception):
    """The server answered with a failed ``Status``."""

    def __init__(self, status: JSONObject) -> None:
        self.status = status
        self.code = status.get("code")
        super().__init__(f"{status.get('code')} {status.get('reason')}: {status.get('message')}")


def _checked(result: Any) -> JSONObject:
    # kubernetes-asyncio's DynamicClient returns a failed Status instead of raising.
    out: JSONObject = result.to_dict()
    if out.get("kind") == "Status" and out.get("status") == "Failure":
        raise KubeStatusError(out)
    return out


class KubeObjects:
    """get / apply / delete one object; satisfies ``reconcile.engine.inventory.ObjectClient``."""

    def __init__(self, dynamic: DynamicClient) -> None:
        self.dynamic = dynamic

    async def _resource(self, api_version: str, kind: str) -> Any:
        return await self.dynamic.resources.get(api_version=api_version, kind=kind)

    async def get(self, ref: ObjectRef) -> JSONObject | None:
        resource = await self._resource(ref.api_version, ref.kind)
        try:
            return _checked(
                await self.dynamic.get(resource, name=ref.name, namespace=ref.namespace)
            )
        except KubeStatusError as exc:
            if exc.code == 404:
                return None
            raise

    async def apply(self, obj: JSONObject) -> JSONObject:
        resource = await self._resource(obj["apiVersion"], obj["kind"])
        applied = await self.dynamic.server_side_apply(
            resource,
            body=obj,
            namespace=obj["metadata"].get("namespace"),
            field_manager=FIELD_MANAGER,
            force_conflicts=True,
        )
        return _checked(applied)

    async def delete(self, ref: ObjectRef) -> None:
        resource = await self._resource(ref.api_version, ref.kind)
        try:
            _checked(
                await self.dynamic.delete(
                    resource,
                    name=ref.name,
                    namespace=ref.namespace,
                    propagation_policy="Background",
                )
            )
        except KubeStatusError as exc:
            if exc.code != 404:
                raise

    async def patch_status(self, ref: ObjectRef, status: dict[str, Any]) -> JSONObject:
        """Merge-patch ``status`` through the /status subresource."""
        resource = await self._resource(ref.api_version, ref.kind)
        patched = await self.dynamic.patch(
            resource.subresources["status"],
            body={"status": status},
            name=ref.name,
            namespace=ref.namespace,
            content_type="application/merge-patch+json",
        )
        return _checked(patched)


@attrs.define
class Env:
    """A client on one cluster and a fresh namespace in it."""

    api: Any
    dynamic: DynamicClient
    objects: KubeObjects
    namespace: str
    plane: ControlPlane | ExistingCluster


KSTATUS_DIR = Path(__file__).resolve().parent / "kstatus"


def build_kstatus_oracle() -> Path:
    """Build (once, cached by source hash) the Go harness over cli-utils' kstatus."""
    sources = [KSTATUS_DIR / name for name in ("go.mod", "go.sum", "main.go")]
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:16]
    out = cache_dir() / "oracle" / f"kstatus-{digest}" / "kstatus-oracle"
    if out.is_file():
        return out
    go = shutil.which("go")
    if go is None:
        skip_or_fail("the kstatus oracle needs the Go toolchain (`go` on PATH)")
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local", "CGO_ENABLED": "0"}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    done = subprocess.run(
        [go, "build", "-o", str(tmp), "."],
        cwd=KSTATUS_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        skip_or_fail(f"building the kstatus oracle failed:\n{done.stderr[-2000:]}")
    tmp.replace(out)
    return out


def kstatus(binary: Path, objects: list[JSONObject]) -> list[dict[str, str]]:
    """kstatus' answers for ``objects``, one dict each (status, message, reason or error)."""
    payload = "".join(orjson.dumps(o).decode() + "\n" for o in objects)
    done = subprocess.run(
        [str(binary)], input=payload, capture_output=True, text=True, timeout=60, check=True
    )
    return [orjson.loads(line) for line in done.stdout.splitlines()]
