"""Transport retries against a real HTTP server on loopback that misbehaves on purpose."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from kubernetes_asyncio import client

from reconcile.cluster.kubernetes import Impersonation, RetryPolicy, Transport
from reconcile.errors import ApplyError, NotFoundError, RetryableError

pytestmark = pytest.mark.anyio


class Script:
    """Per-path answers, consumed in order; the last one repeats."""

    def __init__(self) -> None:
        self.answers: dict[str, list[Any]] = {}
        self.seen: list[tuple[str, dict[str, list[str]]]] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        headers: dict[str, list[str]] = {}
        for key, value in request.headers.items():
            headers.setdefault(key, []).append(value)
        self.seen.append((request.path, headers))
        queue = self.answers[request.path]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if answer == "drop":
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=200)
        status, extra, *reason = answer
        body: dict[str, Any] = {"kind": "Status", "code": status}
        if reason:
            body["reason"] = reason[0]
        return web.json_response(
            body if status >= 400 else {"ok": True},
            status=status,
            headers=extra,
        )


@pytest.fixture
async def server() -> AsyncIterator[tuple[Script, Transport]]:
    script = Script()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", script.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    configuration = client.Configuration(host=f"http://127.0.0.1:{port}")
    api = client.ApiClient(configuration)
    transport = Transport(
        api,
        timeout=5,
        retry=RetryPolicy(attempts=4, initial_delay=0.05, max_delay=2.0),
        impersonate=Impersonation(user="jane", groups=("a", "b")),
    )
    try:
        yield script, transport
    finally:
        await transport.aclose()
        await api.close()
        await runner.cleanup()


async def test_429_honours_retry_after(server: tuple[Script, Transport]) -> None:
    script, transport = server
    script.answers["/api/v1/x"] = [(429, {"Retry-After": "1"}), (200, {})]
    began = time.monotonic()
    response = await transport.request("GET", "/api/v1/x")
    assert response.status == 200
    assert time.monotonic() - began >= 0.95  # asyncio may wake a clock tick early
    assert len(script.seen) == 2
    assert transport.retries == {"429": 1}
    assert 1.0 <= transport.retry_wait <= 1.2  # Retry-After, plus at most a fifth as jitter
    # Impersonation: one header per group, as Kubernetes requires.
    headers = script.seen[0][1]
    assert headers["Impersonate-User"] == ["jane"]
    assert headers["Impersonate-Group"] == ["a", "b"]


async def test_5xx_and_dropped_connections_are_retried(server: tuple[Script, Transport]) -> None:
    script, transport = server
    script.answers["/api/v1/y"] = [(503, {}), "drop", (500, {}, "InternalError"), (200, {})]
    response = await transport.request("GET", "/api/v1/y")
    assert response.status == 200
    # 4 answers consumed (aiohttp itself may resend once on a dropped keep-alive connection).
    assert len(script.seen) >= 4
    assert script.answers["/api/v1/y"] == [(200, {})]
    assert transport.retries["503"] == transport.retries["500"] == 1
    assert transport.retries["connection"] <= 1  # unless aiohttp resent it itself


async def test_a_500_without_a_reason_is_final(server: tuple[Script, Transport]) -> None:
    # What kube-apiserver sends for an apply of an undeclared field: retrying
    # cannot help, so the error comes at once (client-go does not retry it either).
    script, transport = server
    script.answers["/api/v1/v"] = [(500, {}), (200, {})]
    with pytest.raises(ApplyError) as caught:
        await transport.request("GET", "/api/v1/v")
    assert not isinstance(caught.value, RetryableError)
    assert caught.value.status == 500
    assert len(script.seen) == 1
    assert transport.retries == {}


async def test_retries_give_up_with_a_typed_error(server: tuple[Script, Transport]) -> None:
    script, transport = server
    script.answers["/api/v1/z"] = [(503, {})]
    with pytest.raises(RetryableError) as caught:
        await transport.request("GET", "/api/v1/z")
    assert caught.value.status == 503
    assert len(script.seen) == 4
    script.answers["/api/v1/w"] = [(404, {})]
    with pytest.raises(NotFoundError):
        await transport.request("GET", "/api/v1/w")
    assert len(script.seen) == 5  # not retried
