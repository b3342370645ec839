"""429 Too Many Requests from a real, throttling API server.

A control plane of its own runs kube-apiserver with one request in flight at a
time (``--max-requests-inflight=1 --max-mutating-requests-inflight=1``) and
API Priority and Fairness off, so that it refuses the rest with a real 429
and ``Retry-After: 1``. The admin is in ``system:masters``, which the limit
exempts, so the applier and the flood impersonate an ordinary user. While a
flood of reads keeps the server busy, the applier must converge, never retry
sooner than the server said, and count its retries.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from reconcile.cluster import Action, KubernetesApplier
from reconcile.cluster.kubernetes import Impersonation, RetryPolicy
from reconcile.testing import ControlPlane

from .conftest import dedicated_control_plane

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

GROUP = "throttle-testers"
AS = Impersonation(user="flooder", groups=(GROUP,))
OBJECTS = 40
FLOOD_REQUESTS = 1500  # bounded: the flood stops after this many, or when the apply is done


@pytest.fixture(scope="module")
def throttling_plane() -> Iterator[ControlPlane]:
    """A control plane that serves one request at a time and answers 429 to the rest."""
    flags = [
        "--max-requests-inflight=1",
        "--max-mutating-requests-inflight=1",
        "--enable-priority-and-fairness=false",
    ]
    with dedicated_control_plane(flags) as plane:
        status, body = plane.request(
            "POST",
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            {
                "metadata": {"name": GROUP},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "cluster-admin",
                },
                "subjects": [
                    {"kind": "Group", "name": GROUP, "apiGroup": "rbac.authorization.k8s.io"}
                ],
            },
        )
        assert status == 201, body
        status, body = plane.request("POST", "/api/v1/namespaces", {"metadata": {"name": "t"}})
        assert status == 201, body
        yield plane


async def flood(
    applier: KubernetesApplier, done: anyio.Event, throttled: anyio.Event, seen: dict[int, int]
) -> None:
    """Concurrent reads and dry-run writes as the impersonated user until ``done`` (or the bound).

    Writes count against the mutating limit the applier's patches share, so the
    applier is refused even when its own patches happen not to overlap.
    """
    transport = applier.transport
    headers = dict(await transport._headers(None, "application/json"))
    collection = f"{transport.host}/api/v1/namespaces/t/configmaps"
    sent = 0

    async def send(write: bool) -> None:
        nonlocal sent
        while not done.is_set() and sent < FLOOD_REQUESTS:
            sent += 1
            if write:
                body = {"metadata": {"generateName": "flood-"}}
                request = transport.session.post(
                    f"{collection}?dryRun=All", json=body, headers=headers
                )
            else:
                request = transport.session.get(f"{collection}?limit=1", headers=headers)
            async with request as resp:
                await resp.read()
                seen[resp.status] = seen.get(resp.status, 0) + 1
                if resp.status == 429:
                    assert resp.headers.get("Retry-After") == "1"
                    throttled.set()

    async with anyio.create_task_group() as tg:
        for i in range(8):
            tg.start_soon(send, i % 2 == 1)


async def test_applier_converges_against_real_429s(
    throttling_plane: ControlPlane, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="reconcile.cluster.kubernetes._transport")
    objs: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"c{i:03d}", "namespace": "t"},
            "data": {"i": str(i)},
        }
        for i in range(OBJECTS)
    ]
    seen: dict[int, int] = {}
    async with KubernetesApplier(
        field_manager="throttled",
        kubeconfig=throttling_plane.kubeconfig,
        impersonate=AS,
        concurrency=16,
        retry=RetryPolicy(attempts=10, initial_delay=0.1, max_delay=5.0),
    ) as applier:
        done = anyio.Event()
        began = time.monotonic()
        with anyio.fail_after(90):
            async with anyio.create_task_group() as tg:
                throttled = anyio.Event()
                tg.start_soon(flood, applier, done, throttled, seen)
                await throttled.wait()  # the server refuses the flood before we apply
                results = await applier.apply_all(objs)
                done.set()
        elapsed = time.monotonic() - began
        stats = applier.statistics()

    # The server did throttle, for real: the flood and the applier were both refused.
    assert seen.get(429, 0) > 0, seen
    assert stats["retries"].get("429", 0) > 0, stats
    # ... and the applier converged anyway.
    failed = [r for r in results if r.action is not Action.CREATED]
    assert not failed, failed[:3]
    status, listed = throttling_plane.request("GET", "/api/v1/namespaces/t/configmaps")
    assert status == 200
    assert {o["metadata"]["name"] for o in listed["items"]} >= {o["metadata"]["name"] for o in objs}
    # Every retry after a 429 waited at least the server's Retry-After (1 s), and
    # at most a fifth more (the jitter that keeps refused requests from returning together).
    waits: list[tuple[float, float | None]] = [
        (float(r.args[1]), None if r.args[2] is None else float(r.args[2]))  # type: ignore[arg-type]
        for r in caplog.records
        if isinstance(r.args, tuple) and str(r.msg).startswith("retry %d in")
    ]
    after_429 = [(delay, after) for delay, after in waits if after is not None]
    assert len(after_429) == stats["retries"]["429"], (len(after_429), stats)
    assert all(after == 1.0 and 1.0 <= delay <= 1.2 for delay, after in after_429), after_429
    # Patches were counted once per try: the retries are among the requests sent.
    assert stats["requests"]["patch"] >= OBJECTS
    assert elapsed >= 1.0  # at least one Retry-After was waited out
